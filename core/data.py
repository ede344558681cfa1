"""Read a labelled dataset: a table, a ``.npy`` of labels, or a folder of images.

Every user mistake raises :class:`~core.errors.InputError` with one line that
starts with the file (or folder) as given and names the column, row or line.

Row numbers: ``row N`` is the 0-based index of a data row (header excluded),
the same number as the ``row`` column of the output files. CSV/TSV parse errors
say ``line L``, the 1-based line of the file as a text editor shows it.

Labels: the given labels become ``int64`` indices into ``class_names``.

* Without a class list: string labels give sorted unique names (numerically
  sorted when all are whole numbers); whole-number labels that include 0 are
  class indices, named ``"0"`` .. ``str(max)``; other whole numbers (e.g. 1..5,
  or -1/1) map to their sorted unique values.
* With a class list (a file with one name per line, or a list): if every class
  name is a whole number, labels are matched to names by value; otherwise
  whole-number labels are indices in ``[0, k)`` and string labels must be names.

Whole numbers may arrive as ints, integral floats or digit strings.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from .errors import InputError, reading
from .validation import check_label_array

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson")

# Column names by preference: a name in an earlier tier beats a later one;
# two columns in the best tier found are ambiguous (an error for the label, no choice for text).
_LABEL_TIERS = (
    ("given_label", "noisy_label", "observed_label"),
    ("label", "labels"),
    ("target", "targets", "class", "y", "class_label", "label_id", "label_idx", "class_id",
     "gold_label", "gold"),
    ("category", "sentiment", "class_name", "label_name", "label_text", "emotion", "intent",
     "topic", "polarity", "stance", "tag"),
)
_TEXT_TIERS = (
    ("text", "texts"),
    ("sentence", "review", "content", "document", "body", "comment", "utterance", "tweet",
     "question", "message", "passage", "abstract"),
    ("title", "description", "summary", "headline", "caption", "prompt", "input"),
)
_IMAGE_STRONG = ("image", "images", "image_path", "img", "img_path", "image_file", "image_filename",
                 "imagepath")
_IMAGE_WEAK = ("path", "file", "filepath", "file_path", "filename", "file_name")  # need image-like values
_ID_NAMES = ("id", "uid", "uuid", "guid", "example_id", "sample_id", "idx", "index", "row_id", "key",
             "image_id", "doc_id", "item_id", "record_id")

_INT_STRING = r"[+-]?\d{1,18}"  # fits int64

# Bounds checked before anything is allocated by a number read from a file.
MAX_JSON_DEPTH = 100            # nesting levels of a JSON value (a JSONL line, mturk.json, config.json)
MIN_CLASS_BOUND = 1_000         # whole-number labels name classes 0..max only while max < max(this, rows)
MAX_IMAGE_PIXELS = 89_478_485   # Pillow's own default: larger images are refused as decompression bombs
MAX_CELLS_PER_BYTE = 1_000      # a Parquet file may claim at most this many cells per byte (plus PARQUET_SLACK)
PARQUET_SLACK = 1_000_000
PARQUET_SLACK_BYTES = 256 * 1024**2  # decompressed bytes always allowed


@dataclass
class Dataset:
    """A loaded dataset.

    table: the rows in file order, index 0..n-1 (for a ``.npy`` of labels one column
      ``"label"``; for an image folder columns ``"image"`` and ``"label"``).
    labels: int64 (n,), the given label of each row as an index into ``class_names``.
    source: the path as given. root: the folder relative image paths are resolved against.
    """

    table: pd.DataFrame
    labels: np.ndarray
    class_names: list[str]
    source: str
    label_col: str | None = None
    text_col: str | None = None
    image_col: str | None = None
    id_col: str | None = None
    root: Path | None = None

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def ids(self) -> np.ndarray:
        """The id column's values, or ``np.arange(n)`` when there is none."""
        if self.id_col is None:
            return np.arange(self.n)
        return self.table[self.id_col].to_numpy()

    def texts(self) -> list[str]:
        """The text column as strings (missing cells become ``""``)."""
        if self.text_col is None:
            raise InputError(
                f"{self.source}: no text column chosen (columns: {_col_list(self.table)}); pass --text-col"
            )
        return ["" if _is_missing(v) else str(v) for v in self.table[self.text_col].tolist()]

    def texts_to_score(self) -> list[str]:
        """:meth:`texts`, for a model to score: InputError when every one is blank."""
        texts = self.texts()
        if not any(t.strip() for t in texts):
            raise InputError(f"{self.source}: every text in column {self.text_col!r} is blank; no text to score")
        return texts

    def image_paths(self) -> list[Path]:
        """The image column as paths, relative ones resolved against ``root``."""
        if self.image_col is None:
            raise InputError(
                f"{self.source}: no image column chosen (columns: {_col_list(self.table)}); pass --image-col"
            )
        root = self.root if self.root is not None else Path(".")
        return [_resolve(root, v) for v in self.table[self.image_col].tolist()]


