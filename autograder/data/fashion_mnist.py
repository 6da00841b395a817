"""The FashionMNIST loader: find (or download) the four official IDX files, validate
them, and return tensors.

Where it looks, first hit wins (a folder counts when it holds all four files, gzipped
or not, directly or in torchvision's layout ``<folder>/FashionMNIST/raw/``):

1. the ``root`` argument;
2. the folder named by the environment variable ``FASHION_MNIST_DIR``;
3. the per-user cache ``$XDG_CACHE_HOME/autograder/fashion-mnist`` (``~/.cache/...``).

``fetch`` downloads the files from the official mirror into the cache (or ``root``),
each into a temporary file in the same folder, renamed into place only after its md5
matched: an interrupted download never leaves a half-written file under the real name.
From the command line: ``python -m autograder data fetch``.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .idx import IMAGES_MAGIC, LABELS_MAGIC, IDXError, read_idx

ENV_VAR = "FASHION_MNIST_DIR"
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: split -> (images file, labels file), the official names.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: md5 of each official gzipped file (the same values torchvision checks).
MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: Label i is CLASSES[i].
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Mean and standard deviation of the real training images scaled to [0, 1].
MEAN, STD = 0.2860, 0.3530


class DataNotFound(FileNotFoundError):
    """The files are in none of the places searched; the message says how to get them."""


@dataclass
class FashionMNIST:
    """One split: ``images`` (N, 28, 28) uint8, ``labels`` (N,) int64, ``classes`` (10 names)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: Path

    def __len__(self) -> int:
        return self.images.shape[0]


def cache_dir() -> Path:
    """The per-user cache folder (it need not exist)."""
    from .. import user_cache

    return user_cache() / "fashion-mnist"


def candidate_dirs(root: str | Path | None = None) -> list[Path]:
    """The folders searched, in order: ``root``, ``$FASHION_MNIST_DIR``, the cache."""
    found = [Path(root)] if root is not None else []
    if os.environ.get(ENV_VAR):
        found.append(Path(os.environ[ENV_VAR]))
    found.append(cache_dir())
    return found


def _file_in(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_raw_dir(root: str | Path | None = None) -> Path | None:
    """The first searched folder holding all four files (either layout), else None."""
    names = [name for pair in FILES.values() for name in pair]
    for folder in candidate_dirs(root):
        for raw in (folder, folder / "FashionMNIST" / "raw"):
            if all(_file_in(raw, name) for name in names):
                return raw
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(root: str | Path | None = None, *, mirror: str = MIRROR, opener=None) -> Path:
    """Download the four files into ``root`` (default: ``$FASHION_MNIST_DIR``, else the cache)
    and return that folder.

    Each file goes to a temporary name in the same folder and is renamed into place
    only after its md5 matched :data:`MD5`; files already present with the right md5
    are kept. ``opener(url, timeout=)`` defaults to ``urllib.request.urlopen``. Raises :class:`DataNotFound` when offline, ``IDXError`` on an md5 mismatch.
    """
    opener = opener or urllib.request.urlopen
    target = Path(root) if root is not None else Path(os.environ.get(ENV_VAR) or cache_dir())
    target.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        final = target / name
        if final.is_file() and _md5(final) == md5:
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with opener(mirror + name, timeout=60) as response:
                        for chunk in iter(lambda: response.read(1 << 16), b""):
                            out.write(chunk)
                except (urllib.error.URLError, OSError) as err:
                    raise DataNotFound(f"could not download {mirror + name} ({err}).\n{_instructions()}") from err
            got = _md5(tmp)
            if got != md5:
                raise IDXError(f"{name} from {mirror}: md5 {got}, expected {md5} (corrupt download); nothing was saved")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _instructions() -> str:
    names = "\n".join(f"    {name}" for pair in FILES.values() for name in pair)
    searched = "\n".join(f"    {p}" for p in candidate_dirs())
    return (
        f"FashionMNIST needs these four files (gzipped or not):\n{names}\n"
        f"Put them in one of these folders (or in <folder>/FashionMNIST/raw/, torchvision's layout):\n{searched}\n"
        f"or point the environment variable {ENV_VAR} at the folder holding them.\n"
        f"To download them (about 30 MB) from {MIRROR}, run:\n    python -m autograder data fetch"
    )


def load_fashion_mnist(split: str = "train", root: str | Path | None = None, *, download: bool = False) -> FashionMNIST:
    """Load one split (``"train"``: 60000 images, ``"test"``: 10000) as tensors.

    Returns images (N, 28, 28) uint8 and labels (N,) int64 with the ten class names.
    ``download=True`` fetches missing files first. Raises :class:`DataNotFound` (with
    instructions) when the files are nowhere, and ``IDXError`` naming the file when
    one is malformed.
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, not {split!r}")
    raw = find_raw_dir(root)
    if raw is None and download:
        fetch(root)
        raw = find_raw_dir(root)
    if raw is None:
        raise DataNotFound(f"FashionMNIST files not found.\n{_instructions()}")
    image_file, label_file = (_file_in(raw, name) for name in FILES[split])
    images = read_idx(image_file, IMAGES_MAGIC, (28, 28))
    labels = read_idx(label_file, LABELS_MAGIC)
    if len(images) != len(labels):
        raise IDXError(f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels")
    if labels.size and labels.max() >= len(CLASSES):
        raise IDXError(f"{label_file}: label {int(labels.max())} out of range 0..{len(CLASSES) - 1}")
    return FashionMNIST(
        images=torch.from_numpy(images.copy()),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=CLASSES,
        source=raw,
    )


def to_float(images: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """uint8 images -> float32 ``(images / 255 - mean) / std``, same shape and device.

    ``to_float(x)`` scales to [0, 1]; ``to_float(x, MEAN, STD)`` also standardises with
    the real training set's statistics.
    """
    return (images.to(torch.float32) / 255.0 - mean) / std
