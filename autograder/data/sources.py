"""Which FashionMNIST the course's pages use: the full data set when its files are found,
else the real sample shipped with the course; and a validation split carved from training.

The synthetic stand-in (``standin.py``) is never chosen here: it is for tests and the
speed benchmark only.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .fashion_mnist import DataNotFound, FashionMNIST, load_fashion_mnist
from .sample import SPRITE, load_sample


class DataKind(enum.Enum):
    """Where a page's images came from."""

    FULL = "the full FashionMNIST data set"
    SAMPLE = "the FashionMNIST sample shipped with the course"


@dataclass
class CourseData:
    """Both splits and where they came from."""

    kind: DataKind
    train: FashionMNIST
    test: FashionMNIST


def load_course_data(root: str | Path | None = None) -> CourseData:
    """The full data set when its four files are found (``root``, ``$FASHION_MNIST_DIR``,
    the cache: see ``load_fashion_mnist``), else the shipped sample. Raises
    :class:`DataNotFound` when neither is there (a checkout without its assets)."""
    try:
        return CourseData(DataKind.FULL, load_fashion_mnist("train", root), load_fashion_mnist("test", root))
    except DataNotFound:
        pass
    if not SPRITE.is_file():
        raise DataNotFound(f"neither the full FashionMNIST files nor the shipped sample ({SPRITE}) were found")
    return CourseData(DataKind.SAMPLE, load_sample("train"), load_sample("test"))


def subset(data: FashionMNIST, index: torch.Tensor) -> FashionMNIST:
    """The images and labels at ``index`` (a 1-d int64 tensor), same classes and source."""
    return replace(data, images=data.images[index], labels=data.labels[index])


def carve_validation(data: FashionMNIST, per_class: int, seed: int = 0) -> tuple[FashionMNIST, FashionMNIST]:
    """Split a training set into (train, validation): ``per_class`` images of each class,
    drawn at random (seeded), go to validation; the rest, in their original order, stay."""
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for label in range(len(data.classes)):
        members = (data.labels == label).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} images, fewer than {per_class}")
        chosen.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
    val = torch.cat(chosen).sort().values
    keep = torch.ones(len(data.labels), dtype=torch.bool)
    keep[val] = False
    return subset(data, keep.nonzero().flatten()), subset(data, val)
