"""A small synthetic stand-in for FashionMNIST, written in the same IDX format.

Ten classes of 28x28 uint8 images, each class a different shape (bar, ring, cross,
blob...) drawn at a random position, scale and brightness, plus noise. It is NOT
FashionMNIST: it lets the loader, the page and the tests run where the real files are
absent. Accuracy on it says nothing about accuracy on the real data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .fashion_mnist import FILES
from .idx import write_idx


def _shape(label: int, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class's pattern as a float mask in [0, 1] on the 28x28 grid."""
    cy, cx = 13.5 + rng.normal(0, 1.5, 2)
    s = rng.uniform(0.8, 1.2)
    dy, dx = (yy - cy) / s, (xx - cx) / s
    r = np.hypot(dy, dx)
    masks = [
        (abs(dx) < 3) & (abs(dy) < 11),                            # 0 vertical bar
        (abs(dy) < 3) & (abs(dx) < 11),                            # 1 horizontal bar
        (abs(r - 8) < 2),                                          # 2 ring
        r < 7,                                                     # 3 disc
        ((abs(dx) < 2.5) | (abs(dy) < 2.5)) & (r < 11),            # 4 plus
        (abs(abs(dx) - abs(dy)) < 2.5) & (r < 11),                 # 5 X
        (abs(dx) < 9) & (abs(dy) < 9) & ~((abs(dx) < 6) & (abs(dy) < 6)),  # 6 square frame
        (dy > -8) & (dy < 8) & (abs(dx) < (dy + 8) / 1.6),         # 7 triangle
        (abs(dx + 5) < 2) | (abs(dx - 5) < 2),                     # 8 two bars
        (dy > 0) & (r < 10),                                       # 9 half disc
    ]
    return masks[label].astype(np.float64)


def make_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 28, 28) uint8 and balanced labels (n,) uint8, seeded."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        img = _shape(int(label), yy, xx, rng) * rng.uniform(120, 255) + rng.normal(0, 40, (28, 28))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    return images, labels


def make_standin(folder: str | Path, n_train: int = 2000, n_test: int = 500, seed: int = 0) -> Path:
    """Write the four FashionMNIST file names (gzipped IDX) with synthetic data into
    ``folder``; returns it. Load it with ``load_fashion_mnist(split, root=folder)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, offset in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = make_images(n, seed=seed * 2 + offset)
        image_name, label_name = FILES[split]
        write_idx(folder / image_name, images)
        write_idx(folder / label_name, labels)
    return folder