def load_dataset(path, *, label_col=None, text_col=None, image_col=None, id_col=None,
                 classes=None) -> Dataset:
    """Load ``path`` (a csv/tsv/parquet/jsonl table, a ``.npy`` of integer labels, or a
    folder with one subfolder of images per class) into a :class:`Dataset`.

    Column arguments override auto-detection (see :func:`detect_columns`). ``classes``
    is None, a path to a file with one class name per line, or a list of names.
    Raises InputError for any problem with the files, columns or labels.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{source}: no such file or folder")
    class_list, classes_source = _class_list(classes)
    with reading(source):
        return _load(p, source, label_col, text_col, image_col, id_col, class_list, classes_source)


def _load(p: Path, source: str, label_col, text_col, image_col, id_col, class_list, classes_source) -> Dataset:
    if p.is_dir():
        return _load_image_folder(p, source, class_list, classes_source)
    if p.suffix.lower() == ".npy":
        raw = _load_label_array(p, source)
        labels, names = _encode_labels(pd.Series(raw), source, "label", class_list, classes_source)
        return Dataset(pd.DataFrame({"label": raw}), labels, names, source, label_col="label",
                       root=p.resolve().parent)
    table = read_table(p)
    cols = detect_columns(table, label_col=label_col, text_col=text_col, image_col=image_col,
                          id_col=id_col, source=source)
    if cols["label_col"] is None:
        raise InputError(f"{source}: no label column found (columns: {_col_list(table)}); pass --label-col")
    labels, names = _encode_labels(table[cols["label_col"]], source, cols["label_col"], class_list,
                                   classes_source)
    root = p.resolve().parent
    if cols["image_col"] is not None:
        _check_images_exist(table[cols["image_col"]], root, source, cols["image_col"])
    return Dataset(table, labels, names, source, root=root, **cols)


def read_classes(path) -> list[str]:
    """Class names from a UTF-8 text file, one per line (blank lines skipped, spaces stripped)."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{source}: no such class-names file")
    names, first_line = [], {}
    for lineno, line in enumerate(read_text(p, source).splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in first_line:
            raise InputError(f"{source}: line {lineno}: duplicate class name {name!r} "
                             f"(also on line {first_line[name]})")
        first_line[name] = lineno
        names.append(name)
    if not names:
        raise InputError(f"{source}: no class names in the file (expected one name per line)")
    return names


def read_table(path) -> pd.DataFrame:
    """Read a csv, tsv (also ``.tab``, or ``.txt`` with tabs), parquet or jsonl file.

    Returns its rows in file order with index 0..n-1. Only empty cells count as
    missing (``"NA"`` or ``"None"`` stay text). Empty files, header-only files,
    non-UTF-8 text, ragged rows and malformed JSON lines raise InputError.
    """
    source = str(path)
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{source}: is a folder, not a table")
    if not p.is_file():
        raise InputError(f"{source}: no such file")
    ext = p.suffix.lower()
    if ext not in TABLE_EXTENSIONS:
        raise InputError(f"{source}: unsupported file type {ext or '(none)'!r}; "
                         f"use csv, tsv, parquet, jsonl, or a .npy of labels")
    if p.stat().st_size == 0:
        raise InputError(f"{source}: the file is empty")
    with reading(source):
        if ext in (".parquet", ".pq"):
            df = _read_parquet(p, source)
        elif ext in (".jsonl", ".ndjson"):
            df = _read_jsonl(p, source)
        else:
            text = read_text(p, source)
            if ext == ".txt":
                sep = "\t" if "\t" in text.split("\n", 1)[0] else ","
            else:
                sep = "," if ext == ".csv" else "\t"
            df = read_delimited(text, source, sep)
    if len(df) == 0:
        raise InputError(f"{source}: the table has no rows")
    return df.reset_index(drop=True)


def detect_columns(df, label_col=None, text_col=None, image_col=None, id_col=None, source="") -> dict:
    """Choose the label, text, image and id columns of ``df``.

    Given names are used as they are (a case-insensitive match is accepted when it is
    unique); a name that is not a column raises InputError listing the columns. The rest
    are found by column name (``label``, ``target``, ``class``...; ``text``,
    ``sentence``, ``review``...; ``image``, ``image_path``...; ``id``, ``uid``...), an image
    column also by values ending in an image extension, and the text column, when no
    name matches and there is no image column, as the longest string column holding
    sentences. Two equally good label columns raise InputError asking for --label-col;
    two equally good text or image columns leave that role None (the step that needs
    it then asks for the option). Returns ``dict(label_col=, text_col=, image_col=,
    id_col=)``, None where nothing fits.
    """
    given = {"label_col": label_col, "text_col": text_col, "image_col": image_col, "id_col": id_col}
    out = {k: (_find_column(df, v, source) if v is not None else None) for k, v in given.items()}
    chosen = [v for v in out.values() if v is not None]
    if len(set(chosen)) < len(chosen):
        dup = next(v for v in chosen if chosen.count(v) > 1)
        roles = [k.removesuffix("_col") for k, v in out.items() if v == dup]
        raise InputError(f"{source}: column {dup!r} cannot be both the {' and the '.join(roles)} column")
    norm = {c: _norm(c) for c in df.columns}

    def free():
        return [c for c in df.columns if c not in out.values()]

    if out["label_col"] is None:
        hits = _by_tiers(free(), norm, _LABEL_TIERS)
        if len(hits) > 1:
            raise InputError(f"{source}: more than one possible label column "
                             f"({', '.join(map(repr, hits))}); pass --label-col")
        out["label_col"] = hits[0] if hits else None
        only = df.columns[0]
        if out["label_col"] is None and len(df.columns) == 1 and not chosen and not _longest_text(df, [only]):
            out["label_col"] = only
    if out["image_col"] is None:
        out["image_col"] = _detect_image(df, free(), norm)
    if out["id_col"] is None:
        ids = [c for name in _ID_NAMES for c in free() if norm[c] == name]
        out["id_col"] = ids[0] if ids else None
    if out["text_col"] is None:
        cands = [c for c in free() if not ptypes.is_numeric_dtype(df[c]) and not ptypes.is_bool_dtype(df[c])]
        empty = [c for c in free() if c not in cands and df[c].isna().all()]  # named "text" but all blank
        hits = _by_tiers(cands, norm, _TEXT_TIERS) or _by_tiers(empty, norm, _TEXT_TIERS)
        if len(hits) == 1:
            out["text_col"] = hits[0]
        elif not hits and out["image_col"] is None:
            out["text_col"] = _longest_text(df, cands)
    return out


# ----------------------------------------------------------------------------- reading


def read_text(p: Path, source: str) -> str:
    """The file's text; InputError naming the byte offset and line if it is not UTF-8."""
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{source}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}, "
                         f"line {line}); save the file as UTF-8") from None


