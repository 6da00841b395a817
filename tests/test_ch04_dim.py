"""Chapter 4 (`dim`): the hints fire on each classic mistake, check_raises, and the assignment
graded by real nbgrader (full marks, zero, and exactly-targeted losses)."""
import pytest

from nbgrader_e2e import assert_grading
import torch

from autograder.chapters import dim as ch
from autograder.checks import Case, CheckFailure, check_forward, check_raises

CPU32 = {"devices": ["cpu"], "dtypes": [torch.float32]}


# --- correct implementations (what the solution notebook holds) -------------------------

def normalize(x, dim):
    return x / x.sum(dim, keepdim=True)


def max_along(x, dim, keepdim=False):
    values = x.amax(dim, keepdim=True)
    n = x.shape[dim]
    shape = [1] * x.dim()
    shape[dim] = n
    positions = torch.arange(n, device=x.device).reshape(shape)
    indices = torch.where(x == values, positions, n).amin(dim, keepdim=True)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return values, indices


def softmax_channels(x):
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def _check_normalize(fn):
    check_forward(fn, ch.normalize_reference, name="normalize", cases=ch.normalize_cases,
                  allowed=ch.ALLOWED["normalize"], hints=ch.HINTS["normalize"], **CPU32)


def _check_max(fn):
    check_forward(ch.values_of(fn), ch.max_values_reference, name="max_along (values)", cases=ch.max_cases,
                  allowed=ch.ALLOWED["max_along"], hints=ch.HINTS["max_values"], **CPU32)
    check_forward(ch.indices_of(fn), ch.max_indices_reference, name="max_along (indices)", cases=ch.max_cases,
                  allowed=ch.ALLOWED["max_along"], hints=ch.HINTS["max_indices"], **CPU32)


def _check_softmax(fn):
    check_forward(fn, ch.softmax_channels_reference, name="softmax_channels", cases=ch.softmax_channels_cases,
                  allowed=ch.ALLOWED["softmax_channels"], hints=ch.HINTS["softmax_channels"], **CPU32)


def test_correct_implementations_pass_every_dim_and_dtype():
    for dtype in (torch.float32, torch.float64):
        kw = {"devices": ["cpu"], "dtypes": [dtype]}
        check_forward(normalize, ch.normalize_reference, cases=ch.normalize_cases, allowed=ch.ALLOWED["normalize"], **kw)
        check_forward(ch.values_of(max_along), ch.max_values_reference, cases=ch.max_cases, **kw)
        check_forward(ch.indices_of(max_along), ch.max_indices_reference, cases=ch.max_cases,
                      allowed=ch.ALLOWED["max_along"], **kw)
        check_forward(softmax_channels, ch.softmax_channels_reference, cases=ch.softmax_channels_cases,
                      allowed=ch.ALLOWED["softmax_channels"], **kw)


def test_normalize_cases_are_positive_cover_every_dim_and_start_square():
    cases = ch.normalize_cases("cpu", torch.float32)
    assert cases[0].label == "square 2-d"
    assert all(bool((c.x > 0).all()) for c in cases)
    assert {(c.x.dim(), c.kwargs["dim"]) for c in cases} >= {(n, d) for n in range(1, 5) for d in range(-n, n)}
    assert any(not c.x.is_contiguous() for c in cases)


def test_max_cases_try_both_keepdim_on_every_dim():
    cases = ch.max_cases("cpu", torch.float32)
    seen = {(c.x.dim(), c.kwargs["dim"], c.kwargs["keepdim"]) for c in cases}
    assert seen >= {(n, d, k) for n in range(1, 5) for d in range(-n, n) for k in (False, True)}


def test_softmax_cases_are_4d_with_n_equal_c_first_and_a_channels_last_input():
    cases = list(ch.softmax_channels_cases("cpu", torch.float32))
    assert all(c.x.dim() == 4 for c in cases)
    assert cases[0].x.shape[0] == cases[0].x.shape[1]
    assert any(not c.x.is_contiguous() for c in cases)


# --- each classic mistake fails with its hint -------------------------------------------

def _e(x, dims):
    return torch.exp(x - x.amax(dim=dims, keepdim=True))


