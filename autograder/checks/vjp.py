"""Autograd's vector-Jacobian product: the reference every backward check compares with."""
from __future__ import annotations

from typing import Sequence

import torch


def vjp(output: torch.Tensor, inputs: torch.Tensor | Sequence[torch.Tensor], upstream: torch.Tensor, *,
        allow_unused: bool = False) -> tuple[torch.Tensor | None, ...]:
    """The gradient of ``sum(output * upstream)`` with respect to each of ``inputs``.

    ``output`` and ``upstream`` have the same shape and dtype (any shape, 0-d included);
    the result is a tuple with one tensor (shaped like its input) per input, ``None`` for
    an unused one when ``allow_unused``. The numbers are those of
    ``torch.autograd.grad(output, inputs, upstream)``: the sum's backward hands exactly
    ``1.0 * upstream`` to ``output``. Passing ``upstream`` as ``grad_outputs`` instead
    makes torch import its symbolic-shape machinery (and sympy), 0.6 s at the first check
    in every fresh kernel.
    """
    if output.shape != upstream.shape or output.dtype != upstream.dtype:
        raise ValueError(f"vjp: upstream gradient {tuple(upstream.shape)} {upstream.dtype} does not match "
                         f"the output {tuple(output.shape)} {output.dtype}")
    return torch.autograd.grad((output * upstream).sum(), inputs, allow_unused=allow_unused)
