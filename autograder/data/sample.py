"""The real FashionMNIST sample shipped with the course: the 900 images of the dataset's
own sprite, read into the loader's format.

``assets/fashion-mnist-sprite.png`` is ``doc/img/fashion-mnist-sprite.png`` of
zalandoresearch/fashion-mnist, byte for byte (MIT licence, Copyright (c) 2017 Zalando SE;
the notice is ``assets/fashion-mnist-LICENSE``). It is an 840x840 grey image: a 30x30 grid
of 28x28 tiles, each tile one FashionMNIST image with its original pixel values (0 is
the background). Each class fills three rows of 30 tiles, in label order (the dataset's
README: "each class takes three rows"), so row ``r`` holds label ``r // 3``: 90 images per
class. Which split of the dataset they come from, the README does not say.

The course splits them, per class, into the first two rows (60 images) as ``"train"`` and
the third (30 images) as ``"test"``: 600 and 300 images, ten classes balanced.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .fashion_mnist import CLASSES, FILES, FashionMNIST
from .idx import IDXError, write_idx

ASSETS = Path(__file__).resolve().parent / "assets"
SPRITE = ASSETS / "fashion-mnist-sprite.png"
LICENSE = ASSETS / "fashion-mnist-LICENSE"
#: SHA-256 of the upstream file (git blob b7284c40 at commit b2617bb6 of the repository).
SPRITE_SHA256 = "a7de0a151f8c68e6e96f157a018ac290d1f6b0e7845892c3d7d85cb64961c3cb"
SPRITE_URL = (
    "https://github.com/zalandoresearch/fashion-mnist/blob/"
    "b2617bb6d3ffa2e429640350f613e3291e10b141/doc/img/fashion-mnist-sprite.png"
)
GRID, TILE, ROWS_PER_CLASS = 30, 28, 3
#: Per class, which of its three rows go to which split.
SPLIT_ROWS = {"train": (0, 1), "test": (2,)}


def read_sprite(path: str | Path = SPRITE, sha256: str | None = SPRITE_SHA256) -> tuple[np.ndarray, np.ndarray]:
    """The sprite's tiles: images (900, 28, 28) uint8 and labels (900,) uint8, row by row.

    Raises :class:`IDXError` naming the file when its SHA-256 is not ``sha256`` (None: not
    checked) or it is not an opaque grey 840x840 image.
    """
    from PIL import Image  # Pillow comes with matplotlib

    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha256 is not None and digest != sha256:
        raise IDXError(f"{path}: SHA-256 {digest}, expected {sha256} (not the upstream sprite)")
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGBA"))
    side = GRID * TILE
    if pixels.shape != (side, side, 4):
        raise IDXError(f"{path}: {pixels.shape[1]}x{pixels.shape[0]} pixels, expected {side}x{side}")
    grey = pixels[..., 0]
    if not ((pixels[..., 1] == grey).all() and (pixels[..., 2] == grey).all() and (pixels[..., 3] == 255).all()):
        raise IDXError(f"{path}: not an opaque grey image")
    images = grey.reshape(GRID, TILE, GRID, TILE).transpose(0, 2, 1, 3).reshape(GRID * GRID, TILE, TILE)
    labels = np.repeat(np.arange(GRID) // ROWS_PER_CLASS, GRID).astype(np.uint8)
    return np.ascontiguousarray(images), labels


def _rows(split: str) -> np.ndarray:
    """Indices (in sprite order) of the tiles of one split."""
    if split not in SPLIT_ROWS:
        raise ValueError(f"split must be one of {sorted(SPLIT_ROWS)}, not {split!r}")
    rows = [c * ROWS_PER_CLASS + r for c in range(len(CLASSES)) for r in SPLIT_ROWS[split]]
    return np.concatenate([np.arange(r * GRID, (r + 1) * GRID) for r in rows])


def load_sample(split: str = "train", path: str | Path = SPRITE) -> FashionMNIST:
    """One split of the shipped sample, as :func:`load_fashion_mnist` returns a split:
    ``"train"`` 600 images, ``"test"`` 300; images (N, 28, 28) uint8, labels (N,) int64."""
    images, labels = read_sprite(path)
    keep = _rows(split)
    return FashionMNIST(
        images=torch.from_numpy(images[keep].copy()),
        labels=torch.from_numpy(labels[keep].astype(np.int64)),
        classes=CLASSES,
        source=Path(path),
    )


def write_sample(folder: str | Path, path: str | Path = SPRITE) -> Path:
    """Write the sample as the four official file names (gzipped IDX) into ``folder``; it
    then loads with ``load_fashion_mnist(split, root=folder)``. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = read_sprite(path)
    for split, (image_name, label_name) in FILES.items():
        keep = _rows(split)
        write_idx(folder / image_name, images[keep])
        write_idx(folder / label_name, labels[keep])
    return folder
