"""Chapter 2 (sigmoid): the hidden checks accept a right answer, refuse shortcuts, and
name each classic mistake (unit tests calling the checks directly), then the assignment
graded by real nbgrader (slow)."""
import pytest

from nbgrader_e2e import assert_grading
import torch
import torch.nn.functional as F

from autograder.chapters import sigmoid as ch
from autograder.checks import CheckFailure, check_backward, check_forward

CPU = {"devices": ["cpu"]}


def good_sigmoid(x):
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


def good_sigmoid_backward(y, grad_out):
    return grad_out * y * (1 - y)


def good_log_sigmoid(x):
    return torch.clamp(x, max=0) - torch.log1p(torch.exp(-x.abs()))


def good_log_sigmoid_backward(x, grad_out):
    return grad_out * good_sigmoid(-x)


def check(fn_name, fn, **kw):
    """The hidden test of ``fn_name`` (CPU, float32 and float64, extremes included)."""
    if fn_name == "sigmoid":
        check_forward(fn, torch.sigmoid, name=fn_name, allowed=ch.ALLOWED[fn_name], hints=ch.HINTS[fn_name], **CPU, **kw)
    elif fn_name == "sigmoid_backward":
        check_backward(fn, torch.sigmoid, name=fn_name, backward_args=ch.sigmoid_backward_args,
                       allowed=ch.ALLOWED[fn_name], hints=ch.HINTS[fn_name], **CPU, **kw)
    elif fn_name == "log_sigmoid":
        check_forward(fn, ch.log_sigmoid_reference, name=fn_name, allowed=ch.ALLOWED[fn_name],
                      hints=ch.HINTS[fn_name], **CPU, **kw)
    else:
        check_backward(fn, ch.log_sigmoid_reference, name=fn_name, allowed=ch.ALLOWED[fn_name],
                       hints=ch.HINTS[fn_name], **CPU, **kw)


def failure(fn_name, fn) -> str:
    with pytest.raises(CheckFailure) as err:
        check(fn_name, fn)
    return str(err.value)


@pytest.mark.parametrize("fn_name, fn", [
    ("sigmoid", good_sigmoid), ("sigmoid_backward", good_sigmoid_backward),
    ("log_sigmoid", good_log_sigmoid), ("log_sigmoid_backward", good_log_sigmoid_backward),
])
def test_stable_implementations_pass_every_hidden_case(fn_name, fn, capsys):
    check(fn_name, fn)
    assert capsys.readouterr().out.startswith(f"OK: {fn_name}")


def test_one_over_one_plus_exp_minus_x_saturates_in_torch_and_passes():
    # torch gives exactly 0 at x = -1000 (no NaN): within the absolute tolerance of sigmoid(-1000)
    check("sigmoid", lambda x: 1 / (1 + torch.exp(-x)))


def test_the_facts_the_exercise_states_about_the_two_forms_hold_in_float32():
    import warnings

    import numpy as np

    big, small = torch.tensor([89.0, 1000.0]), torch.tensor([-89.0, -1000.0])
    assert torch.isnan(torch.exp(big) / (1 + torch.exp(big))).all()       # inf / inf
    assert torch.equal(1 / (1 + torch.exp(-small)), torch.zeros(2))       # 1 / inf = 0, the right float32 value
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        1 / (1 + np.exp(-small.numpy()))
    assert any("overflow" in str(w.message) for w in caught)              # numpy warns
    leaf = small.clone().requires_grad_(True)
    (1 / (1 + torch.exp(-leaf))).sum().backward()
    assert torch.isnan(leaf.grad).all()                                   # autograd through it: nan


def test_the_instructions_say_which_form_fails_and_which_passes():
    from nbgrader_e2e import _cells_by_id, _text
    import json

    from autograder import REPO_ROOT

    text = _text(_cells_by_id(json.loads((REPO_ROOT / "solutions" / A / NB).read_text()))["sigmoid_md"])
    assert "`torch.exp(x) / (1 + torch.exp(x))` is `inf / inf` = `nan`" in text and "the tests fail it" in text
    assert "`1 / (1 + torch.exp(-x))`" in text and "the tests accept it" in text
    assert "NumPy warns" in text and "autograd through this formula gives `nan`" in text
    # the old text: "the first one computes e^{-x}, which overflows for large negative x" (and stopped there)
    assert "the first one computes" not in text


@pytest.mark.parametrize("fn_name, shortcut, op", [
    ("sigmoid", lambda x: torch.sigmoid(x), "sigmoid"),
    ("sigmoid", lambda x: torch.special.expit(x), "sigmoid"),
    ("sigmoid", lambda x: (1 + torch.tanh(x / 2)) / 2, "tanh"),
    ("sigmoid", lambda x: torch.softmax(torch.stack([x, torch.zeros_like(x)]), 0)[0], "softmax"),
    ("log_sigmoid", lambda x: F.logsigmoid(x), "log_sigmoid"),
    ("log_sigmoid", lambda x: -F.softplus(-x), "softplus"),
    ("log_sigmoid", lambda x: -torch.logaddexp(torch.zeros_like(x), -x), "logaddexp"),
    ("sigmoid_backward", lambda y, g: torch.ops.aten.sigmoid_backward(g, y), "sigmoid_backward"),
    ("log_sigmoid_backward", lambda x, g: g * torch.sigmoid(-x), "sigmoid"),
])
def test_library_shortcuts_are_refused_by_the_operator_they_run(fn_name, shortcut, op):
    message = failure(fn_name, shortcut)
    assert f"{fn_name} runs " in message and f"aten.{op}" in message, message


