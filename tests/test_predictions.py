"""core.predictions: pred_probs and logits load, near-misses are renormalised with a notice,
garbage is rejected with a one-line error naming file, row and column."""

import numpy as np
import pandas as pd
import pytest

from input_errors import error
from labelaudit.core.predictions import check_pred_probs, load_predictions, softmax
from labelaudit.core.progress import RunContext


def save(tmp_path, name, arr):
    path = tmp_path / name
    np.save(path, arr)
    return path


# ----------------------------------------------------------------------------- released data


@pytest.mark.parametrize("name,k,max_dev", [("mnist", 10, 2e-6), ("cifar10", 10, 1e-6), ("imdb", 2, 3e-5)])
def test_labelerrors_pred_probs_load_and_renormalise(labelerrors, name, k, max_dev):
    path = labelerrors / name / "pred_probs.npy"
    raw = np.load(path)
    ctx = RunContext()
    probs = load_predictions(path, n_examples=len(raw), n_classes=k, ctx=ctx)
    assert probs.dtype == np.float64 and probs.flags.c_contiguous and probs.shape == raw.shape
    assert np.abs(probs.sum(axis=1) - 1).max() < 1e-12
    assert probs.min() >= 0 and probs.max() <= 1
    assert np.abs(probs - raw).max() < max_dev
    assert np.array_equal(probs.argmax(axis=1), raw.argmax(axis=1))
    assert len(ctx.notices) == 1
    assert ctx.notices[0].startswith(f"{path}: renormalised ")
    assert "summed to 1 within 0.001" in ctx.notices[0]


def test_imdb_notice_counts_rows_and_clipped_values(labelerrors):
    ctx = RunContext()
    load_predictions(labelerrors / "imdb" / "pred_probs.npy", ctx=ctx)
    assert "renormalised 25,000 rows" in ctx.notices[0]
    assert "clipped 2,744 values to [0, 1]" in ctx.notices[0]
    assert "largest deviation 2.0e-05" in ctx.notices[0]


def test_garbage_array_is_rejected(tmp_path):
    garbage = np.random.default_rng(0).normal(size=(50, 3))
    msg = error(load_predictions, save(tmp_path, "g.npy", garbage))
    assert "probabilities cannot be negative" in msg and "--logits" in msg


def test_labels_file_given_as_predictions(labelerrors):
    path = labelerrors / "mnist" / "labels.npy"
    msg = error(load_predictions, path)
    assert msg.startswith(f"{path}: predictions must be a 2-D array of shape (n examples, k classes)")
    assert "got shape (10000,)" in msg and "looks like labels" in msg


def test_shape_mismatch_against_dataset(labelerrors):
    path = labelerrors / "imdb" / "pred_probs.npy"
    assert error(load_predictions, path, n_examples=10_000) == (
        f"{path}: 25000 rows of predictions but the dataset has 10000 examples")
    assert error(load_predictions, path, n_classes=3) == (
        f"{path}: 2 columns of predictions but the dataset has 3 classes")


# ----------------------------------------------------------------------------- checks in memory


def test_exact_probabilities_pass_unchanged():
    p = np.array([[0.25, 0.75], [1.0, 0.0]])
    ctx = RunContext()
    out = check_pred_probs(p, source="mem", ctx=ctx)
    assert out is p and ctx.notices == []
    out = check_pred_probs(p.astype(np.float32).T.copy().T, source="mem")  # F-order float32 -> C float64
    assert out.dtype == np.float64 and out.flags.c_contiguous


def test_near_miss_is_renormalised_in_a_copy():
    p = np.array([[0.5, 0.5004], [-5e-7, 1.0000004], [0.3, 0.7]])
    before = p.copy()
    ctx = RunContext()
    out = check_pred_probs(p, source="mem", ctx=ctx)
    assert np.array_equal(p, before)  # the caller's array is untouched
    assert np.allclose(out.sum(axis=1), 1, atol=1e-15) and out.min() >= 0
    assert ctx.notices == ["mem: renormalised 2 rows whose probabilities summed to 1 within 0.001 "
                           "(largest deviation 4.0e-04); clipped 2 values to [0, 1]"]