MISTAKES = [
    # (check, buggy implementation, words the hint must contain)
    (_check_normalize, lambda x, dim: x / x.sum(-1, keepdim=True), "also written dim=-1"),
    (_check_normalize, lambda x, dim: x / x.sum(1, keepdim=True), "along dim=1"),
    (_check_normalize, lambda x, dim: x / x.sum(), "sum of ALL elements"),
    (_check_normalize, lambda x, dim: x / x.sum(dim), "without keepdim=True"),
    (_check_max, lambda x, dim, keepdim=False: max_along(x, -1, keepdim), "also written dim=-1"),
    (_check_max, lambda x, dim, keepdim=False: max_along(x, 1, keepdim), "along dim=1"),
    (_check_max, lambda x, dim, keepdim=False: (x.amax(), x.amax()), "max over ALL elements"),
    (_check_max, lambda x, dim, keepdim=False: max_along(x, dim, False), "with keepdim=True the result keeps"),
    (_check_max, lambda x, dim, keepdim=False: max_along(x, dim, True), "with keepdim=True the result keeps"),
    (_check_softmax, lambda x: _e(x, -1) / _e(x, -1).sum(-1, keepdim=True), "LAST dim"),
    (_check_softmax, lambda x: _e(x, 0) / _e(x, 0).sum(0, keepdim=True), "dim 0, the batch"),
    (_check_softmax, lambda x: torch.exp(x - x.amax()) / torch.exp(x - x.amax()).sum(), "over ALL elements"),
    (_check_softmax, lambda x: _e(x, 1) / _e(x, 1).sum(1), "without keepdim=True"),
]


@pytest.mark.parametrize("check, buggy, words", MISTAKES, ids=[f"{c.__name__}-{w}" for c, _, w in MISTAKES])
def test_classic_mistake_fails_with_its_hint(check, buggy, words):
    with pytest.raises(CheckFailure) as failure:
        check(buggy)
    assert "Hint: " in str(failure.value) and words in str(failure.value), str(failure.value)


def test_max_indices_hint_for_flattened_argmax():
    def flat(x, dim, keepdim=False):
        return max_along(x, dim, keepdim)[0], x.argmax()  # argmax is fine in a test's buggy function
    with pytest.raises(CheckFailure, match="flattened tensor"):
        check_forward(ch.indices_of(flat), ch.max_indices_reference, cases=ch.max_cases,
                      hints=ch.HINTS["max_indices"], **CPU32)


def test_max_along_returning_one_tensor_is_told_to_return_a_pair():
    with pytest.raises(CheckFailure, match=r"pair \(values, indices\)"):
        _check_max(lambda x, dim, keepdim=False: x.amax(dim, keepdim=keepdim))


@pytest.mark.parametrize("shortcut, check", [
    (lambda x, dim, keepdim=False: torch.max(x, dim, keepdim), _check_max),
    (lambda x, dim, keepdim=False: (x.amax(dim, keepdim=keepdim), x.argmax(dim, keepdim=keepdim)), _check_max),
    (lambda x: torch.nn.Softmax(dim=1)(x), _check_softmax),
    (lambda x: torch.log_softmax(x, 1).exp(), _check_softmax),
])
def test_one_call_shortcuts_are_refused(shortcut, check):
    with pytest.raises(CheckFailure, match="runs aten"):
        check(shortcut)


# --- check_raises (added to autograder.checks for this chapter) --------------------------

def test_check_raises_passes_when_fn_raises_like_torch(capsys):
    check_raises(normalize, IndexError, cases=ch.invalid_dim_cases, reference=ch.normalize_reference, **CPU32)
    check_raises(max_along, IndexError, cases=ch.invalid_dim_max_cases, reference=ch.max_values_reference, **CPU32)
    assert "OK: normalize raises IndexError on 8 cases" in capsys.readouterr().out


def test_check_raises_fails_when_fn_wraps_dim_silently():
    def wrapped(x, dim):
        return normalize(x, dim % x.dim())
    with pytest.raises(CheckFailure, match="returned a result .* it should raise IndexError") as failure:
        check_raises(wrapped, IndexError, cases=ch.invalid_dim_cases, advice=ch.INVALID_DIM_ADVICE, **CPU32)
    assert "Dimension out of range" in str(failure.value)


