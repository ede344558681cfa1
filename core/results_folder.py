"""Replace a results folder (``--out``) as one unit: the old complete set or the new one, never a mix.

``replace_results(out_dir, write_fn)`` lets ``write_fn(folder)`` write every file of
a run into a fresh sibling folder ``.OUT.tmp-PID-XXXX`` (same filesystem), fsyncs
the files, writes the manifest :data:`MANIFEST` (format, run id, time, file list)
last, fsyncs the folder and then swaps it with ``OUT``:

* on Linux with one ``renameat2(RENAME_EXCHANGE)`` call (atomic: a reader, a kill
  or a power cut sees the complete old folder or the complete new one);
* elsewhere (or on a filesystem without exchange) by renaming the old folder
  aside, the new one in, and deleting the old one. Between those two renames
  ``OUT`` is briefly missing; a crash in that window leaves the complete old set
  in ``.OUT.old-PID-XXXX`` and the complete new one in ``.OUT.tmp-PID-XXXX``.

Because a fresh folder replaces the old one, files of an earlier run that this run
does not write disappear with it, and a symlink inside ``OUT`` is never written
through. An existing ``OUT`` holding anything but the files its manifest lists
(editor lock files and OS artifacts aside), or holding files and no manifest, is
refused (:class:`InputError`) so a typo cannot wipe a user's folder. An OSError while
writing (a full disk) removes the new folder and raises :class:`OutputError`; the
earlier results stay. Leftover ``.OUT.tmp-PID-*`` folders of killed runs (their
process gone) are removed by the next run.

Written by hand: the standard library offers atomic replacement of a file
(``os.replace``) but not of a non-empty folder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .errors import InputError, OutputError

MANIFEST = ".labelaudit-results.json"
FORMAT = "labelaudit-results"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def replace_results(out_dir, write_fn: Callable[[Path], object], *, kind: str = "audit") -> dict[str, Path]:
    """Run ``write_fn(folder)`` into a fresh folder and swap it in as ``out_dir``.

    write_fn writes its files directly inside ``folder`` (no subfolders) and may
    return anything. Returns {file name: final path} for the files written (the
    manifest not included). Raises InputError when ``out_dir`` is a file, cannot be
    created or is a non-empty folder that is not a labelaudit results folder, and
    OutputError when writing fails (disk full): the old results are then unchanged.
    """
    out = _target(Path(out_dir))
    _check_replaceable(out)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{parent}: cannot create the output folder ({err.strerror})") from None
    _remove_stale(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
            raise InputError(f"{out}: cannot write there ({err.strerror})") from None
        raise OutputError(f"{out}: cannot write the results ({err.strerror}); "
                          "any earlier results there are unchanged") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        write_fn(tmp)
        names = sorted(p.name for p in tmp.iterdir() if p.name != MANIFEST)
        for name in names:
            _fsync_file(tmp / name)
        manifest = {"format": FORMAT, "kind": kind, "run_id": uuid.uuid4().hex,
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": names}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(manifest, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        _swap(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if err.errno in (errno.EXDEV, errno.EBUSY):
            raise InputError(f"{out}: is a mount point (or another disk than {out.parent}), so it cannot be "
                             "replaced as one unit; write the results into a folder inside it") from None
        reason = err.strerror or str(err) or type(err).__name__
        raise OutputError(f"{out}: cannot write the results ({reason}); "
                          "any earlier results there are unchanged") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out / name for name in names}


def read_manifest(folder) -> dict | None:
    """The manifest of a results folder, or None when ``folder`` has no valid one."""
    path = Path(folder) / MANIFEST
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None


def _target(out: Path) -> Path:
    """``out`` as an absolute path; a symlink to a folder is followed once (its target is replaced)."""
    out = Path(os.path.abspath(out))
    if out.is_symlink() and out.is_dir():
        out = Path(os.path.realpath(out))
    return out


def _check_replaceable(out: Path) -> None:
    if out.is_symlink() and not out.exists():
        raise InputError(f"{out}: is a broken symbolic link; choose a folder for the results")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose a folder for the results")
    if not out.is_dir():
        return
    manifest = read_manifest(out)
    entries = [p.name for p in out.iterdir() if not (_artifact(p.name) and p.is_file() and not p.is_symlink())]
    if manifest is None and entries:
        raise InputError(f"{out}: the folder is not empty and holds no labelaudit results ({MANIFEST}); "
                         "choose an empty or new folder so nothing of yours is replaced")
    listed = set(manifest["files"]) if manifest and isinstance(manifest.get("files"), list) else set()
    foreign = sorted(name for name in entries if name != MANIFEST and name not in listed)
    if foreign:
        raise InputError(f"{out}: holds files that are not part of its labelaudit results "
                         f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}); move them out "
                         "or choose another folder so nothing of yours is replaced")


def _artifact(name: str) -> bool:
    """Files an editor or the OS leaves in any folder (lock files of an open flagged.csv,
    .DS_Store, Thumbs.db): they neither make a folder a user's nor survive a replacement."""
    return (name.startswith((".~lock.", "~$", "._")) or name in (".DS_Store", "Thumbs.db", "desktop.ini"))


def _swap(tmp: Path, out: Path) -> None:
    """Put ``tmp`` at ``out``; the old ``out`` (if any) is deleted afterwards."""
    if not out.exists():
        os.rename(tmp, out)  # also replaces an empty folder created meanwhile
        _fsync_dir(out.parent)
        return
    if _exchange(tmp, out):
        _fsync_dir(out.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    os.rename(tmp, out)  # between these two renames ``out`` is missing (see the module docstring)
    _fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # no glibc >= 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the filesystem cannot exchange: use the two-rename fallback
    raise OSError(err, os.strerror(err), str(b))


def _remove_stale(out: Path) -> None:
    """Delete ``.OUT.tmp-PID-*`` / ``.OUT.old-PID-*`` siblings left by runs whose process is gone
    (only while ``out`` itself holds a complete set, so no last copy is removed)."""
    if not out.is_dir():
        return
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-(\d+)-")
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return
    for p in siblings:
        m = pattern.match(p.name)
        if m and p.is_dir() and not p.is_symlink() and not _alive(int(m.group(2))):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
