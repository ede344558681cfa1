"""The package's shape: one import name, resources inside the wheel, and core's layer rule."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What core may never import: the app layer and any GUI toolkit.
FORBIDDEN_IN_CORE = ("PySide6", "shiboken6", "pyqtgraph", "labelaudit.gui")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import statement in ``path``, relative ones resolved to labelaudit.core."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = "labelaudit." + ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            else:
                found.append((node.lineno, node.module))
    return found


def layer_violations(folder: Path) -> list[str]:
    """'file:line imports X' for each import of a forbidden module under ``folder``."""
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN_IN_CORE):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return bad


def test_core_never_imports_qt_or_the_app():
    assert layer_violations(REPO / "core") == []


def test_layer_check_catches_a_qt_import(tmp_path, monkeypatch):
    fake = tmp_path / "core" / "scoring"
    fake.mkdir(parents=True)
    (fake / "sneaky.py").write_text(
        "import pyqtgraph as pg\ndef f():\n    from PySide6.QtCore import QTimer\n    from ...gui import app\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert layer_violations(tmp_path / "core") == [
        "core/scoring/sneaky.py:1 imports pyqtgraph",
        "core/scoring/sneaky.py:3 imports PySide6.QtCore",
        "core/scoring/sneaky.py:4 imports labelaudit.gui",
    ]


def test_headless_commands_load_no_qt():
    code = (
        "import sys; from labelaudit.gui.launch import main\n"
        "import labelaudit.core.pipeline, labelaudit.core.export, labelaudit.core.project\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = out.glob("labelaudit-*.whl")
    return path


def test_wheel_holds_one_import_name_and_its_resources(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"labelaudit"}
    for needed in ("labelaudit/resources/style.qss", "labelaudit/resources/labelaudit.svg",
                   "labelaudit/resources/labelaudit.png", "labelaudit/core/cli.py",
                   "labelaudit/core/scoring/probe.py", "labelaudit/gui/launch.py"):
        assert needed in names
    # every module of the checkout is in the wheel (a new subpackage must be declared)
    for folder, package in (("core", "labelaudit/core"), ("gui", "labelaudit/gui")):
        for path in (REPO / folder).rglob("*.py"):
            assert f"{package}/{path.relative_to(REPO / folder).as_posix()}" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "labelaudit = labelaudit.gui.launch:main" in zipfile.ZipFile(wheel).read(entry).decode()