def test_check_raises_fails_on_the_wrong_exception_type():
    def wrong(x, dim):
        raise ValueError("bad dim")
    with pytest.raises(CheckFailure, match=r"^wrong raised ValueError: bad dim\n  on cpu, [^\n]*; torch raises IndexError"):
        check_raises(wrong, IndexError, cases=ch.invalid_dim_cases, **CPU32)


def test_check_raises_refuses_a_case_where_the_reference_does_not_raise():
    def valid(device, dtype):
        yield Case("2-d", (torch.ones(2, 3, device=device, dtype=dtype),), {"dim": 1})
    with pytest.raises(RuntimeError, match="reference does not raise"):
        check_raises(normalize, IndexError, cases=valid, reference=ch.normalize_reference, **CPU32)


# --- the assignment, graded end to end by nbgrader -------------------------------------

A, NB = "04-dim", "dim.ipynb"
ALL = {"test_normalize", "test_max_along", "test_softmax_channels", "test_invalid_dim"}
SOFTMAX_BODY = (
    "e = torch.exp(x - x.amax(dim=1, keepdim=True))  # every exponent <= 0: no overflow\n"
    "    return e / e.sum(dim=1, keepdim=True)"
)

# Each classic mistake and the test cells that must catch it (and only those).
BUGS = {
    # A hard-coded dim also stops the invalid-dim error: the function never looks at `dim`.
    "normalize_last_dim": ({"normalize_solution": ("x.sum(dim, keepdim=True)", "x.sum(-1, keepdim=True)")},
                           {"test_normalize": ("normalize returned wrong values", "matches the one along dim=1"),
                            "test_invalid_dim": ("normalize returned a result", "it should raise IndexError")}),
    "normalize_sum_all": ({"normalize_solution": ("x.sum(dim, keepdim=True)", "x.sum()")},
                          {"test_normalize": ("normalize returned wrong values", "the sum of ALL elements"),
                           "test_invalid_dim": ("normalize returned a result", "it should raise IndexError")}),
    # x.sum(dim) still raises IndexError for an invalid dim: only the values are wrong.
    "normalize_no_keepdim": ({"normalize_solution": ("x.sum(dim, keepdim=True)", "x.sum(dim)")},
                             {"test_normalize": ("normalize returned wrong values", "without keepdim=True")}),
    "max_dim_1": ({"max_solution": ("    values = x.amax(dim, keepdim=True)", "    dim = 1\n    values = x.amax(dim, keepdim=True)")},
                  {"test_max_along": ("max_along: wrong values", "matches the one along dim=1"),
                   "test_invalid_dim": ("max_along returned a result", "it should raise IndexError")}),
    "max_ignores_keepdim": ({"max_solution": ("if not keepdim:", "if True:")},
                            {"test_max_along": ("max_along returned its values with shape", "keepdim=True the result "
                                                                                            "keeps `dim`")}),
    # indices built with x's dtype: the dtype rule of the instructions, tried by the visible test
    "max_float_indices": ({"max_solution": ("torch.arange(n, device=x.device)", "torch.arange(n, device=x.device, dtype=x.dtype)")},
                          {"test_max_along": ("max_along returned its indices with dtype torch.float32",
                                              "expected torch.int64", "do not give them dtype=x.dtype")}),
    "softmax_last_dim": ({"softmax_solution": ("dim=1", "dim=-1")},
                         {"test_softmax_channels": ("softmax_channels returned wrong values", "the LAST dim")}),
    "softmax_sum_all": ({"softmax_solution": (SOFTMAX_BODY, "e = torch.exp(x - x.amax())\n    return e / e.sum()")},
                        {"test_softmax_channels": ("softmax_channels returned wrong values", "over ALL elements")}),
    "softmax_no_keepdim": ({"softmax_solution": ("e.sum(dim=1, keepdim=True)", "e.sum(dim=1)")},
                           {"test_softmax_channels": ("softmax_channels returned wrong values", "without keepdim=True")}),
    "softmax_shortcut": ({"softmax_solution": (SOFTMAX_BODY, "return torch.softmax(x, dim=1)")},
                         {"test_softmax_channels": ("`softmax_channels` uses torch's softmax",)}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)