def read_delimited(text: str, source: str, sep: str, *, header: bool = True) -> pd.DataFrame:
    """Parse csv/tsv ``text`` (with a header row unless ``header=False``). A row with more
    fields than the header (or the first row) raises InputError naming its line. Only
    empty cells are missing values."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(text), sep=sep, header=0 if header else None, index_col=False,
                               on_bad_lines="error", keep_default_na=False, na_values=[""],
                               low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{source}: the file is empty") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
        raise InputError(_ragged_message(text, source, sep, header, e)) from None


def _ragged_message(text: str, source: str, sep: str, header: bool, err: Exception) -> str:
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    first = "the header" if header else "the first row"
    try:
        records = (r for r in reader if r)
        width = len(next(records))
        row = 0 if header else 1
        for record in records:
            if len(record) > width:
                return (f"{source}: line {reader.line_num} (row {row}) has {len(record)} fields "
                        f"but {first} has {width}")
            row += 1
    except csv.Error as e:
        return f"{source}: line {reader.line_num}: cannot parse ({e})"
    except StopIteration:
        pass
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
    if m:
        return f"{source}: line {m.group(2)} has {m.group(3)} fields but {first} has {m.group(1)}"
    return f"{source}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'} ({str(err).strip()})"


def check_parquet_size(p: Path, source: str) -> None:
    """Refuse a Parquet file whose metadata claims more rows than it can plausibly hold
    (a damaged or hostile footer), before anything is read by those counts."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(p)
    except Exception as e:  # pyarrow raises several types for a damaged or foreign file
        raise InputError(f"{source}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    rows, cols, size = meta.num_rows, meta.num_columns, p.stat().st_size
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if rows < 0 or any(g < 0 for g in groups) or sum(groups) != rows:
        raise InputError(f"{source}: damaged Parquet metadata (row count {rows:,} does not match its row groups)")
    if rows * max(cols, 1) > MAX_CELLS_PER_BYTE * size + PARQUET_SLACK:
        raise InputError(f"{source}: Parquet metadata claims {rows:,} rows x {cols:,} columns, more than a "
                         f"{size:,}-byte file can hold; the file is damaged")
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if unpacked > MAX_CELLS_PER_BYTE * size + PARQUET_SLACK_BYTES:
        raise InputError(f"{source}: Parquet metadata claims {unpacked:,} bytes once decompressed, over "
                         f"{MAX_CELLS_PER_BYTE:,} times the {size:,}-byte file; refused as a decompression bomb")


def _read_parquet(p: Path, source: str) -> pd.DataFrame:
    check_parquet_size(p, source)
    try:
        df = pd.read_parquet(p)
    except Exception as e:  # pyarrow raises several types for a damaged or foreign file
        raise InputError(f"{source}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
        df = df.reset_index()
    return df


def json_depth_over(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON ``text`` nests arrays/objects more than ``limit`` deep (strings skipped).
    Checked on the text, before parsing, so a hostile file never reaches a recursive parser."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > limit:
                return True
        elif tok in "]}":
            depth -= 1
    return False


def json_cell(text: str):
    """The JSON value of a table cell that starts with '[' (nesting bounded before parsing, like
    every JSON reader here). ValueError when it is not valid JSON or nests too deeply; callers
    word the error for their column."""
    if json_depth_over(text):
        raise ValueError("nested too deeply")
    return json.loads(text)


def parse_json(text: str, where: str):
    """``json.loads(text)`` for a value read from a file; ``where`` ("FILE: line 3") starts every
    InputError: invalid JSON, or nesting deeper than MAX_JSON_DEPTH."""
    if json_depth_over(text):
        raise InputError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep; not loaded")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        raise InputError(f"{where}: not valid JSON ({e.msg} at {at})") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply; not loaded") from None


def read_json(path, source: str | None = None):
    """The JSON value in the UTF-8 file ``path`` (mturk.json, a model's config.json), bounded as
    :func:`parse_json`; InputError naming the file for anything unreadable."""
    p = Path(path)
    source = source or str(path)
    try:
        text = read_text(p, source)
    except OSError as e:
        raise InputError(f"{source}: cannot read ({e.strerror or e})") from None
    return parse_json(text, source)


def _read_jsonl(p: Path, source: str) -> pd.DataFrame:
    """One JSON object per line. Lines end at ``\\n`` only: U+2028, U+0085 or a form feed
    inside a string is valid JSON, not a line break."""
    records = []
    for lineno, line in enumerate(read_text(p, source).split("\n"), start=1):
        if not line.strip():
            continue
        rec = parse_json(line, f"{source}: line {lineno}")
        if not isinstance(rec, dict):
            raise InputError(f"{source}: line {lineno}: expected a JSON object per line, "
                             f"got {type(rec).__name__}")
        records.append(rec)
    if not records:
        raise InputError(f"{source}: the file has no JSON lines")
    return pd.DataFrame.from_records(records)


def read_npy(p: Path, source: str, what: str) -> np.ndarray:
    """Load a ``.npy`` array without pickle; InputError for other files and object arrays.
    ``what`` ("labels", "predictions") words the hint."""
    check_npy_header(p, source, what)
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise InputError(f"{source}: holds Python objects (pickle), which are not loaded for "
                             f"safety; save the {what} as a numeric array") from None
        raise InputError(f"{source}: not a readable .npy file ({e})") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{source}: not a readable .npy file ({e})") from None


def check_npy_header(p: Path, source: str, what: str) -> None:
    """Read the ``.npy`` header (numpy.lib.format) and check that the data it announces is in
    the file: a small file claiming a huge shape is refused before np.load allocates it."""
    from numpy.lib import format as npformat

    readers = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}
    with open(p, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{source}: not a .npy file (it lacks the NumPy header)")
        fh.seek(0)
        try:
            version = npformat.read_magic(fh)
            if version not in readers:
                raise ValueError(f"unsupported format version {version[0]}.{version[1]}")
            shape, _, dtype = readers[version](fh)
        except ValueError as e:
            raise InputError(f"{source}: not a readable .npy file ({e})") from None
        data_bytes = p.stat().st_size - fh.tell()
    if dtype.hasobject:
        raise InputError(f"{source}: holds Python objects (pickle), which are not loaded for "
                         f"safety; save the {what} as a numeric array")
    needed = math.prod(shape) * dtype.itemsize
    if needed > data_bytes:
        raise InputError(f"{source}: the header announces shape {tuple(shape)} of {dtype} ({needed:,} bytes) "
                         f"but the file holds {data_bytes:,} bytes of data; the file is truncated or damaged")


def _load_label_array(p: Path, source: str) -> np.ndarray:
    return check_label_array(read_npy(p, source, "labels"), source)


# ----------------------------------------------------------------------------- image folders


def _load_image_folder(folder: Path, source: str, class_list, classes_source) -> Dataset:
    paths, folder_labels = [], []
    for sub in sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))):
        images = sorted(f for f in sub.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file())
        paths += [f.relative_to(folder).as_posix() for f in images]
        folder_labels += [sub.name] * len(images)
    if not paths:
        raise InputError(f"{source}: no class subfolders with images ({', '.join(IMAGE_EXTENSIONS)}); "
                         f"expected {source}/<class>/<image>")
    table = pd.DataFrame({"image": paths, "label": folder_labels})
    if class_list is None:
        class_list, classes_source = sorted(set(folder_labels)), None
    known = set(class_list)
    for i, name in enumerate(folder_labels):
        if name not in known:
            raise InputError(f"{source}: row {i}: folder {name!r} ({paths[i]}) is not one of the classes "
                             f"in {classes_source} ({_preview(class_list)})")
    index = {name: i for i, name in enumerate(class_list)}
    labels = np.fromiter((index[name] for name in folder_labels), dtype=np.int64, count=len(paths))
    return Dataset(table, labels, list(class_list), source, label_col="label", image_col="image",
                   root=folder.resolve())


