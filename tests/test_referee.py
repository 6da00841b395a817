"""The referee's own parts: which names a test cell takes from the notebook, and how a test
cell's verdict and outputs are made (the static check: tests/test_static_check.py)."""
from __future__ import annotations


from autograder.checks.context import Settings
from autograder.referee.cell import run_test_cell
from autograder.referee.names import free_names


def test_free_names_are_what_the_cell_uses_but_never_binds():
    source = (
        "from autograder.checks import check_forward\n"
        "relu = Relu()\n"
        "x = torch.ones(2)\n"
        "assert relu.forward(x) is not None, f'{step(x)}'\n"
        "f = lambda: sigmoid(x) + [tanh(v) for v in x][0]\n"
        "print(len(x))\n"
    )
    assert free_names(source) == {"Relu", "torch", "step", "sigmoid", "tanh"}


def test_a_cell_passes_only_when_it_runs_to_its_end_here():
    ok = run_test_cell("t", "print('fine')", "import torch", None, Settings())
    assert ok.result.passed and ok.stdout == "fine\n" and ok.outputs() == [
        {"output_type": "stream", "name": "stdout", "text": "fine\n"}]
    bad = run_test_cell("t", "assert 1 == 2, 'one is not two'", "", None, Settings())
    assert not bad.result.passed and bad.result.error_type == "AssertionError" and bad.result.message == "one is not two"
    assert bad.outputs()[-1]["output_type"] == "error"


def test_a_name_the_notebook_lacks_fails_with_advice_not_a_crash():
    from autograder.referee.session import Trouble

    done = run_test_cell("t", "sigmoid(1)", "", None, Settings())
    assert not done.result.passed and done.trouble is Trouble.BROKEN  # no kernel at all: a grading error, said
    assert done.result.error_type == "GradingError" and "kernel is not running" in done.result.message


def test_the_checks_run_under_the_runs_secret_seed():
    source = ("from autograder.checks import randn\n"
              "print(float(randn((1,), torch.float64, 'cpu', 0)))")
    public = run_test_cell("t", source, "import torch", None, Settings())
    secret = run_test_cell("t", source, "import torch", None, Settings(secret=987654321))
    assert public.result.passed and secret.result.passed and public.stdout != secret.stdout
