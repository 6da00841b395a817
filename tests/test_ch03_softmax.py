"""Chapter 3 (softmax): the hidden checks accept a right answer on every dim, refuse
shortcuts, and name each classic mistake (unit tests calling the checks directly), then
the assignment graded by real nbgrader (slow)."""
import pytest

from nbgrader_e2e import assert_grading
import torch

from autograder.chapters import softmax as ch
from autograder.checks import CheckFailure, check_backward, check_forward
from autograder.checks.cases import Case

CPU = {"devices": ["cpu"]}


def good_softmax(x, dim):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def good_log_softmax(x, dim):
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def good_softmax_backward(s, grad_out, dim):
    return s * (grad_out - (grad_out * s).sum(dim=dim, keepdim=True))


def good_log_softmax_backward(ls, grad_out, dim):
    return grad_out - torch.exp(ls) * grad_out.sum(dim=dim, keepdim=True)


REFERENCE = {"softmax": torch.softmax, "log_softmax": torch.log_softmax,
             "softmax_backward": torch.softmax, "log_softmax_backward": torch.log_softmax}


def check(fn_name, fn):
    """The hidden test of ``fn_name`` (CPU, float32 and float64, every dim, extremes)."""
    common = dict(name=fn_name, cases=ch.all_cases, allowed=ch.ALLOWED[fn_name], hints=ch.HINTS[fn_name], **CPU)
    if fn_name.endswith("_backward"):
        check_backward(fn, REFERENCE[fn_name], backward_args=ch.backward_args, **common)
    else:
        check_forward(fn, REFERENCE[fn_name], **common)


def failure(fn_name, fn) -> str:
    with pytest.raises(CheckFailure) as err:
        check(fn_name, fn)
    return str(err.value)


@pytest.mark.parametrize("fn_name, fn", [
    ("softmax", good_softmax), ("log_softmax", good_log_softmax),
    ("softmax_backward", good_softmax_backward), ("log_softmax_backward", good_log_softmax_backward),
])
def test_stable_implementations_pass_every_hidden_case(fn_name, fn, capsys):
    check(fn_name, fn)
    assert capsys.readouterr().out.startswith(f"OK: {fn_name}")


def test_cases_cover_every_dim_of_1d_to_4d_square_and_extreme_inputs():
    cases = list(ch.all_cases("cpu", torch.float32))
    dims = {(c.x.dim(), c.kwargs["dim"]) for c in cases}
    for ndim in range(1, 5):
        assert {(ndim, d) for d in range(-ndim, ndim)} <= dims
    assert cases[0].label == "square 2-d" and cases[0].x.shape == (4, 4)
    extreme = [c.x for c in cases if c.label == "extreme values"]
    assert any(torch.equal(x, torch.tensor([1000.0, 0.0, -1000.0])) for x in extreme)


@pytest.mark.parametrize("fn_name, shortcut, op", [
    ("softmax", lambda x, dim: torch.softmax(x, dim), "softmax"),
    ("softmax", lambda x, dim: torch.nn.Softmax(dim=dim)(x), "softmax"),
    ("softmax", lambda x, dim: torch.exp(x - torch.logsumexp(x, dim, keepdim=True)), "logsumexp"),
    ("log_softmax", lambda x, dim: torch.log_softmax(x, dim), "log_softmax"),
    ("log_softmax", lambda x, dim: x - torch.logsumexp(x, dim, keepdim=True), "logsumexp"),
    ("softmax_backward", lambda s, g, dim: torch.ops.aten._softmax_backward_data(g, s, dim % s.dim(), s.dtype),
     "_softmax_backward_data"),
    ("log_softmax_backward", lambda ls, g, dim: torch.ops.aten._log_softmax_backward_data(g, ls, dim % ls.dim(),
                                                                                        ls.dtype),
     "_log_softmax_backward_data"),
])
def test_library_shortcuts_are_refused_by_the_operator_they_run(fn_name, shortcut, op):
    message = failure(fn_name, shortcut)
    assert f"{fn_name} runs " in message and f"aten.{op}" in message, message


def test_softmax_without_max_subtraction_gets_its_hint():
    message = failure("softmax", lambda x, dim: torch.exp(x) / torch.exp(x).sum(dim, keepdim=True))
    assert "without subtracting the max" in message and "extreme values" in message


def test_log_softmax_without_max_subtraction_gets_its_hint():
    message = failure("log_softmax", lambda x, dim: x - torch.log(torch.exp(x).sum(dim, keepdim=True)))
    assert "without subtracting the max" in message


def test_log_of_softmax_gets_its_hint():
    message = failure("log_softmax", lambda x, dim: torch.log(good_softmax(x, dim)))
    assert "you computed log(softmax(x))" in message


@pytest.mark.parametrize("hard_coded", [1, -1])
def test_softmax_with_a_hard_coded_dim_gets_its_hint(hard_coded):
    message = failure("softmax", lambda x, dim: good_softmax(x, hard_coded))
    assert "square 2-d" in message and "do not hard-code a dim" in message


def test_log_softmax_with_a_hard_coded_dim_gets_its_hint():
    assert "do not hard-code a dim" in failure("log_softmax", lambda x, dim: good_log_softmax(x, -1))


