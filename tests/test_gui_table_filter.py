"""core.table_filter: the filtering and sorting behind the examples table."""

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.calibration import reliability_bins
from labelaudit.core.table_filter import ExampleTable, TableFilter, confidence_histogram, pair_counts, row_shares


def _frame(n=2000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k) * 0.7, size=n)
    given = rng.integers(0, k, n)
    predicted = probs.argmax(1)
    flagged = rng.random(n) < 0.1
    words = np.array(["Cat sat", "dog ran", "a.b (c)", "CAT nap", "bird", "Ünïcode Straße"])
    text = words[rng.integers(0, len(words), n)].astype(object)
    text[5] = None
    return probs, given, pd.DataFrame(
        {
            "row": np.arange(n),
            "id": [f"ex-{i}" for i in range(n)],
            "given_label": given,
            "predicted_label": predicted,
            "suggested_label": np.where(flagged, predicted, given),
            "confidence": probs.max(1),
            "label_quality": np.round(probs[np.arange(n), given], 2),  # ties on purpose
            "is_label_issue": flagged,
            "text": text,
        }
    )


@pytest.fixture(scope="module")
def data():
    probs, given, df = _frame()
    return probs, given, df, ExampleTable.from_frame(df, ["zebra", "ant", "10", "2"], search_columns=("text", "id"))


def test_column_kinds(data):
    _, _, _, t = data
    assert t.n == 2000
    assert t.kind("given_label") == "label"
    assert t.kind("row") == "int"
    assert t.kind("confidence") == "float"
    assert t.kind("is_label_issue") == "bool"
    assert t.kind("text") == "text"
    assert t.value("text", 5) is None
    assert t.value("id", 7) == "ex-7"


def test_each_filter_matches_pandas(data):
    _, _, df, t = data
    cases = [
        (TableFilter(flagged_only=True), df.is_label_issue),
        (TableFilter(given=2), df.given_label == 2),
        (TableFilter(given_suggested=(1, 3)), (df.given_label == 1) & (df.suggested_label == 3)),
        (TableFilter(given_predicted=(0, 0)), (df.given_label == 0) & (df.predicted_label == 0)),
        (TableFilter(confidence=(0.5, 0.7)), df.confidence.between(0.5, 0.7)),
        (TableFilter(text="cat"), df.text.fillna("").str.contains("cat", case=False, regex=False)),
        (TableFilter(text="a.b (c"), df.text.fillna("").str.contains("a.b (c", regex=False)),
        (TableFilter(text="STRASSE"), df.text.fillna("").str.contains("strasse", case=False, regex=False)),
        (TableFilter(text="ex-19"), df.id.str.contains("ex-19", regex=False)),
        (
            TableFilter(flagged_only=True, given=1, confidence=(0.3, 1.0), text="dog"),
            df.is_label_issue & (df.given_label == 1) & (df.confidence >= 0.3) & df.text.fillna("").str.contains("dog", case=False),
        ),
    ]
    for flt, expected in cases:
        rows = t.view(flt)
        assert rows.tolist() == np.flatnonzero(expected.to_numpy()).tolist(), flt
        assert np.array_equal(t.mask(flt), expected.to_numpy()), flt


def test_integer_id_search_matches_the_number():
    df = pd.DataFrame({"id": [10, 11, 110], "given_label": [0, 0, 0], "text": ["x", "y", "z"]})
    t = ExampleTable.from_frame(df, ["a"], search_columns=("text", "id"))
    assert t.view(TableFilter(text="11")).tolist() == [1]


def test_bin_filter_is_the_reliability_bin(data):
    probs, given, _, t = data
    for strategy in ("equal_width", "equal_mass"):
        bins = reliability_bins(probs, given, n_bins=10, strategy=strategy)
        for b in range(10):
            rows = t.view(TableFilter(bin=(b, 10, strategy)))
            assert len(rows) == bins["count"][b]
            if len(rows):
                correct = (probs[rows].argmax(1) == given[rows]).mean()
                assert correct == pytest.approx(bins["accuracy"][b])


def test_sort_is_stable_both_ways_with_nan_last():
    q = np.array([0.2, np.nan, 0.1, 0.2, 0.3, 0.1])
    df = pd.DataFrame({"given_label": [0] * 6, "label_quality": q})
    t = ExampleTable.from_frame(df, ["a"])
    assert t.sort_order("label_quality").tolist() == [2, 5, 0, 3, 4, 1]
    assert t.sort_order("label_quality", descending=True).tolist() == [4, 0, 3, 2, 5, 1]


