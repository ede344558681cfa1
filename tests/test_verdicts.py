"""Human verdicts: the labelerrors mturk.json files (paper counts) and review CSVs."""

import json

import numpy as np
import pytest

from labelaudit.core.errors import InputError
from labelaudit.core.verdicts import COLUMNS, load_reviews


def _classes(labelerrors, name):
    return (labelerrors / name / "classes.txt").read_text().splitlines()


@pytest.mark.parametrize("name, n_entries, n_validated", [("mnist", 100, 15), ("cifar10", 275, 54), ("imdb", 1310, 725)])
def test_paper_counts(labelerrors, name, n_entries, n_validated):
    labels = np.load(labelerrors / name / "labels.npy")
    reviews = load_reviews(
        labelerrors / name / "mturk.json", n_examples=len(labels), class_names=_classes(labelerrors, name), labels=labels
    )
    assert list(reviews.columns) == COLUMNS
    assert len(reviews) == n_entries and reviews["is_validated_error"].sum() == n_validated
    assert (reviews["given_label"].to_numpy() == labels[reviews["row"]]).all()
    assert reviews["row"].is_monotonic_increasing
    majority_guessed = reviews["n_guessed"] >= 3
    assert (reviews["corrected_label"][majority_guessed] == reviews["guessed_label"][majority_guessed]).all()
    undecided = (reviews["n_guessed"] < 3) & (reviews["n_given"] < 3)
    assert (reviews["corrected_label"][undecided] == -1).all()


def test_imdb_file_name_ids(labelerrors):
    names = json.loads((labelerrors / "imdb" / "index_to_filename.json").read_text())
    reviews = load_reviews(labelerrors / "imdb" / "mturk.json", n_examples=25_000, class_names=["Negative", "Positive"])
    first = json.loads((labelerrors / "imdb" / "mturk.json").read_text())[0]
    assert first["id"] == "test/neg/10003_3"
    row = names.index("neg/10003_3.txt")
    rec = reviews.set_index("row").loc[row]
    assert (rec["given_label"], rec["guessed_label"]) == (0, 1)  # Negative given, Positive guessed
    assert (rec["n_given"], rec["n_guessed"], rec["n_other"]) == (2, 1, 2)
    assert rec["is_validated_error"] and rec["corrected_label"] == -1


def test_mnist_entries_with_guess_equal_to_given(labelerrors):
    reviews = load_reviews(labelerrors / "mnist" / "mturk.json", n_examples=10_000).set_index("row")
    rec = reviews.loc[720]  # guessed == given == 5; the same 5 votes appear under both keys
    assert (rec["given_label"], rec["guessed_label"], rec["n_given"], rec["n_guessed"]) == (5, 5, 5, 5)
    assert not rec["is_validated_error"] and rec["corrected_label"] == 5


def _write(tmp_path, entries, name="mturk.json"):
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return path


def _entry(i, given, guessed, n_given, n_guessed, neither=0, both=0):
    return {
        "id": i,
        "given_original_label": given,
        "our_guessed_label": guessed,
        "mturk": {"given": n_given, "guessed": n_guessed, "neither": neither, "both": both},
    }


def test_counting_rule_and_corrected_label(tmp_path):
    path = _write(
        tmp_path,
        [
            _entry(4, "cat", "dog", 5, 0),  # given confirmed
            _entry(2, "cat", "dog", 0, 3, neither=2),  # guessed majority -> dog
            _entry(7, 1, 2, 2, 2, neither=1),  # no majority -> drop
            _entry(9, "bird", "cat", 3, 0, both=2),  # 3 chose given: not an error
        ],
    )
    df = load_reviews(path, n_examples=10, class_names=["cat", "dog", "bird"])
    assert df["row"].tolist() == [2, 4, 7, 9]
    assert df["is_validated_error"].tolist() == [True, False, True, False]
    assert df["corrected_label"].tolist() == [1, 0, -1, 2]
    assert df["guessed_label"].tolist() == [1, 1, 2, 0]
    assert df["n_other"].tolist() == [2, 0, 1, 2]


@pytest.mark.parametrize(
    "entries, message",
    [
        ([_entry(10, 0, 1, 5, 0)], "entry 0 .*row 10 is outside the dataset's 10 rows"),
        ([_entry(1, 0, 1, 5, 0), _entry(3, "cat", "zebra", 1, 4)], "entry 1 .*unknown label 'zebra'"),
        ([_entry(1, 0, 1, 5, 0), _entry(1, 0, 1, 5, 0)], "row 1 is reviewed more than once"),
        ([{"id": 1, "mturk": {}}], "entry 0: missing given_original_label, our_guessed_label"),
        ([_entry("test/neg/1_2", 0, 1, 5, 0)], "index_to_filename.json is not beside"),
        ([_entry(1, 0, 5, 5, 0)], "label 5 is outside the 3 classes"),
        ({"id": 1}, "expected a JSON list"),
    ],
)
def test_bad_mturk_files(tmp_path, entries, message):
    path = _write(tmp_path, entries)
    with pytest.raises(InputError, match=message) as err:
        load_reviews(path, n_examples=10, class_names=["cat", "dog", "bird"])
    assert "mturk.json" in str(err.value)


def test_bad_json_and_mismatched_labels(tmp_path):
    path = tmp_path / "mturk.json"
    path.write_text('[{"id": 1,\n "x": }]')
    with pytest.raises(InputError, match=r"mturk.json: not valid JSON \(.* at line 2 column"):
        load_reviews(path, n_examples=10)
    path = _write(tmp_path, [_entry(3, 0, 1, 5, 0)])
    with pytest.raises(InputError, match="entry 0 .*differs from the dataset's label 2 at row 3"):
        load_reviews(path, n_examples=5, labels=np.array([0, 0, 0, 2, 0]))


