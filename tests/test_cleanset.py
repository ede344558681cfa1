"""Exporting a review: the cleanset (original table + corrected labels) and the decisions log."""

import pandas as pd
import pytest

from labelaudit.core.cleanset import export_cleanset, export_decisions, export_project
from labelaudit.core.errors import InputError
from helpers.project_factory import CLASSES, FORMULA_TEXTS, make_project


@pytest.fixture
def reviewed(tmp_path):
    """A project with one decision of each kind on the five worst flagged rows."""
    project = make_project(tmp_path)
    ex = project.load_results()[0]
    q = ex[ex.is_label_issue].sort_values("label_quality").row.tolist()
    other = next(c for c in range(4) if c not in (ex.given_label[q[2]], ex.suggested_label[q[2]]))
    project.decide(q[0], "keep", reviewer="ana")
    project.decide(q[1], "accept", reviewer="ana", note="=clearly a " + CLASSES[ex.suggested_label[q[1]]])
    project.decide(q[2], "relabel", label=other, reviewer="ana")
    project.decide(q[3], "exclude", reviewer="ana")
    project.decide(q[4], "unsure", reviewer="ana")
    project.close()
    return tmp_path / "audit.labelaudit", ex, q, other


def test_cleanset_csv_has_the_original_rows_and_corrected_labels(reviewed, tmp_path):
    path, ex, q, other = reviewed
    paths = export_project(path, cleanset=tmp_path / "clean.csv")
    assert paths == {"cleanset": tmp_path / "clean.csv"}
    original = pd.read_csv(tmp_path / "data.csv", keep_default_na=False)
    clean = pd.read_csv(tmp_path / "clean.csv", keep_default_na=False)
    assert list(clean.columns) == ["id", "text", "label", "given_label", "corrected_label", "decision"]
    assert len(clean) == len(original) == 300
    assert clean["id"].tolist() == original["id"].tolist()
    assert clean["label"].tolist() == clean["given_label"].tolist() == original["label"].tolist()
    names = CLASSES
    assert clean.corrected_label[q[0]] == names[ex.given_label[q[0]]] and clean.decision[q[0]] == "keep"
    assert clean.corrected_label[q[1]] == names[ex.suggested_label[q[1]]] and clean.decision[q[1]] == "accept"
    assert clean.corrected_label[q[2]] == names[other] and clean.decision[q[2]] == "relabel"
    assert clean.corrected_label[q[3]] == "" and clean.decision[q[3]] == "exclude"
    assert clean.corrected_label[q[4]] == names[ex.given_label[q[4]]] and clean.decision[q[4]] == "unsure"
    untouched = ~clean.index.isin(q[:5])
    assert (clean.decision[untouched] == "").all()
    assert (clean.corrected_label[untouched] == clean.given_label[untouched]).all()
    assert (clean.corrected_label != clean.given_label).sum() == 3  # accept, relabel, exclude


def test_csv_cells_cannot_run_as_formulas_but_parquet_keeps_them(reviewed, tmp_path):
    path, *_ = reviewed
    export_cleanset(path, tmp_path / "clean.csv")
    export_cleanset(path, tmp_path / "clean.parquet")
    csv = pd.read_csv(tmp_path / "clean.csv", keep_default_na=False)
    for i, text in enumerate(FORMULA_TEXTS):
        assert csv.text[i] == "'" + text
    raw = (tmp_path / "clean.csv").read_text()
    assert "\n=HYP" not in raw and ",=HYP" not in raw and ",@SUM" not in raw
    parquet = pd.read_parquet(tmp_path / "clean.parquet")
    assert parquet.text[: len(FORMULA_TEXTS)].tolist() == FORMULA_TEXTS
    assert parquet.corrected_label.isna().sum() == 1 and parquet.decision.notna().sum() == 5


def test_drop_excluded(reviewed, tmp_path):
    path, ex, q, _ = reviewed
    export_project(path, cleanset=tmp_path / "clean.parquet", drop_excluded=True)
    clean = pd.read_parquet(tmp_path / "clean.parquet")
    assert len(clean) == 299 and ex.id[q[3]] not in set(clean.id)
    assert "exclude" not in set(clean.decision.dropna())


