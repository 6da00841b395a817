"""Which devices the checks run on.

Every available device by default: ``cpu``, plus ``cuda`` when
``torch.cuda.is_available()``. The environment variable ``AUTOGRADER_DEVICES``
(a comma-separated list such as ``cpu`` or ``cpu,cuda``) narrows the list; naming a
device that is not available is an error, not a silent skip.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator

import torch

ENV_VAR = "AUTOGRADER_DEVICES"


def available_devices() -> list[str]:
    """Devices present on this machine, in a fixed order: ``['cpu']`` or ``['cpu', 'cuda']``."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    return found


def devices() -> list[str]:
    """Devices the checks should use: the available ones, narrowed by ``AUTOGRADER_DEVICES``."""
    present = available_devices()
    wanted = os.environ.get(ENV_VAR, "").strip()
    if not wanted:
        return present
    chosen = [name.strip() for name in wanted.split(",") if name.strip()]
    missing = [name for name in chosen if name not in present]
    if missing:
        raise RuntimeError(
            f"{ENV_VAR}={wanted!r} names {missing}, but only {present} are available here"
        )
    return chosen


def grid(devices_: Iterable[str] | None = None, dtypes: Iterable[torch.dtype] | None = None) -> Iterator[tuple[str, torch.dtype]]:
    """Every ``(device, dtype)`` a check runs on: :func:`devices` (or ``devices_``) times
    float32 and float64 (or ``dtypes``). The one place the grid is spelled out."""
    from .cases import DTYPES

    for device in devices() if devices_ is None else devices_:
        for dtype in DTYPES if dtypes is None else dtypes:
            yield device, dtype
