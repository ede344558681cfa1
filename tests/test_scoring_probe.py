"""The real bundled MiniLM probe and the pixel probe on small learnable data."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from labelaudit.core.data import load_dataset  # noqa: E402
from labelaudit.core.progress import RunContext  # noqa: E402
from labelaudit.core.scoring import make_scorer  # noqa: E402
from labelaudit.core.scoring.probe import (  # noqa: E402
    EmbeddingProbeScorer,
    PixelProbeScorer,
    TextEncoder,
    bundled_model_folder,
    cross_val_probs,
)

TOPICS = {
    "sports": "goal match team coach player league score season striker referee stadium win".split(),
    "cooking": "recipe oven flour sugar butter bake dinner sauce garlic onion pan simmer".split(),
    "finance": "stock market bank loan interest rate investor profit shares bond price trade".split(),
}
FILLER = "the a and with of today really very this that we they".split()
FLIPPED = [5, 50, 100, 150]


@pytest.fixture(scope="module")
def topic_data(tmp_path_factory):
    """~200 short texts on three topics; rows FLIPPED carry another topic's label."""
    rng = np.random.default_rng(0)
    names = list(TOPICS)
    rows, true = [], []
    for i in range(201):
        y = i % 3
        words = list(rng.choice(TOPICS[names[y]], size=int(rng.integers(3, 8)))) + \
            list(rng.choice(FILLER, size=int(rng.integers(2, 10))))
        rng.shuffle(words)
        rows.append(" ".join(words))
        true.append(y)
    given = list(true)
    for i in FLIPPED:
        given[i] = (true[i] + 1) % 3
    path = tmp_path_factory.mktemp("topics") / "topics.csv"
    pd.DataFrame({"text": rows, "label": [names[y] for y in given]}).to_csv(path, index=False)
    dataset = load_dataset(path, text_col="text", label_col="label", classes=names)
    return dataset, np.array(true)


@pytest.fixture(scope="module")
def probe_result(topic_data):
    dataset, _ = topic_data
    return make_scorer("probe", dataset=dataset, device="cpu", cache=False).score(dataset, RunContext())


def test_probe_beats_chance_clearly(topic_data, probe_result):
    dataset, true = topic_data
    pred = probe_result.pred_probs.argmax(1)
    assert (pred == true).mean() > 0.9  # chance is 1/3
    assert (pred == dataset.labels).mean() > 0.85
    assert probe_result.model.startswith("all-MiniLM-L6-v2 embeddings + 5-fold")


def test_probabilities_are_out_of_sample(topic_data, probe_result):
    """A memorising (in-sample) model would back the flipped labels; the folds that never saw
    those rows point at the true topic instead."""
    dataset, true = topic_data
    p = probe_result.pred_probs
    for i in FLIPPED:
        assert p[i].argmax() == true[i]
        assert p[i, dataset.labels[i]] < 0.2


def test_embeddings_match_sentence_transformers(topic_data, probe_result):
    st = pytest.importorskip("sentence_transformers")
    dataset, _ = topic_data
    ref = st.SentenceTransformer(str(bundled_model_folder()), device="cpu").encode(dataset.texts())
    cos = (probe_result.embeddings * ref).sum(1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.999
    assert probe_result.embeddings.shape == (201, 384)


def test_int8_agrees_with_the_exact_path(topic_data, probe_result):
    dataset, _ = topic_data
    fast = TextEncoder(bundled_model_folder(), device="cpu", quantize=True).encode(dataset.texts(), RunContext())
    cos = (fast * probe_result.embeddings).sum(1)
    assert np.median(cos) > 0.98 and cos.min() > 0.95
    pred = cross_val_probs(fast, dataset.labels, 3, folds=5, seed=0, ctx=RunContext()).argmax(1)
    assert (pred == probe_result.pred_probs.argmax(1)).mean() >= 0.97


def test_quantize_option_reaches_the_probe(topic_data):
    dataset, _ = topic_data
    scorer = make_scorer(None, dataset=dataset, device="cpu", quantize=True)
    assert isinstance(scorer, EmbeddingProbeScorer) and scorer.quantize


def test_digits_pixel_probe(tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    (tmp_path / "img").mkdir()
    paths = []
    for i, img in enumerate(digits.images):
        Image.fromarray((img * (255 / 16)).astype(np.uint8), mode="L").save(tmp_path / f"img/{i}.png")
        paths.append(f"img/{i}.png")
    table = tmp_path / "digits.csv"
    pd.DataFrame({"image": paths, "label": digits.target}).to_csv(table, index=False)
    dataset = load_dataset(table, image_col="image", label_col="label")
    scorer = make_scorer(None, dataset=dataset)
    assert isinstance(scorer, PixelProbeScorer)
    result = scorer.score(dataset, RunContext())
    assert (result.pred_probs.argmax(1) == digits.target).mean() > 0.9
    assert result.embeddings.shape == (1797, 64)  # 8x8 images keep their size
    assert not result.in_sample
