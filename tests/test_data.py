"""core.data: tables, label arrays and image folders load; bad input gets a one-line error."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelaudit.core.data import detect_columns, load_dataset, read_classes, read_table
from input_errors import error


def write(path: Path, content) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# ----------------------------------------------------------------------------- good input


def test_csv_with_string_labels_is_detected(tmp_path):
    f = write(tmp_path / "d.csv", "id,text,label\n7,great movie,pos\n8,awful film,neg\n9,fine one,pos\n")
    ds = load_dataset(f)
    assert (ds.label_col, ds.text_col, ds.id_col, ds.image_col) == ("label", "text", "id", None)
    assert ds.class_names == ["neg", "pos"]
    assert ds.labels.tolist() == [1, 0, 1] and ds.labels.dtype == np.int64
    assert ds.n == 3 and ds.n_classes == 2
    assert ds.ids.tolist() == [7, 8, 9]
    assert ds.texts() == ["great movie", "awful film", "fine one"]
    assert ds.source == str(f) and ds.root == tmp_path.resolve()


def test_overrides_beat_detection(tmp_path):
    f = write(tmp_path / "d.csv", "label,sentiment,body,key\nx,pos,hello there,a\ny,neg,bye now,b\n")
    ds = load_dataset(f, label_col="sentiment", text_col="body", id_col="key")
    assert (ds.label_col, ds.text_col, ds.id_col) == ("sentiment", "body", "key")
    assert ds.class_names == ["neg", "pos"] and ds.labels.tolist() == [1, 0]
    assert ds.ids.tolist() == ["a", "b"]


def test_override_matches_case_insensitively(tmp_path):
    f = write(tmp_path / "d.csv", "Sentence,Stars\nnice thing,1\nbad thing,2\n")
    assert load_dataset(f, label_col="stars").label_col == "Stars"


def test_detection_by_tier_and_longest_text(tmp_path):
    df = pd.DataFrame({"label": [0, 1], "category": ["a", "b"], "blurb": ["a long piece of text", "more words"],
                       "split": ["train", "test"]})
    cols = detect_columns(df, source="x")
    assert cols == {"label_col": "label", "text_col": "blurb", "image_col": None, "id_col": None}


def test_image_column_by_values_and_weak_name(tmp_path):
    df = pd.DataFrame({"file": ["a.png", "b.JPG"], "notes": ["x.txt", "y.txt"], "label": [0, 1]})
    assert detect_columns(df)["image_col"] == "file"
    df = pd.DataFrame({"file": ["a.txt", "b.txt"], "label": [0, 1]})
    assert detect_columns(df)["image_col"] is None


def test_two_equally_good_text_columns_leave_text_unset(tmp_path):
    f = write(tmp_path / "d.csv", "sentence,question,label\na b,c d,0\n")
    ds = load_dataset(f)
    assert ds.text_col is None
    msg = error(ds.texts)
    assert "--text-col" in msg and "sentence" in msg


def test_nan_text_reads_as_empty(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\nhello world,a\n,b\nNA,a\n")
    ds = load_dataset(f)
    assert ds.texts() == ["hello world", "", "NA"]  # only empty cells are missing


def test_int_labels_without_classes_are_indices(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na b,0\nc d,3\ne f,1\n")
    ds = load_dataset(f)
    assert ds.class_names == ["0", "1", "2", "3"] and ds.labels.tolist() == [0, 3, 1]


def test_int_labels_not_starting_at_zero_map_to_unique_values(tmp_path):
    f = write(tmp_path / "d.csv", "text,stars\na b,5\nc d,1\ne f,3\n")
    ds = load_dataset(f, label_col="stars")
    assert ds.class_names == ["1", "3", "5"] and ds.labels.tolist() == [2, 0, 1]


def test_integral_float_and_digit_string_labels(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na b,1.0\nc d,\ne f,0.0\n")
    assert "row 1" in error(load_dataset, f)
    f = write(tmp_path / "d.csv", "text,label\na b,1.0\nc d,2.0\ne f,0.0\n")
    assert load_dataset(f).labels.tolist() == [1, 2, 0]
    f = write(tmp_path / "d.jsonl", '{"text": "a b", "label": "10"}\n{"text": "c d", "label": "2"}\n')
    ds = load_dataset(f)
    assert ds.class_names == ["2", "10"] and ds.labels.tolist() == [1, 0]


def test_classes_file_orders_string_and_int_labels(tmp_path):
    classes = write(tmp_path / "classes.txt", "pos\nneg\n\n")
    assert read_classes(classes) == ["pos", "neg"]
    f = write(tmp_path / "s.csv", "text,label\na b,neg\nc d,pos\n")
    assert load_dataset(f, classes=classes).labels.tolist() == [1, 0]
    f = write(tmp_path / "i.csv", "text,label\na b,1\nc d,0\n")
    ds = load_dataset(f, classes=classes)
    assert ds.class_names == ["pos", "neg"] and ds.labels.tolist() == [1, 0]
    ds = load_dataset(f, classes=["x", "y", "z"])
    assert ds.n_classes == 3


def test_numeric_class_names_match_by_value(tmp_path):
    f = write(tmp_path / "d.csv", "text,stars\na b,5\nc d,1\n")
    ds = load_dataset(f, label_col="stars", classes=["1", "2", "3", "4", "5"])
    assert ds.labels.tolist() == [4, 0]


@pytest.mark.parametrize("ext,writer", [
    ("parquet", lambda df, p: df.to_parquet(p)),
    ("jsonl", lambda df, p: df.to_json(p, orient="records", lines=True)),
    ("tsv", lambda df, p: df.to_csv(p, sep="\t", index=False)),
    ("txt", lambda df, p: df.to_csv(p, sep="\t", index=False)),
    ("csv", lambda df, p: df.to_csv(p, index=False)),
])
def test_round_trip_formats(tmp_path, ext, writer):
    df = pd.DataFrame({"uid": [3, 1, 2], "review": ["good, really\tgood", "bad \"quote\"", "meh"],
                       "label": ["b", "a", "b"]})
    path = tmp_path / f"d.{ext}"
    writer(df, path)
    table = read_table(path)
    assert table["review"].tolist() == df["review"].tolist()
    assert table["uid"].tolist() == [3, 1, 2]
    ds = load_dataset(path)
    assert (ds.label_col, ds.text_col, ds.id_col) == ("label", "review", "uid")
    assert ds.labels.tolist() == [1, 0, 1]


def test_parquet_named_index_becomes_a_column(tmp_path):
    df = pd.DataFrame({"text": ["a b", "c d"], "label": [0, 1]}, index=pd.Index([5, 6], name="id"))
    df.to_parquet(tmp_path / "d.parquet")
    ds = load_dataset(tmp_path / "d.parquet")
    assert ds.id_col == "id" and ds.ids.tolist() == [5, 6]
    assert ds.table.index.tolist() == [0, 1]


def test_npy_labels(tmp_path, labelerrors):
    ds = load_dataset(labelerrors / "cifar10" / "labels.npy", classes=labelerrors / "cifar10" / "classes.txt")
    assert ds.n == 10_000 and ds.class_names[0] == "airplane" and ds.n_classes == 10
    assert list(ds.table.columns) == ["label"] and ds.label_col == "label"
    assert np.bincount(ds.labels).tolist() == [1000] * 10
    np.save(tmp_path / "l.npy", np.array([2.0, 0.0, 1.0]))
    ds = load_dataset(tmp_path / "l.npy")
    assert ds.labels.tolist() == [2, 0, 1] and ds.class_names == ["0", "1", "2"]


def make_images(root: Path, counts: dict) -> Path:
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (3, 3), (40 * i, 0, 0)).save(root / cls / f"im{i}.png")
    return root


def test_image_folder(tmp_path):
    root = make_images(tmp_path / "imgs", {"dog": 2, "cat": 1})
    (root / "cat" / "readme.txt").write_text("not an image")
    (root / ".cache").mkdir()
    ds = load_dataset(root)
    assert ds.class_names == ["cat", "dog"]
    assert ds.table["image"].tolist() == ["cat/im0.png", "dog/im0.png", "dog/im1.png"]
    assert ds.labels.tolist() == [0, 1, 1]
    assert (ds.image_col, ds.label_col, ds.root) == ("image", "label", root.resolve())
    assert all(p.is_file() for p in ds.image_paths())
    ds = load_dataset(root, classes=["dog", "cat", "bird"])
    assert ds.labels.tolist() == [1, 0, 0] and ds.n_classes == 3


def test_table_with_image_paths(tmp_path):
    make_images(tmp_path / "imgs", {"a": 2})
    f = write(tmp_path / "d.csv", "path,label\nimgs/a/im0.png,a\nimgs/a/im1.png,b\n")
    ds = load_dataset(f)
    assert ds.image_col == "path" and ds.text_col is None
    assert ds.image_paths() == [tmp_path.resolve() / "imgs/a/im0.png", tmp_path.resolve() / "imgs/a/im1.png"]


# ----------------------------------------------------------------------------- bad input


def test_non_utf8_names_file_and_line(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\nhello,a\ncaf\xe9,b\n".encode("latin-1"))
    msg = error(load_dataset, f)
    assert str(f) in msg and "UTF-8" in msg and "line 3" in msg and "offset 22" in msg


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.parquet"])
def test_empty_file(tmp_path, name):
    f = write(tmp_path / name, b"")
    assert error(load_dataset, f) == f"{f}: the file is empty"


def test_header_only(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\n")
    assert error(load_dataset, f) == f"{f}: the table has no rows"


def test_ragged_row_names_line(tmp_path):
    f = write(tmp_path / "d.csv", 'text,label\nhello,a\n"two\nlines",b\nx,y,z\n')
    assert error(load_dataset, f) == f"{f}: line 5 (row 2) has 3 fields but the header has 2"
    f = write(tmp_path / "d.tsv", "text\tlabel\nhello\ta\tb\nx\ty\tz\n")  # every row one field too many
    assert error(load_dataset, f) == f"{f}: line 2 (row 0) has 3 fields but the header has 2"


def test_bad_json_line(tmp_path):
    f = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", label: 1}\n')
    msg = error(load_dataset, f)
    assert msg.startswith(f"{f}: line 3: not valid JSON")
    f = write(tmp_path / "e.jsonl", '[1, 2]\n')
    assert "line 1: expected a JSON object" in error(load_dataset, f)


def test_unreadable_parquet_and_unknown_type(tmp_path):
    f = write(tmp_path / "d.parquet", "not parquet at all")
    assert error(load_dataset, f).startswith(f"{f}: not a readable Parquet file")
    f = write(tmp_path / "d.xlsx", "x")
    assert "unsupported file type '.xlsx'" in error(load_dataset, f)
    assert error(load_dataset, tmp_path / "missing.csv") == f"{tmp_path / 'missing.csv'}: no such file or folder"


def test_ambiguous_label_column(tmp_path):
    f = write(tmp_path / "d.csv", "target,class,text\n1,2,hi there\n")
    msg = error(load_dataset, f)
    assert "'target'" in msg and "'class'" in msg and "--label-col" in msg


def test_no_label_column(tmp_path):
    f = write(tmp_path / "d.csv", "foo,bar\n1,2\n")
    assert error(load_dataset, f) == f"{f}: no label column found (columns: foo, bar); pass --label-col"


def test_unknown_column_lists_columns(tmp_path):
    f = write(tmp_path / "d.csv", "a,b,c\n1,2,3\n")
    assert error(load_dataset, f, label_col="x") == f"{f}: no column 'x' (columns: a, b, c)"
    assert "no column 'txt'" in error(load_dataset, f, label_col="a", text_col="txt")
    assert "cannot be both the label and the text column" in error(load_dataset, f, label_col="a", text_col="a")


def test_label_not_in_classes_names_row_and_value(tmp_path):
    classes = write(tmp_path / "classes.txt", "cat\ndog\n")
    f = write(tmp_path / "d.csv", "text,label\na b,cat\nc d,dgo\ne f,bird\n")
    msg = error(load_dataset, f, classes=classes)
    assert msg.startswith(f"{f}: row 1: label 'dgo' in column 'label' is not one of the 2 classes in {classes}")


def test_int_label_out_of_range(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na b,0\nc d,1\ne f,2\n")
    msg = error(load_dataset, f, classes=["x", "y"])
    assert msg == (f"{f}: row 2: label 2 in column 'label' is out of range for the 2 classes in the class list "
                   f"(expected 0..1)")
    f = write(tmp_path / "n.csv", "text,label\na b,-1\n")
    assert "row 0: label -1" in error(load_dataset, f, classes=["x", "y"])


def test_missing_and_fractional_labels(tmp_path):
    f = write(tmp_path / "d.csv", "text,label\na b,cat\nc d,\ne f,dog\n")
    assert error(load_dataset, f) == f"{f}: row 1: missing label in column 'label'"
    f = write(tmp_path / "f.csv", "text,label\na b,0\nc d,1.5\n")
    assert error(load_dataset, f) == f"{f}: row 1: label 1.5 in column 'label' is not a whole number"
    f = write(tmp_path / "s.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", "label": "  "}\n')
    assert error(load_dataset, f) == f"{f}: row 1: missing label in column 'label'"


def test_bad_classes_files(tmp_path):
    dup = write(tmp_path / "dup.txt", "cat\ndog\ncat\n")
    assert error(read_classes, dup) == f"{dup}: line 3: duplicate class name 'cat' (also on line 1)"
    empty = write(tmp_path / "empty.txt", "\n \n")
    assert error(read_classes, empty).startswith(f"{empty}: no class names")
    f = write(tmp_path / "d.csv", "text,label\na b,0\n")
    assert "twice" in error(load_dataset, f, classes=["a", "a"])
    assert "empty" in error(load_dataset, f, classes=[])
    assert error(read_classes, tmp_path / "nope.txt") == f"{tmp_path / 'nope.txt'}: no such class-names file"


def test_bad_npy_labels(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    msg = error(load_dataset, tmp_path / "obj.npy")
    assert msg.startswith(f"{tmp_path / 'obj.npy'}: holds Python objects (pickle)")
    np.save(tmp_path / "2d.npy", np.zeros((3, 2)))
    assert "must be a 1-D array (n,), got shape (3, 2)" in error(load_dataset, tmp_path / "2d.npy")
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    assert "must be integers" in error(load_dataset, tmp_path / "s.npy")
    np.save(tmp_path / "f.npy", np.array([0.0, 0.5]))
    assert "row 1: label 0.5" in error(load_dataset, tmp_path / "f.npy")
    np.save(tmp_path / "c.npy", np.array([0, 3]))
    assert "row 1: label 3" in error(load_dataset, tmp_path / "c.npy", classes=["a", "b"])
    f = write(tmp_path / "junk.npy", "not numpy")
    assert error(load_dataset, f) == f"{f}: not a .npy file (it lacks the NumPy header)"


def test_missing_image_names_row_and_path(tmp_path):
    make_images(tmp_path / "imgs", {"a": 1})
    f = write(tmp_path / "d.csv", "image,label\nimgs/a/im0.png,a\nimgs/a/gone.png,a\n")
    msg = error(load_dataset, f)
    assert msg.startswith(f"{f}: row 1: image 'imgs/a/gone.png' not found")
    f = write(tmp_path / "e.csv", "image,label\nimgs/a/im0.png,a\n,a\n")
    assert error(load_dataset, f) == f"{f}: row 1: empty image path in column 'image'"


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    assert "no class subfolders with images" in error(load_dataset, tmp_path / "empty")
    root = make_images(tmp_path / "imgs", {"cat": 1, "dog": 1})
    msg = error(load_dataset, root, classes=["cat"])
    assert msg.startswith(f"{root}: row 1: folder 'dog' (dog/im0.png) is not one of the classes")


def test_true_false_labels_keep_their_names(tmp_path):
    path = tmp_path / "checks.csv"
    path.write_text("question,proposed_answer,label\nq1,a,True\nq2,b,False\nq3,c,True\n")
    ds = load_dataset(path)
    assert ds.class_names == ["False", "True"]
    assert ds.labels.tolist() == [1, 0, 1]