def test_decisions_log_lists_every_trail_entry_with_class_names(reviewed, tmp_path):
    path, ex, q, other = reviewed
    from labelaudit.core.project import Project

    with Project.open(path) as p:
        p.undo()  # undo the unsure: the log gains an entry, loses nothing
    export_project(path, decisions=tmp_path / "log.csv")
    log = pd.read_csv(tmp_path / "log.csv", keep_default_na=False)
    assert list(log.columns) == ["entry", "time", "reviewer", "row", "example_id", "action", "before_decision",
                                 "before_label", "after_decision", "after_label", "note"]
    assert log.action.tolist() == ["keep", "accept", "relabel", "exclude", "unsure", "undo"]
    assert log.row.tolist() == q[:5] + [q[4]]
    assert log.example_id.tolist() == [ex.id[r] for r in q[:5] + [q[4]]]
    assert (log.reviewer == "ana").all() and log.time[0].endswith("+00:00")
    assert log.after_label[2] == CLASSES[other] and log.after_label[3] == ""
    assert log.before_decision[5] == "unsure" and log.after_decision[5] == ""
    assert log.note[1].startswith("'=clearly")  # neutralised in CSV


def test_imported_verdicts_count_where_no_person_decided(tmp_path):
    project = make_project(tmp_path)
    ex = project.load_results()[0]
    (tmp_path / "v.csv").write_text("row,label,verdict\n10,,error\n11,,ok\n")
    project.import_reviews(tmp_path / "v.csv", reviewer="lab")
    project.decide(11, "exclude", reviewer="ana")
    project.close()
    export_cleanset(tmp_path / "audit.labelaudit", tmp_path / "clean.parquet")
    clean = pd.read_parquet(tmp_path / "clean.parquet")
    assert clean.decision[10] == "unsure" and clean.corrected_label[10] == CLASSES[ex.given_label[10]]
    assert clean.decision[11] == "exclude"


def test_bad_export_requests_name_the_file(reviewed, tmp_path):
    path, *_ = reviewed
    with pytest.raises(InputError, match="nope.labelaudit: no such project file"):
        export_project(tmp_path / "nope.labelaudit", cleanset=tmp_path / "c.csv")
    junk = tmp_path / "junk.labelaudit"
    junk.write_text("hello")
    with pytest.raises(InputError, match="project damaged: .*junk.labelaudit: not a readable SQLite database"):
        export_project(junk, decisions=tmp_path / "d.csv")
    with pytest.raises(InputError, match="nothing to export"):
        export_project(path)
    with pytest.raises(InputError, match="c.xlsx: unknown output format"):
        export_project(path, cleanset=tmp_path / "c.xlsx")
    with pytest.raises(InputError, match="does not exist"):
        export_project(path, cleanset=tmp_path / "no" / "c.csv")
    data = tmp_path / "data.csv"
    data.write_text(data.read_text() + "ex9999,one more,cat\n")
    with pytest.raises(InputError, match="data.csv: the dataset changed since the project was saved"):
        export_project(path, cleanset=tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()


def test_cleanset_columns_are_what_pandas_makes_of_the_label_strings(reviewed, tmp_path):
    """The label columns (built in Arrow) have the dtype and values pandas infers from object arrays of the
    class names (None where missing), so the parquet file is the same; undecided-only stays an object column."""
    import numpy as np

    from labelaudit.core.cleanset import cleanset_table
    from labelaudit.core.project import Project

    path, ex, q, other = reviewed
    names = np.array(CLASSES, dtype=object)
    with Project.open(path, read_only=True) as project:
        table = cleanset_table(project)
    corrected = names[ex.given_label.to_numpy()].copy()
    corrected[q[1]], corrected[q[2]], corrected[q[3]] = names[ex.suggested_label[q[1]]], names[other], None
    decision = np.full(len(ex), None, dtype=object)
    decision[q[:5]] = ["keep", "accept", "relabel", "exclude", "unsure"]
    expected = pd.DataFrame({"given_label": names[ex.given_label.to_numpy()], "corrected_label": corrected,
                             "decision": decision})
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected)
    table[list(expected.columns)].to_parquet(tmp_path / "got.parquet")
    expected.to_parquet(tmp_path / "expected.parquet")
    assert (tmp_path / "got.parquet").read_bytes() == (tmp_path / "expected.parquet").read_bytes()

    fresh = make_project(tmp_path / "fresh")  # no decisions: a column of None, as pandas keeps it
    table = cleanset_table(fresh)
    fresh.close()
    assert table["decision"].dtype == object and table["decision"].isna().all()
