"""The checks library: what every test cell calls (depends only on torch and numpy).

Typical use in a test cell::

    from autograder.checks import check_forward
    check_forward(sigmoid, torch.sigmoid, forbidden=["aten.sigmoid"])
"""
from .api import check_backward, check_derivative, check_forward, check_raises, default_backward_args, seed_all
from .cases import DTYPES, EXTREME_VALUES, Case, dim_cases, elementwise_cases, extreme_tensor, randn, shaped_tensors
from .compare import TOLERANCES, assert_tensor_matches, tolerance
from .devices import available_devices, devices
from .guard import CheckFailure, watched_call
from .hints import Mismatch, matches, nonfinite_from_overflow, wrong_dim
from .vjp import vjp

__all__ = [
    "Case", "CheckFailure", "DTYPES", "EXTREME_VALUES", "Mismatch", "TOLERANCES",
    "assert_tensor_matches", "available_devices", "check_backward", "check_derivative", "check_forward", "check_raises",
    "default_backward_args", "devices", "dim_cases", "elementwise_cases", "extreme_tensor", "matches",
    "nonfinite_from_overflow", "randn", "wrong_dim", "seed_all", "shaped_tensors", "tolerance", "vjp", "watched_call",
]
