"""Which torch operators a solution may use: allow-lists of aten operators.

An exercise asks students to compute something (sigmoid, softmax, a loss...) from basic
operations. The checks record the aten operators a call ran (best effort, see
:mod:`autograder_kernel.recorder`) and refuse any that is not on the exercise's
allow-list, so torch's own version fails under every name and alias, and so does any
other library operator that happens to compute the same thing (``glu``, ``logaddexp2``,
``_masked_softmax``...), without anyone having to think of it. Names are normalised:
``sigmoid_`` (in place) and ``sigmoid.out`` count as ``sigmoid``.

:data:`BASIC` is what every exercise allows: arithmetic, exp and log, comparisons and
``where``, reductions, shapes and views, indexing, tensor creation, random numbers and
matrix products. Chapters subtract what would give their answer away (``max`` and
``argmax`` for an exercise that implements them) or add what a layer needs (``addmm``).
"""
from __future__ import annotations

ARITHMETIC = frozenset({
    "add", "sub", "rsub", "mul", "div", "neg", "reciprocal", "pow", "float_power", "square", "abs", "absolute",
    "sign", "sgn", "floor", "ceil", "round", "trunc", "frac", "fmod", "remainder", "floor_divide", "true_divide",
    "addcmul", "addcdiv", "lerp", "copysign", "clamp", "clamp_min", "clamp_max", "clip", "maximum", "minimum",
    "fmax", "fmin", "__rsub__", "__radd__", "__rmul__", "__rtruediv__", "__rpow__",
})
EXP_LOG = frozenset({
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos", "sinh", "cosh",
})
COMPARE = frozenset({
    "eq", "ne", "gt", "ge", "lt", "le", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose", "equal", "logical_and", "logical_or",
    "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "__and__",
    "__or__", "__xor__", "__invert__", "where", "masked_fill", "nan_to_num",
})
REDUCE = frozenset({
    "sum", "mean", "prod", "amax", "amin", "max", "min", "argmax", "argmin", "aminmax", "any", "all",
    "count_nonzero", "cumsum", "cumprod", "std", "var", "std_mean", "var_mean", "nansum", "sort", "argsort", "topk",
    "kthvalue", "cummax", "cummin", "mode", "median",
})
SHAPE = frozenset({
    "view", "reshape", "_reshape_alias", "_unsafe_view", "expand", "expand_as", "t", "transpose", "permute",
    "unsqueeze", "squeeze", "flatten", "unflatten", "movedim", "swapaxes", "swapdims", "select", "slice", "narrow",
    "diagonal", "as_strided", "alias", "detach", "contiguous", "clone", "unbind", "split", "split_with_sizes",
    "chunk", "cat", "stack", "hstack", "vstack", "repeat", "tile", "flip", "roll", "broadcast_to", "view_as",
    "lift_fresh", "lift_fresh_copy", "_to_copy", "to", "copy", "_copy_from", "_copy_from_and_resize", "type_as",
    "resize", "set", "_unsafe_index", "unfold",
})
INDEX = frozenset({
    "index", "index_put", "_index_put_impl", "index_select", "gather", "scatter", "scatter_add", "index_add",
    "index_fill", "index_copy", "masked_select", "masked_scatter", "take", "take_along_dim", "nonzero",
    "one_hot", "diag", "diag_embed", "tril", "triu", "eye", "bincount",
})
CREATE = frozenset({
    "zeros", "ones", "full", "empty", "empty_strided", "zeros_like", "ones_like", "full_like", "empty_like",
    "arange", "linspace", "scalar_tensor", "new_zeros", "new_ones", "new_full", "new_empty", "new_empty_strided",
    "fill", "zero", "_local_scalar_dense", "is_nonzero", "item", "sym_size", "sym_numel", "sym_stride",
})
RANDOM = frozenset({
    "uniform", "normal", "rand", "randn", "randint", "bernoulli", "randperm", "random", "rand_like", "randn_like",
    "exponential",
})
MATMUL = frozenset({"mm", "bmm", "matmul", "dot", "vdot", "mv", "outer", "ger", "einsum", "tensordot", "_unsafe_view"})
#: What a fully connected layer's forward runs through ``F.linear`` / ``torch.addmm``.
LINEAR = frozenset({"addmm", "addmv", "addbmm", "baddbmm", "linear"})

#: The basic operations every exercise allows.
BASIC = ARITHMETIC | EXP_LOG | COMPARE | REDUCE | SHAPE | INDEX | CREATE | RANDOM | MATMUL


def basic(*, minus: frozenset[str] | set[str] = frozenset(), plus: frozenset[str] | set[str] = frozenset()) -> frozenset[str]:
    """:data:`BASIC` without ``minus`` and with ``plus`` (normalised op names)."""
    unknown = set(minus) - BASIC
    if unknown:
        raise ValueError(f"not basic operators, nothing to remove: {sorted(unknown)}")
    return (BASIC - frozenset(minus)) | frozenset(plus)


def not_allowed(used: frozenset[str] | set[str], allowed: frozenset[str]) -> list[str]:
    """The operators in ``used`` that ``allowed`` does not hold, sorted."""
    return sorted(set(used) - allowed)


#: How the rules paragraph names the basic operations, family by family (examples of each).
FAMILIES = (
    ("arithmetic", "`+ - * / // **`, `abs`, `sign`, `clamp`, `maximum`, `floor`"),
    ("exponentials", "`exp`, `log`, `log1p`, `expm1`, `sqrt`"),
    ("comparisons and selection", "`> == <`, masks, `torch.where`, `masked_fill`, `isnan`"),
    ("reductions", "`sum`, `mean`, `amax`, `amin`, `max`, `argmax`, `cumsum`, `sort`"),
    ("shapes and views", "`reshape`, `view`, `transpose`, `unsqueeze`, `cat`, `stack`, `expand`"),
    ("indexing", "`x[...]`, `gather`, `scatter`, `index_select`, `one_hot`"),
    ("creating tensors", "`zeros_like`, `ones`, `full`, `arange`, `new_tensor`, random numbers"),
    ("matrix products", "`@`, `matmul`, `mm`, `einsum`"),
)
