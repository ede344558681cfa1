"""Every CSV the project writes is safe in a spreadsheet: a seeded fuzz test of the one writer.

Random tables whose cells and headers mix control characters, quotes,
delimiters, formula starts and Unicode line separators are written with
``core.export.write_csv`` and read back with Python's csv module and with
pandas: same rows and columns, what was typed kept (apart from the added
apostrophes), and no physical line of any cell readable as a formula.
"""

from __future__ import annotations

import csv
import math
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelaudit.core import csv_text
from labelaudit.core.export import delimited_text, reference_csv_bytes, write_csv

ROOT = Path(__file__).resolve().parents[1]
BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
PIECES = (BREAKS + ["=", "+", "-", "@", "\t", " ", "\u3000", "\u200b", "\ufeff", "\uff1d", '"', "'", ",", ";", "|",
                    "\x00", "\x01", "\x07", "\x1b[31m", "\x1f", "\x7f", "é", "名", "🙂",
                    "=HYPERLINK(\"http://x\",\"y\")", "=1+1", "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "ok", "12",
                    "3.5", "nan", "None", "TRUE"])
FORMULA_START = set("=+-@\uff1d\uff0b\uff0d\uff20")
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def runs_as_formula(line: str) -> bool:
    """What a spreadsheet would evaluate: a tab/CR start, or a formula character after blanks."""
    if line[:1] in ("\t", "\r"):
        return True
    visible = line.lstrip().lstrip(INVISIBLE).lstrip()
    return visible[:1] in FORMULA_START


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 8)))


def random_table(rng: random.Random) -> pd.DataFrame:
    n_rows, n_text = rng.randint(1, 12), rng.randint(1, 4)
    cols = {}
    for j in range(n_text):
        cols[f"{random_text(rng)}#{j}"] = [random_text(rng) if rng.random() > 0.1 else None for _ in range(n_rows)]
    cols["ints"] = [rng.randint(-5, 5) for _ in range(n_rows)]
    cols["floats"] = [rng.choice([-0.25, 1e-9, float("nan"), 3.0, float("-inf"), float("inf")]) for _ in range(n_rows)]
    return pd.DataFrame(cols)


def assert_kept_and_safe(read: str, typed) -> None:
    """``read`` is ``typed`` with an apostrophe before each line that would run, and nothing else changed."""
    typed = typed if isinstance(typed, str) else ""  # missing (None / NaN) is written blank
    got, want = read.splitlines(keepends=True), typed.splitlines(keepends=True)
    assert len(got) == len(want), (read, typed)
    for g, w in zip(got, want):
        assert g == w or (g == "'" + w and runs_as_formula(w)), (g, w)
        assert not runs_as_formula(g), g


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_round_trip_with_no_formula_cell(tmp_path, seed):
    rng = random.Random(seed)
    df = random_table(rng)
    path = write_csv(df, tmp_path / "t.csv")

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(df) + 1 and all(len(r) == df.shape[1] for r in rows)
    for j, name in enumerate(df.columns):
        assert_kept_and_safe(rows[0][j], name)
        for i in range(len(df)):
            cell, typed = rows[i + 1][j], df.iloc[i, j]
            if name in ("ints", "floats"):  # numbers stay numbers (bare), negative ones too
                if pd.isna(typed):
                    assert cell == ""
                else:
                    assert float(cell.lstrip("'")) == typed
                    # a finite number may start with "-" (a spreadsheet reads it as a number); "-inf" may not
                    assert not runs_as_formula(cell) or math.isfinite(float(cell))
            else:
                assert_kept_and_safe(cell, typed)

    grid = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    assert grid.shape == (len(df) + 1, df.shape[1])
    assert grid.to_numpy().tolist() == rows