def read_image(path, mode: str, where: str = ""):
    """Decode the image at ``path`` and convert it to PIL ``mode`` ("L", "RGB").

    Images over MAX_IMAGE_PIXELS (a decompression bomb: a small file that decodes to
    gigabytes) are refused from the header, before decoding. Any unreadable image
    raises InputError starting with ``where`` (e.g. "data.csv: row 3: ").
    """
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                return im.convert(mode)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InputError(f"{where}image {path} is larger than {MAX_IMAGE_PIXELS:,} pixels "
                             f"(a possible decompression bomb); not decoded") from None
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, MemoryError) as err:
            reason = next(iter(str(err).strip().splitlines()), "") or type(err).__name__
            raise InputError(f"{where}cannot read image {path} ({reason})") from None


def _check_images_exist(col: pd.Series, root: Path, source: str, name: str) -> None:
    seen = set()
    for i, v in enumerate(col.tolist()):
        if _is_missing(v) or (isinstance(v, str) and not v.strip()):
            raise InputError(f"{source}: row {i}: empty image path in column {name!r}")
        if not isinstance(v, str):
            raise InputError(f"{source}: row {i}: column {name!r} holds {type(v).__name__}, not an image path")
        if v in seen:
            continue
        seen.add(v)
        if not _resolve(root, v).is_file():
            raise InputError(f"{source}: row {i}: image {v!r} not found (relative paths are "
                             f"resolved against {root})")