def test_unstable_sigmoid_gets_its_hint():
    message = failure("sigmoid", lambda x: torch.exp(x) / (1 + torch.exp(x)))
    assert "Hint: you computed exp(x) / (1 + exp(x))" in message


def test_sigmoid_backward_that_reapplies_sigmoid_to_the_saved_output_gets_its_hint():
    message = failure("sigmoid_backward", lambda y, g: g * good_sigmoid(y) * (1 - good_sigmoid(y)))
    assert "Hint: you applied sigmoid to y again" in message


def test_sigmoid_backward_without_grad_out_gets_its_hint():
    assert "multiply it by the upstream gradient" in failure("sigmoid_backward", lambda y, g: y * (1 - y))


@pytest.mark.parametrize("inner", [good_sigmoid, lambda x: 1 / (1 + torch.exp(-x))])
def test_log_of_sigmoid_gets_its_hint(inner):
    message = failure("log_sigmoid", lambda x: torch.log(inner(x)))
    assert "Hint: you computed log(sigmoid(x)) (or -log(1 + exp(-x)))" in message


def test_minus_log1p_exp_minus_x_gets_its_hint():
    message = failure("log_sigmoid", lambda x: -torch.log1p(torch.exp(-x)))
    assert "Hint: you computed log(sigmoid(x)) (or -log(1 + exp(-x)))" in message


def test_unstable_log_sigmoid_backward_gets_its_hint():
    message = failure("log_sigmoid_backward", lambda x, g: g * torch.exp(-x) / (1 + torch.exp(-x)))
    assert "Hint: you computed grad_out * exp(-x) / (1 + exp(-x))" in message


def test_log_sigmoid_backward_with_the_wrong_sign_gets_its_hint():
    message = failure("log_sigmoid_backward", lambda x, g: g * good_sigmoid(x))
    assert "is 1 - sigmoid(x) = sigmoid(-x), not sigmoid(x)" in message


# ---------------------------------------------------------------- graded by nbgrader

A, NB = "02-sigmoid", "sigmoid.ipynb"
ALL = {"test_sigmoid", "test_sigmoid_backward", "test_log_sigmoid", "test_log_sigmoid_backward"}

# Each classic mistake, the test cells that must catch it (and only those), and words the
# message of each must hold: the function at fault and what is wrong with its output.
_TWO_BRANCH = "return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))"
BUGS = {
    "unstable_sigmoid": (
        {"sigmoid_solution": (_TWO_BRANCH, "return torch.exp(x) / (1 + torch.exp(x))")},
        # log_sigmoid_backward is grad_out * sigmoid(-x) with the student's sigmoid: the NaN spreads to it
        {"test_sigmoid": ("sigmoid returned wrong values", "got nan", "you computed exp(x) / (1 + exp(x))"),
         "test_log_sigmoid_backward": ("log_sigmoid_backward: wrong gradient", "got nan")}),
    # the naive form is right in torch (1 / (1 + inf) = 0): the instructions say so, and it loses nothing
    "one_over_one_plus_exp_minus_x": (
        {"sigmoid_solution": (_TWO_BRANCH, "return 1 / (1 + torch.exp(-x))")}, {}),
    "backward_from_input": (
        {"sigmoid_backward_solution": ("return grad_out * y * (1 - y)",
                                       "s = sigmoid(y)\n    return grad_out * s * (1 - s)")},
        {"test_sigmoid_backward": ("sigmoid_backward: wrong gradient",
                                   "you applied sigmoid to y again")}),
    "backward_without_grad_out": (
        {"sigmoid_backward_solution": ("return grad_out * y * (1 - y)", "return y * (1 - y)")},
        {"test_sigmoid_backward": ("sigmoid_backward: wrong gradient",
                                   "multiply it by the upstream gradient grad_out")}),
    "log_of_sigmoid": (
        {"log_sigmoid_solution": ("return torch.clamp(x, max=0) - torch.log1p(torch.exp(-x.abs()))",
                                  "return torch.log(sigmoid(x))")},
        {"test_log_sigmoid": ("log_sigmoid returned wrong values", "got -inf", "you computed log(sigmoid(x))")}),
    "unstable_log_sigmoid_backward": (
        {"log_sigmoid_solution": ("return grad_out * sigmoid(-x)",
                                  "return grad_out * torch.exp(-x) / (1 + torch.exp(-x))")},
        {"test_log_sigmoid_backward": ("log_sigmoid_backward: wrong gradient", "got nan",
                                       "grad_out * exp(-x) / (1 + exp(-x))")}),
    "sigmoid_shortcut": (
        {"sigmoid_solution": (_TWO_BRANCH, "return torch.sigmoid(x)")},
        # the shortcut is called by log_sigmoid_backward too (through the student's sigmoid)
        {"test_sigmoid": ("`sigmoid` uses torch's sigmoid",),
         "test_log_sigmoid_backward": ("`log_sigmoid_backward` uses torch's sigmoid through `sigmoid`",)}),
    "sigmoid_backward_in_place": (
        {"sigmoid_backward_solution": ("return grad_out * y * (1 - y)", "grad_out *= y * (1 - y)\n    return grad_out")},
        {"test_sigmoid_backward": ("sigmoid_backward modified its input `grad_out` in place",
                                   "no `grad_out += ...`")}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)