@pytest.mark.parametrize("seed", range(12))
def test_bulk_writer_writes_the_reference_bytes(tmp_path, monkeypatch, seed):
    """write_csv formats columns in bulk (core.csv_text); the bytes equal pandas.to_csv of the neutralised
    table, for the fuzz tables and for a table of every column kind, across chunk boundaries and in parts."""
    rng = random.Random(seed)
    fuzz = random_table(rng)
    assert write_csv(fuzz, tmp_path / "f.csv").read_bytes() == reference_csv_bytes(fuzz)

    r = np.random.default_rng(seed)
    n = 2000
    magnitudes = r.random(n) * 10.0 ** r.integers(-20, 20, n) * r.choice([-1, 1], n)
    whole = r.random(n) < 0.05
    magnitudes[whole] = np.round(magnitudes[whole])
    magnitudes[r.integers(0, n, 30)] = r.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e16, 1e-5, 2.0 ** 53], 30)
    texts = np.array([random_text(rng) for _ in range(50)] + [None], dtype=object)
    table = pd.DataFrame({
        "row": np.arange(n, dtype=np.int64) - 5,
        "u8": r.integers(0, 255, n).astype(np.uint8),
        "=flag": r.random(n) < 0.5,
        "prob": r.dirichlet(np.full(3, 0.3), n)[:, 0],
        "float32": r.random(n).astype(np.float32) ** 7,
        "float32 with inf": np.where(np.arange(n) == 7, np.inf, r.random(n)).astype(np.float32),
        "magnitudes": magnitudes,
        "finite": np.where(np.isfinite(magnitudes), magnitudes, 0.5),
        "label": pd.Categorical.from_codes(r.integers(-1, 3, n), ["cat", "=dog", "-1"]),
        "number categories": pd.Categorical.from_codes(r.integers(0, 2, n), [-2.5, 1.0]),
        "inf category": pd.Categorical.from_codes(r.integers(0, 2, n), [-2.5, float("inf")]),
        "ints or missing": np.array([1, None, -3], dtype=object)[r.integers(0, 3, n)],
        "text": texts[r.integers(0, len(texts), n)],
        "mixed": np.array(["a", 3, -1.5, True, None, float("nan"), "-x", 2 ** 70], dtype=object)[r.integers(0, 8, n)],
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(r.integers(0, 10**6, n), unit="s"),
    })
    want = reference_csv_bytes(table)
    assert write_csv(table, tmp_path / "t.csv").read_bytes() == want
    monkeypatch.setattr(csv_text, "ROWS_PER_CHUNK", 999)
    assert write_csv(table, tmp_path / "c.csv").read_bytes() == want
    assert len(list(csv_text.frame_csv_chunks(table))) == 4  # header and 3 parts: streamed, not one to_csv
    steady = table.drop(columns="float32 with inf")  # a part without the inf would keep float32 digits
    parts = [steady.iloc[a: a + 700] for a in range(0, n, 700)]
    assert write_csv(iter(parts), tmp_path / "p.csv").read_bytes() == reference_csv_bytes(steady)
    with_nullable = table.assign(nullable=pd.array(r.integers(-3, 3, n), dtype="Int64"))  # left to pandas itself
    assert write_csv(with_nullable, tmp_path / "n.csv").read_bytes() == reference_csv_bytes(with_nullable)
    assert write_csv(table.iloc[:0], tmp_path / "e.csv").read_bytes() == reference_csv_bytes(table.iloc[:0])


def test_bulk_writer_neutralises_after_every_kind_of_blank(tmp_path):
    """Cells of every whitespace character (what a formula may hide behind), breaks and formula starts:
    the bulk writer finds the cells to neutralise with its own pattern and writes the reference bytes."""
    blanks = [c for c in map(chr, range(0x3001)) if c.isspace()] + list("\u200b\u200c\u200d\u2060\ufeff")
    pieces = PIECES + blanks + ["\uff0b", "\uff0d", "\uff20", "a-b", "x=y"]
    rng = random.Random(7)
    table = pd.DataFrame({"cell": ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 5))) for _ in range(20_000)]})
    assert write_csv(table, tmp_path / "b.csv").read_bytes() == reference_csv_bytes(table)


def test_text_is_quoted_and_numbers_are_bare(tmp_path):
    path = write_csv(pd.DataFrame({"t": ["a,b", "ok\r=HYPERLINK(\"http://evil\")"], "n": [-2, 7]}), tmp_path / "q.csv")
    raw = path.read_bytes().decode("utf-8")
    assert raw.splitlines()[1] == '"a,b",-2'
    assert '"ok\r\'=HYPERLINK(""http://evil"")",7' in raw
    back = pd.read_csv(path)
    assert back["n"].tolist() == [-2, 7] and back["t"][1] == "ok\r'=HYPERLINK(\"http://evil\")"


def test_rows_form_writes_the_same_safety(tmp_path):
    rows = [["=id", "score"], ["x\u2028@evil", -1.5], [None, 3]]
    with open(write_csv(rows, tmp_path / "r.csv"), newline="", encoding="utf-8") as fh:
        back = list(csv.reader(fh))
    assert back == [["'=id", "score"], ["x\u2028'@evil", "-1.5"], ["", "3"]]


@pytest.mark.parametrize("seed", range(20))
def test_clipboard_text_pastes_as_one_safe_line_per_row(seed):
    rng = random.Random(1000 + seed)
    rows = [[random_text(rng) for _ in range(4)] + [rng.randint(-3, 3)] for _ in range(3)]
    text = delimited_text(rows)
    assert len(text.split("\n")) == 3 and not any(b in text for b in BREAKS if b != "\n")
    back = list(csv.reader(text.split("\n"), delimiter="\t"))
    assert [len(r) for r in back] == [5, 5, 5]
    for r in back:
        assert not any(runs_as_formula(cell) for cell in r), r
    assert [r[4] for r in back] == [str(row[4]) if row[4] >= 0 else "'" + str(row[4]) for row in rows]


def test_every_csv_the_project_writes_goes_through_the_one_writer():
    """No module but core/export.py writes CSV by itself (to_csv, csv.writer, DictWriter)."""
    offenders = []
    for folder in ("core", "gui", "benchmarks", "scripts"):
        for py in (ROOT / folder).rglob("*.py"):
            if py == ROOT / "core" / "export.py":
                continue
            if re.search(r"\.to_csv\(|csv\.(writer|DictWriter)\(", py.read_text(encoding="utf-8")):
                offenders.append(str(py.relative_to(ROOT)))
    assert offenders == []