def _resolve(root: Path, value) -> Path:
    p = Path(str(value))
    return p if p.is_absolute() else root / p


# ----------------------------------------------------------------------------- columns


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _col_list(df: pd.DataFrame, limit: int = 20) -> str:
    cols = [str(c) for c in df.columns]
    more = f", ... ({len(cols)} in all)" if len(cols) > limit else ""
    return ", ".join(cols[:limit]) + more


def _find_column(df: pd.DataFrame, name, source: str):
    if name in df.columns:
        return name
    folded = [c for c in df.columns if str(c).lower() == str(name).lower()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(f"{source}: no column {str(name)!r} (columns: {_col_list(df)})")


def _by_tiers(columns, norm, tiers) -> list:
    """The columns whose name is in the first tier that has any (more than one: ambiguous)."""
    for tier in tiers:
        hits = [c for c in columns if norm[c] in tier]
        if hits:
            return hits
    return []


def _image_like(series: pd.Series) -> bool:
    values = series.dropna()
    if len(values) == 0 or not all(isinstance(v, str) for v in values.head(1000)):
        return False
    return bool(values.astype(str).str.lower().str.strip().str.endswith(IMAGE_EXTENSIONS).all())


def _detect_image(df, columns, norm):
    strong = [c for c in columns if norm[c] in _IMAGE_STRONG and _holds_strings(df[c])]
    if strong:
        return strong[0] if len(strong) == 1 else None
    by_value = [c for c in columns if _holds_strings(df[c]) and _image_like(df[c])]
    hits = [c for c in by_value if norm[c] in _IMAGE_WEAK] or by_value
    return hits[0] if len(hits) == 1 else None


def _holds_strings(series: pd.Series) -> bool:
    if ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
        return False
    values = series.dropna().head(1000)
    return len(values) > 0 and all(isinstance(v, str) for v in values)


def _longest_text(df, columns):
    best, best_len = None, 0.0
    for c in columns:
        if not _holds_strings(df[c]):
            continue
        values = df[c].dropna().astype(str)
        values = values[values.str.strip() != ""]
        if len(values) == 0:
            continue
        mean_len = float(values.str.len().mean())
        sentence_like = mean_len >= 20 or float(values.str.contains(r"\s", regex=True).mean()) >= 0.5
        if sentence_like and mean_len > best_len:
            best, best_len = c, mean_len
    return best


# ----------------------------------------------------------------------------- labels


def _class_list(classes):
    if classes is None:
        return None, None
    if isinstance(classes, (str, Path)):
        return read_classes(classes), str(classes)
    names = [str(c).strip() for c in classes]
    if not names:
        raise InputError("the class list is empty")
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"the class list names {name!r} twice")
        seen.add(name)
    return names, "the class list"


