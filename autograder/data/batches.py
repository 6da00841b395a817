"""Mini-batches straight from tensors already in memory (no per-sample Dataset)."""
from __future__ import annotations

from typing import Iterator

import torch


def batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int = 64, *, shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(X, y)`` slices: X ``(B, ...)`` from ``images``, y ``(B,)`` from ``labels``.

    One index tensor per epoch (a permutation when ``shuffle``), then one gather per
    batch, on whatever device the tensors live; the last batch may be smaller.
    """
    n = images.shape[0]
    if labels.shape[0] != n:
        raise ValueError(f"batches: {n} images but {labels.shape[0]} labels")
    if shuffle:
        order = torch.randperm(n, generator=generator).to(images.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield images[idx], labels[idx]
    else:
        for start in range(0, n, batch_size):
            yield images[start:start + batch_size], labels[start:start + batch_size]
