"""Datasets for the course: an IDX reader/writer, the FashionMNIST loader and a small
synthetic stand-in in the same format (for machines without the real files)."""
from .fashion_mnist import (
    CLASSES, FILES, MD5, MEAN, MIRROR, STD, DataNotFound, FashionMNIST, cache_dir, candidate_dirs, fetch, find_raw_dir, load_fashion_mnist,
    to_float,
)
from .idx import IDXError, read_idx, write_idx
from .batches import batches
from .standin import make_standin

__all__ = [
    "CLASSES", "FILES", "MD5", "MEAN", "MIRROR", "STD", "DataNotFound", "FashionMNIST", "IDXError", "batches", "candidate_dirs",
    "cache_dir", "fetch", "find_raw_dir", "load_fashion_mnist", "make_standin", "read_idx", "to_float", "write_idx",
]
