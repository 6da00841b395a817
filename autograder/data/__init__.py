"""Datasets for the course: an IDX reader/writer, the FashionMNIST loader, the real sample
shipped with the course (900 images of the dataset's sprite), the choice between the two
for the book, and a small synthetic stand-in in the same format (for tests and benchmarks)."""
from .fashion_mnist import (
    CLASSES, FILES, MD5, MEAN, MIRROR, STD, DataNotFound, FashionMNIST, cache_dir, candidate_dirs, fetch, find_raw_dir, load_fashion_mnist,
    to_float,
)
from .idx import IDXError, read_idx, write_idx
from .batches import batches
from .sample import SPRITE, SPRITE_URL, load_sample, read_sprite, write_sample
from .sources import CourseData, DataKind, carve_validation, load_course_data, subset
from .standin import make_standin

__all__ = [
    "CLASSES", "FILES", "MD5", "MEAN", "MIRROR", "STD", "SPRITE", "SPRITE_URL", "CourseData", "DataKind", "DataNotFound",
    "FashionMNIST", "IDXError", "batches", "candidate_dirs", "cache_dir", "carve_validation", "fetch", "find_raw_dir",
    "load_course_data", "load_fashion_mnist", "load_sample", "make_standin", "read_idx", "read_sprite", "subset",
    "to_float", "write_idx", "write_sample",
]