def test_notice_without_context_is_a_warning():
    with pytest.warns(UserWarning, match="renormalised 1 rows"):
        check_pred_probs(np.array([[0.5, 0.5001]]), source="mem")


def test_nan_and_inf_name_row_and_column():
    p = np.full((5, 3), 1 / 3)
    p[3, 2] = np.nan
    assert error(check_pred_probs, p, source="mem") == "mem: row 3, column 2 is NaN (missing or not a number)"
    p[3, 2] = 1 / 3
    p[4, 0] = -np.inf
    assert error(check_pred_probs, p, source="mem") == "mem: row 4, column 0 is -inf (infinite)"


def test_out_of_range_and_bad_sums():
    msg = error(check_pred_probs, np.array([[0.5, 0.5], [1.2, -0.2]]), source="mem")
    assert msg.startswith("mem: row 1, column 1 is -0.2; probabilities cannot be negative")
    msg = error(check_pred_probs, np.array([[0.5, 0.5], [0.0, 1.01]]), source="mem")
    assert msg.startswith("mem: row 1, column 1 is 1.01; probabilities cannot be above 1")
    p = np.full((13, 2), 0.5)
    p[12] = [0.3, 0.43]
    msg = error(check_pred_probs, p, source="mem")
    assert msg == ("mem: row 12 sums to 0.73, not 1 (tolerance 0.001); "
                   "if these are logits or log-probabilities, pass --logits")
    assert "sums to 1.002" in error(check_pred_probs, np.array([[0.5, 0.502]]), source="mem")


def test_wrong_dimensions_and_types():
    assert "got shape (2, 2, 2)" in error(check_pred_probs, np.ones((2, 2, 2)) / 2, source="mem")
    assert "empty" in error(check_pred_probs, np.ones((0, 3)), source="mem")
    assert "must be numbers" in error(check_pred_probs, np.array([["a", "b"]]), source="mem")
    assert "transposed" in error(check_pred_probs, np.full((2, 4), 0.5), source="mem", n_examples=4,
                                 n_classes=2)


# ----------------------------------------------------------------------------- logits