def _is_missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _unique_ints(ints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(ints, return_inverse=True) of non-empty integer labels; labels spanning at most 4 values per
    row (the usual case: class indices) go through a bincount lookup table instead of a sort, O(n) and without
    the 0.3 s hold of the GIL np.unique's sort takes at 10M rows (a stall of the window that opens a project)."""
    lo, hi = (int(ints.min()), int(ints.max())) if len(ints) else (0, 1 << 62)
    if hi - lo > 4 * len(ints) + 1024:
        return np.unique(ints, return_inverse=True)
    present = np.bincount(ints - lo if lo else ints, minlength=hi - lo + 1) > 0
    code = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(ints.dtype) + lo, code[ints - lo if lo else ints]


def _encode_labels(col: pd.Series, source: str, name: str, class_list, classes_source):
    """Return (int64 indices, class names) for a label column; see the module docstring."""
    col = col.reset_index(drop=True)
    if col.dtype == object:
        nested = np.flatnonzero(col.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))).to_numpy())
        if len(nested):
            r = int(nested[0])
            if isinstance(col.iloc[r], dict):
                raise InputError(f"{source}: row {r}: the label in column {name!r} is an object, not a class")
            raise InputError(f"{source}: row {r}: the label in column {name!r} is a list, not one class (for several "
                             f"classes per example use --multi-label, in the window 'Several classes per example')")
    if ptypes.is_bool_dtype(col):  # True/False labels keep their names (classes "False", "True")
        col = col.astype(object).map(lambda v: v if _is_missing(v) else str(bool(v)))
    missing = col.isna().to_numpy().copy()
    strings = None
    if not (ptypes.is_numeric_dtype(col) or ptypes.is_bool_dtype(col)):
        strings = col.astype(object).where(~missing, "").map(lambda v: str(v).strip())
        missing |= (strings == "").to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(f"{source}: row {row}: missing label in column {name!r}")

    ints = _as_ints(col, strings, source, name)
    if ints is None:  # string labels
        values = strings.to_numpy(dtype=object)
        if class_list is None:
            class_list = sorted(set(values))
        codes = pd.Index(class_list).get_indexer(values).astype(np.int64)
        bad = np.flatnonzero(codes < 0)
        if len(bad):
            r = int(bad[0])
            raise InputError(f"{source}: row {r}: label {values[r]!r} in column {name!r} is not one of the "
                             f"{len(class_list)} classes in {classes_source} ({_preview(class_list)})")
        return codes, list(class_list)

    uniq, inverse = _unique_ints(ints)
    if class_list is None:
        if uniq[0] == 0:
            bound = max(MIN_CLASS_BOUND, len(ints))
            if uniq[-1] >= bound:
                r = int(np.argmax(ints == uniq[-1]))
                raise InputError(f"{source}: row {r}: label {int(uniq[-1]):,} in column {name!r} would make "
                                 f"{int(uniq[-1]) + 1:,} classes for {len(ints):,} rows; class indices must be "
                                 f"below {bound:,} (pass --classes FILE to name the classes)")
            return ints, [str(i) for i in range(int(uniq[-1]) + 1)]
        return inverse.astype(np.int64), [str(v) for v in uniq]
    k = len(class_list)
    if all(re.fullmatch(_INT_STRING, c) for c in class_list):
        by_value = {int(c): i for i, c in enumerate(class_list)}
        mapped = np.array([by_value.get(int(v), -1) for v in uniq], dtype=np.int64)
        codes = mapped[inverse]
        bad = np.flatnonzero(codes < 0)
        if len(bad):
            r = int(bad[0])
            raise InputError(f"{source}: row {r}: label {int(ints[r])} in column {name!r} is not one of the "
                             f"{k} classes in {classes_source} ({_preview(class_list)})")
        return codes, list(class_list)
    bad = np.flatnonzero((ints < 0) | (ints >= k))
    if len(bad):
        r = int(bad[0])
        raise InputError(f"{source}: row {r}: label {int(ints[r])} in column {name!r} is out of range for "
                         f"the {k} classes in {classes_source} (expected 0..{k - 1})")
    return ints, list(class_list)