def test_softmax_without_keepdim_gets_its_hint():
    def no_keepdim(x, dim):
        e = torch.exp(x - x.amax(dim, keepdim=True))
        return e / e.sum(dim)

    message = failure("softmax", no_keepdim)
    assert "square 2-d" in message and "keepdim=True" in message


def test_softmax_backward_that_reapplies_softmax_gets_its_hint():
    message = failure("softmax_backward", lambda s, g, dim: good_softmax_backward(good_softmax(s, dim), g, dim))
    assert "you applied softmax to the saved output again" in message


def test_softmax_backward_without_keepdim_gets_its_hint():
    message = failure("softmax_backward", lambda s, g, dim: s * (g - (g * s).sum(dim)))
    assert "keepdim=True in the sum" in message


def test_softmax_backward_with_a_hard_coded_dim_gets_its_hint():
    message = failure("softmax_backward", lambda s, g, dim: good_softmax_backward(s, g, 1))
    assert "do not hard-code a dim" in message


def test_softmax_backward_with_only_the_diagonal_gets_its_hint():
    assert "only the diagonal of the Jacobian" in failure("softmax_backward", lambda s, g, dim: g * s * (1 - s))


def test_log_softmax_backward_using_log_probabilities_as_probabilities_gets_its_hint():
    message = failure("log_softmax_backward", lambda ls, g, dim: g - ls * g.sum(dim, keepdim=True))
    assert "the probabilities are exp(ls)" in message


def test_log_softmax_backward_with_a_hard_coded_dim_gets_its_hint():
    message = failure("log_softmax_backward", lambda ls, g, dim: good_log_softmax_backward(ls, g, -1))
    assert "do not hard-code a dim" in message


def test_wrong_dim_hint_stays_silent_on_a_1d_input_and_on_an_unrelated_error():
    x = torch.randn(4, 4)
    hint = ch.wrong_dim(lambda x, dim: torch.softmax(x, dim), "softmax")
    from autograder.checks.hints import Mismatch

    one_d = Case("1-d", (torch.randn(5),), {"dim": 0})
    assert hint(Mismatch("softmax", one_d, torch.zeros(5), torch.softmax(one_d.x, 0))) is None
    square = Case("square 2-d", (x,), {"dim": 0})
    assert hint(Mismatch("softmax", square, torch.zeros(4, 4), torch.softmax(x, 0))) is None
    assert "dim=1" in hint(Mismatch("softmax", square, torch.softmax(x, 1), torch.softmax(x, 0)))


# ---------------------------------------------------------------- graded by nbgrader

A, NB = "03-softmax", "softmax.ipynb"
ALL = {"test_softmax", "test_log_softmax", "test_softmax_backward", "test_log_softmax_backward"}
SOFTMAX_MAX = "e = torch.exp(x - x.amax(dim=dim, keepdim=True))"

# Each classic mistake and the one test cell that must catch it (the four functions are
# written independently, so no mistake spreads to another cell).
BUGS = {
    "softmax_without_max": ({"softmax_solution": (SOFTMAX_MAX, "e = torch.exp(x)")},
                            {"test_softmax": ("softmax returned wrong values", "got nan", "without subtracting the max")}),
    "softmax_dim_hard_coded_1": ({"softmax_solution": ("dim=dim", "dim=1")},
                                 {"test_softmax": ("softmax returned wrong values", "matches the one along dim=1")}),
    "softmax_dim_hard_coded_last": ({"softmax_solution": ("dim=dim", "dim=-1")},
                                    {"test_softmax": ("softmax returned wrong values", "matches the one along dim=1")}),
    "softmax_without_keepdim": ({"softmax_solution": ("e.sum(dim=dim, keepdim=True)", "e.sum(dim=dim)")},
                                {"test_softmax": ("softmax returned wrong values", "keepdim=True")}),
    "log_softmax_without_max": (
        {"log_softmax_solution": ("shifted = x - x.amax(dim=dim, keepdim=True)", "shifted = x")},
        {"test_log_softmax": ("log_softmax returned wrong values", "without subtracting the max")}),
    "log_of_softmax": (
        {"log_softmax_solution": ("return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))",
                                  "return torch.log(softmax(x, dim))")},
        {"test_log_softmax": ("log_softmax returned wrong values", "got -inf", "you computed log(softmax(x))")}),
    "softmax_backward_from_input": (
        {"softmax_backward_solution": ("return s * (", "s = softmax(s, dim)\n    return s * (")},
        {"test_softmax_backward": ("softmax_backward: wrong gradient", "applied softmax to the saved output again")}),
    "softmax_backward_without_keepdim": (
        {"softmax_backward_solution": ("(grad_out * s).sum(dim=dim, keepdim=True)", "(grad_out * s).sum(dim=dim)")},
        {"test_softmax_backward": ("softmax_backward: wrong gradient", "keepdim=True in the sum")}),
    "log_softmax_backward_dim_hard_coded": (
        {"log_softmax_backward_solution": ("dim=dim", "dim=-1")},
        {"test_log_softmax_backward": ("log_softmax_backward: wrong gradient", "matches the one along dim=1")}),
    "log_softmax_backward_log_probs_as_probs": (
        {"log_softmax_backward_solution": ("torch.exp(ls) * ", "ls * ")},
        {"test_log_softmax_backward": ("log_softmax_backward: wrong gradient", "the probabilities are exp(ls)")}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cell(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)