def test_label_columns_sort_by_class_name_numbers_by_value(data):
    _, _, df, t = data
    # classes: 0 "zebra", 1 "ant", 2 "10", 3 "2" -> not all numeric: case-insensitive name order "10" < "2" < "ant" < "zebra"
    order = t.sort_order("given_label")
    names = np.array(t.class_names)[df.given_label.to_numpy()[order]]
    assert list(dict.fromkeys(names)) == ["10", "2", "ant", "zebra"]
    numeric = ExampleTable.from_frame(pd.DataFrame({"given_label": [0, 1, 2]}), ["10", "2", "1"])
    assert numeric.sort_order("given_label").tolist() == [2, 1, 0]


def test_view_combines_filter_and_sort(data):
    _, _, df, t = data
    flt = TableFilter(flagged_only=True)
    rows = t.view(flt, "confidence", descending=True)
    expected = df[df.is_label_issue].sort_values("confidence", ascending=False, kind="stable").index
    assert rows.tolist() == expected.tolist()
    text_rows = t.view(TableFilter(), "text")
    assert text_rows[-1] == 5  # the missing text sorts last
    assert t.has_order("text") and not t.has_order("text", True)


def test_filter_without_and_is_empty():
    flt = TableFilter(flagged_only=True, bin=(1, 15, "equal_width"))
    assert not flt.is_empty()
    assert flt.without("bin") == TableFilter(flagged_only=True)
    assert flt.without("bin").without("flagged_only").is_empty()


def test_pair_counts_and_confidence_histogram():
    a = np.array([0, 0, 1, 2, 2, 2])
    b = np.array([0, 1, 1, 0, 2, 2])
    assert pair_counts(a, b, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert row_shares(np.array([[1, 3], [0, 0]])).tolist() == [[0.25, 0.75], [0.0, 0.0]]
    edges, right, wrong = confidence_histogram(np.array([0.55, 0.95, 0.96, 0.6]), np.array([True, True, False, False]), n_bins=5, low=0.5)
    assert edges.tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert right.tolist() == [1, 0, 0, 0, 1]
    assert wrong.tolist() == [0, 1, 0, 0, 1]


def test_text_search_equals_pyarrow_ignore_case_on_tricky_text():
    """The search (numpy fast path on ASCII needles, chunked on threads) returns exactly the rows of
    pyarrow's case-insensitive literal match (Unicode simple case folding), nulls never matching."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ascii_words = ["Dog on a mat", "a.b (c) [x] \\d *+?", "^start$", "cat|dog", "", "KS ks", "x" * 40, "on\tdog"]
    unicode_words = ["Straße", "STRASSE", "İstanbul", "istanbul", "ΣΊΣΥΦΟΣ σίσυφος", "emoji 😀 dog",
                     "5 \u212a (kelvin)", "\u017fun (long s)", "Ünïcode", "dOG ON"]
    rng = np.random.default_rng(3)
    n = 300_000  # over two 131,072-row chunks: searched on the thread pool
    text = np.array(ascii_words, dtype=object)[rng.integers(0, len(ascii_words), n)]
    tail = rng.random(n) < 0.5
    tail[: n // 2] = False  # the first chunk is pure ASCII, later ones are mixed
    text[tail] = np.array(unicode_words, dtype=object)[rng.integers(0, len(unicode_words), tail.sum())]
    text[rng.random(n) < 0.01] = None
    df = pd.DataFrame({"text": text, "given_label": np.zeros(n, dtype=int)})
    t = ExampleTable.from_frame(df, ["a"], search_columns=("text",))
    column = pa.array(text, type=pa.large_string())
    queries = ["dog on", "DOG", "a.b (c)", "[x]", "\\d", "*+?", "^start$", "cat|dog", "   ", "5 k", "sun", "s",
               "ks", "straße", "strasse", "STRASSE", "istanbul", "İSTANBUL", "σίσυφος", "😀", "ünï", "xxxxxxxxxxxxxxxxxxxxxx",
               "on\td", "n a m", "zzz"]
    for query in queries:
        expected = pc.fill_null(pc.match_substring(column, query.strip(), ignore_case=True), False).to_numpy(zero_copy_only=False)
        assert np.array_equal(t.mask(TableFilter(text=query)), expected), query
    assert t.view(TableFilter(text="")).size == n  # an empty query keeps every row, nulls too
    assert not t.mask(TableFilter(text="   "))[pd.isna(text)].any()  # a blank one matches every non-null text
    by_row = {w: bool(t.mask(TableFilter(text="dog on"))[np.flatnonzero(text == w)[0]]) for w in ("Dog on a mat", "dOG ON", "on\tdog")}
    assert by_row == {"Dog on a mat": True, "dOG ON": True, "on\tdog": False}
    kelvin = np.flatnonzero(text == "5 \u212a (kelvin)")[0]
    assert t.mask(TableFilter(text="5 k"))[kelvin]  # K KELVIN SIGN folds to k, as in pyarrow