def test_file_name_ids_with_index_beside(tmp_path):
    (tmp_path / "index_to_filename.json").write_text(json.dumps(["pos/1_7.txt", "neg/5_2.txt", "neg/5_2.txt"]))
    path = _write(tmp_path, [_entry("test/neg/5_2", "Negative", "Positive", 1, 4)])
    df = load_reviews(path, n_examples=3, class_names=["Negative", "Positive"])
    assert df["row"].tolist() == [1]  # first occurrence of a repeated file name, like list.index
    path = _write(tmp_path, [_entry("test/neg/6_1", 0, 1, 1, 4)])
    with pytest.raises(InputError, match="'test/neg/6_1' is not in index_to_filename.json"):
        load_reviews(path, n_examples=3)


def test_review_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("Row,Label,Verdict\n3,dog,error\n0,,ok\n5,,unsure\n7,,error\n8,cat,OK\n")
    df = load_reviews(path, n_examples=10, class_names=["cat", "dog"], labels=np.array([0, 1] * 5))
    assert list(df.columns) == COLUMNS
    assert df["row"].tolist() == [0, 3, 5, 7, 8]
    assert df["given_label"].tolist() == [0, 1, 1, 1, 0]
    assert df["is_validated_error"].tolist() == [False, True, False, True, False]
    assert df["corrected_label"].tolist() == [0, 1, -1, -1, 0]
    assert df["guessed_label"].tolist() == [-1, 1, -1, -1, -1]
    assert df[["n_given", "n_guessed", "n_other"]].values.tolist() == [
        [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0]
    ]
    no_given = load_reviews(path, n_examples=10, class_names=["cat", "dog"])
    assert no_given["given_label"].tolist() == [-1, -1, -1, -1, 0]  # only an ok row with a label tells it


@pytest.mark.parametrize(
    "text, message",
    [
        ("row,label,verdict\n12,cat,error\n", "line 2: row 12 is outside the dataset's 10 rows"),
        ("row,label,verdict\n1,cat,ok\n2,cow,error\n", "line 3: unknown label 'cow'"),
        ("row,label,verdict\n1,cat,maybe\n", "line 2: unknown verdict 'maybe'"),
        ("row,label\n1,cat\n", "missing column 'verdict'"),
        ("row,label,verdict\nx,cat,ok\n", "line 2: row 'x' is not an integer"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "reviews.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_reviews(path, n_examples=10, class_names=["cat", "dog"])
    assert "reviews.csv" in str(err.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_reviews(tmp_path / "nope.json", n_examples=1)
    other = tmp_path / "reviews.txt"
    other.write_text("x")
    with pytest.raises(InputError, match="reviews.txt: reviews must be"):
        load_reviews(other, n_examples=1)


def test_amazon_sentiment_votes(labelerrors):
    path = labelerrors / "amazon" / "mturk.json"
    entries = json.loads(path.read_text())
    reviews = load_reviews(path, n_examples=10_000_000, class_names=["Negative", "Neutral", "Positive"])
    assert len(reviews) == len(entries) == 1000
    assert reviews["is_validated_error"].sum() == 732  # shared/data/labelerrors/README: 732 in this file
    first = reviews.set_index("row").loc[entries[0]["id"]]  # Positive given, Neutral guessed, votes 3/0/2/0
    assert entries[0]["mturk"] == {"positive": 3, "negative": 0, "neutral": 2, "off-topic": 0}
    assert (first["given_label"], first["guessed_label"], first["n_given"], first["n_guessed"], first["n_other"]) == (
        2, 1, 3, 2, 0)
    assert not first["is_validated_error"] and first["corrected_label"] == 2
    assert (reviews["n_given"] + reviews["n_guessed"] + reviews["n_other"] <= 5).all()


def test_sentiment_majority_for_a_third_class(tmp_path):
    entry = {"id": 0, "given_original_label": "Positive", "our_guessed_label": "Neutral",
             "mturk": {"positive": 1, "negative": 3, "neutral": 1, "off-topic": 0}}
    df = load_reviews(_write(tmp_path, [entry]), n_examples=1, class_names=["Negative", "Neutral", "Positive"])
    assert df["is_validated_error"].tolist() == [True] and df["corrected_label"].tolist() == [0]
    assert (df["n_given"][0], df["n_guessed"][0], df["n_other"][0]) == (1, 1, 3)


@pytest.mark.parametrize("votes", [{"given": 3, "agree": 2}, {"yes": 4, "no": 1}, {"positive": 3, "neither": 2}])
def test_unknown_mturk_schema_is_refused_naming_the_file(tmp_path, capsys, votes):
    from labelaudit.core.cli import main

    path = _write(tmp_path, [{"id": 0, "given_original_label": 0, "our_guessed_label": 1, "mturk": votes}])
    with pytest.raises(InputError, match="mturk.json: mturk vote keys .* fit no labelerrors schema"):
        load_reviews(path, n_examples=4, class_names=["a", "b"])
    np.save(tmp_path / "labels.npy", np.array([0, 1, 0, 1]))
    np.save(tmp_path / "probs.npy", np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]))
    code = main(["audit", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "probs.npy"),
                 "--reviews", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(path) in err[0] and "fit no labelerrors schema" in err[0]


def test_multilabel_audioset_entries_are_refused(tmp_path):
    entry = {"id": 2, "given_original_labels": ["Crowd"], "our_guessed_labels": ["Speech"],
             "mturk": {"Crowd": 3, "Speech": 1}}
    with pytest.raises(InputError, match="mturk.json: multi-label validation"):
        load_reviews(_write(tmp_path, [entry]), n_examples=5)
