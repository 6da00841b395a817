"""The checks library: what every test cell calls (torch and numpy; safetensors for the grader).

Typical use in a test cell::

    from autograder.checks import check_forward
    check_forward(sigmoid, torch.sigmoid, allowed=ch.ALLOWED["sigmoid"])

The same call works on a function defined in this process (JupyterLab) and on a handle
on a function in the student's sandboxed kernel (the grader's referee).
"""
from .api import (check_backward, check_derivative, check_example, check_forward, check_raises, default_backward_args,
                  seed_all)
from .calls import CheckFailure, display_name, is_a, type_name, watched_call
from .side import LocalSide, side_of
from .cases import (DTYPES, EXTREME_VALUES, Case, dim_cases, elementwise_cases, extreme_tensor, randn,
                    random_extreme_tensor, shaped_tensors)
from .compare import TOLERANCES, assert_tensor_matches, tolerance
from .devices import available_devices, devices, grid
from .hints import Mismatch, matches, nonfinite_from_overflow, wrong_dim
from .ops import BASIC, basic
from .vjp import vjp

__all__ = [
    "BASIC", "Case", "CheckFailure", "DTYPES", "EXTREME_VALUES", "LocalSide", "Mismatch", "TOLERANCES",
    "assert_tensor_matches", "available_devices", "basic", "check_backward", "check_derivative", "check_example", "check_forward",
    "check_raises", "default_backward_args", "devices", "dim_cases", "display_name", "elementwise_cases",
    "extreme_tensor", "grid", "is_a", "matches", "nonfinite_from_overflow", "randn", "random_extreme_tensor",
    "seed_all", "shaped_tensors", "side_of", "tolerance", "type_name", "vjp", "watched_call", "wrong_dim",
]