def test_softmax_is_stable_and_exact():
    out = softmax([[1000.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    assert out[0].tolist() == [1.0, 0.0] and out[1].tolist() == [0.5, 0.5]
    assert np.isclose(out[2, 1], np.e / (1 + np.e))


def test_logits_file(tmp_path):
    p = np.random.default_rng(1).dirichlet(np.ones(4), size=20)
    path = save(tmp_path, "logits.npy", np.log(p) + 7.0)
    ctx = RunContext()
    out = load_predictions(path, logits=True, ctx=ctx)
    assert np.allclose(out, p, atol=1e-12) and ctx.notices == []
    assert "pass --logits" in error(load_predictions, path)
    bad = np.log(p)
    bad[5, 1] = np.nan
    assert error(load_predictions, save(tmp_path, "nan.npy", bad), logits=True) == (
        f"{tmp_path / 'nan.npy'}: row 5, column 1 is NaN (missing or not a number)")


# ----------------------------------------------------------------------------- file formats


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("p_neg,p_pos\n0.2,0.8\n0.6,0.4\n")
    (tmp_path / "n.csv").write_text("0.2,0.8\n0.6,0.4\n")
    (tmp_path / "i.csv").write_text(",p_neg,p_pos\n0,0.2,0.8\n1,0.6,0.4\n")  # pandas to_csv with its index
    (tmp_path / "t.tsv").write_text("0.2\t0.8\n0.6\t0.4\n")
    for name in ["h.csv", "n.csv", "i.csv", "t.tsv"]:
        assert load_predictions(tmp_path / name, n_examples=2, n_classes=2).tolist() == [[0.2, 0.8], [0.6, 0.4]]


def test_csv_errors_name_row_and_column(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("p0,p1\n0.5,0.5\n0.2,abc\n")
    assert error(load_predictions, f) == f"{f}: row 1, column 'p1': 'abc' is not a number"
    f.write_text("p0,p1\n0.5,0.5\n0.2,\n")
    assert error(load_predictions, f) == f"{f}: row 1, column 'p1' is NaN (missing or not a number)"
    f.write_text("0.5,0.5\n0.2,0.8,0.0\n")
    assert error(load_predictions, f) == f"{f}: line 2 (row 1) has 3 fields but the first row has 2"
    f.write_text("p0,p1\n")
    assert error(load_predictions, f) == f"{f}: the file has a header but no rows"
    f.write_bytes(b"")
    assert error(load_predictions, f) == f"{f}: the file is empty"
    f.write_bytes(b"p0,p1\n0.5,0.5\n\xff\xfe,1\n")
    assert "not UTF-8 text" in error(load_predictions, f) and "line 3" in error(load_predictions, f)


def test_parquet_columns_and_list_column(tmp_path):
    pd.DataFrame({"a": [0.5, 0.2], "b": [0.5, 0.8]}).to_parquet(tmp_path / "c.parquet")
    assert load_predictions(tmp_path / "c.parquet").tolist() == [[0.5, 0.5], [0.2, 0.8]]
    pd.DataFrame({"id": ["x", "y"], "probs": [[0.5, 0.5], [0.2, 0.8]]}).to_parquet(tmp_path / "l.parquet")
    assert load_predictions(tmp_path / "l.parquet", n_classes=2).tolist() == [[0.5, 0.5], [0.2, 0.8]]
    pd.DataFrame({"probs": [[0.5, 0.5], [0.2, 0.7, 0.1]]}).to_parquet(tmp_path / "r.parquet")
    assert error(load_predictions, tmp_path / "r.parquet") == (
        f"{tmp_path / 'r.parquet'}: row 1, column 'probs' has 3 values but row 0 has 2")
    pd.DataFrame({"name": ["a", "b"], "p": [0.1, 0.2]}).to_parquet(tmp_path / "s.parquet")
    assert "column 'name' is" in error(load_predictions, tmp_path / "s.parquet")
    pd.DataFrame({"a": [0.5, None], "b": [0.5, 0.8]}).to_parquet(tmp_path / "n.parquet")
    assert error(load_predictions, tmp_path / "n.parquet") == (
        f"{tmp_path / 'n.parquet'}: row 1, column 'a' is NaN (missing or not a number)")


def test_bad_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    assert "holds Python objects (pickle)" in error(load_predictions, tmp_path / "obj.npy")
    (tmp_path / "junk.npy").write_text("junk")
    assert "not a .npy file" in error(load_predictions, tmp_path / "junk.npy")
    (tmp_path / "p.json").write_text("[]")
    assert "unsupported predictions file type '.json'" in error(load_predictions, tmp_path / "p.json")
    assert error(load_predictions, tmp_path / "none.npy") == f"{tmp_path / 'none.npy'}: no such file"


def test_large_array_stays_float64_and_normalised():
    rng = np.random.default_rng(0)
    p = rng.random((200_000, 10), dtype=np.float32)
    p /= p.sum(axis=1, keepdims=True)
    ctx = RunContext()
    out = check_pred_probs(p, source="big", ctx=ctx, n_examples=200_000, n_classes=10)
    assert out.dtype == np.float64 and np.abs(out.sum(axis=1) - 1).max() < 1e-12
    assert len(ctx.notices) <= 1


def test_float32_rounding_is_renormalised_quietly_and_real_misses_are_counted(tmp_path):
    """A float32 file whose rows miss 1 only by float32 rounding is not news; real deviations are,
    counted with thousands separators."""
    rng = np.random.default_rng(3)
    k = 10
    logits = rng.normal(size=(3000, k)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # float32 softmax
    assert probs.dtype == np.float32
    deviation = np.abs(probs.astype(np.float64).sum(axis=1) - 1)
    assert deviation.max() > 1e-9 and deviation.max() <= (k + 2) * np.finfo(np.float32).eps
    ctx = RunContext()
    out = load_predictions(save(tmp_path, "p32.npy", probs), ctx=ctx)
    assert ctx.notices == []
    assert np.abs(out.sum(axis=1) - 1).max() < 1e-12

    probs[:1234, 0] += 2e-4  # a real deviation in 1,234 rows
    ctx = RunContext()
    load_predictions(save(tmp_path, "p32b.npy", probs), ctx=ctx)
    assert len(ctx.notices) == 1 and "renormalised 1,234 rows" in ctx.notices[0]