def _as_ints(col: pd.Series, strings, source: str, name: str):
    """int64 labels if the column holds whole numbers (ints, integral floats, digit strings), else None.
    ``strings``: the stripped cells of a non-numeric column."""
    if ptypes.is_unsigned_integer_dtype(col) and len(col) and int(col.max()) > np.iinfo(np.int64).max:
        r = int(np.argmax(col.to_numpy() > np.iinfo(np.int64).max))
        raise InputError(f"{source}: row {r}: label {int(col.iloc[r])} in column {name!r} is too large for a class index")
    if ptypes.is_bool_dtype(col) or ptypes.is_integer_dtype(col):
        return col.to_numpy(dtype=np.int64)
    if ptypes.is_float_dtype(col):
        values = col.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(bad):
            r = int(bad[0])
            raise InputError(f"{source}: row {r}: label {values[r]:g} in column {name!r} is not a whole number")
        huge = np.flatnonzero(np.abs(values) >= 2.0 ** 62)
        if len(huge):
            r = int(huge[0])
            raise InputError(f"{source}: row {r}: label {values[r]:g} in column {name!r} is too large for a class index")
        return values.astype(np.int64)
    if ptypes.is_numeric_dtype(col):
        raise InputError(f"{source}: column {name!r} has dtype {col.dtype}, not class labels")
    if strings.str.fullmatch(_INT_STRING).all():
        return strings.astype(np.int64).to_numpy()
    return None


def _preview(names, limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
