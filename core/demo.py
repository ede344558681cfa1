"""The bundled demo: scikit-learn's digits with a known 5% of labels flipped.

``make_demo()`` writes the 1,797 8x8 digit images as PNGs plus ``labels.csv``
(columns image, label, true_label, planted_error) into a cache folder and
returns the AuditConfig that scores them with the cross-validated pixel probe,
so a user can watch the planted errors being found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .paths import cache_dir
from .pipeline import AuditConfig

FLIP_RATE = 0.05
SEED = 7


def planted_labels(y: np.ndarray, n_classes: int, rate: float = FLIP_RATE, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``rate`` of the labels to another class, seeded. Returns (noisy labels, flipped mask)."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rng.choice(len(y), size=int(round(rate * len(y))), replace=False)] = True
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=flipped.sum())) % n_classes
    return noisy, flipped


def make_demo(folder: str | Path | None = None) -> AuditConfig:
    """Write the demo dataset (once) and return the config that audits it."""
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = Path(folder) if folder else cache_dir() / "demo-digits"
    table = folder / "labels.csv"
    if not table.exists():
        import pandas as pd

        from .export import write_csv

        digits = load_digits()
        noisy, flipped = planted_labels(digits.target, 10)
        (folder / "images").mkdir(parents=True, exist_ok=True)
        paths = []
        for i, img in enumerate(digits.images):
            rel = f"images/{i:04d}.png"
            Image.fromarray((img * (255 / 16)).astype(np.uint8)).save(folder / rel)
            paths.append(rel)
        write_csv(pd.DataFrame(  # complete or absent, never half-written
            {"image": paths, "label": noisy, "true_label": digits.target, "planted_error": flipped}), table)
    return AuditConfig(data=str(table), label_col="label", image_col="image", model="probe")
