"""The referee's own parts: which names a test cell takes from the notebook, how a test
cell's verdict and outputs are made, and the static scan of answer cells."""
from __future__ import annotations

import pytest

from autograder.checks.context import Settings
from autograder.referee.cell import run_test_cell
from autograder.referee.names import free_names
from autograder.referee.scan import scan


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
    assert ok.passed and ok.stdout == "fine\n" and ok.outputs() == [
        {"output_type": "stream", "name": "stdout", "text": "fine\n"}]
    bad = run_test_cell("t", "assert 1 == 2, 'one is not two'", "", None, Settings())
    assert not bad.passed and bad.error_type == "AssertionError" and bad.message == "one is not two"
    assert bad.outputs()[-1]["output_type"] == "error"


def test_a_name_the_notebook_lacks_fails_with_advice_not_a_crash():
    outcome = run_test_cell("t", "sigmoid(1)", "", None, Settings())
    assert not outcome.passed and outcome.channel  # no kernel at all: a grading error, clearly said


def test_the_checks_run_under_the_runs_secret_seed():
    source = ("from autograder.checks import randn\n"
              "print(float(randn((1,), torch.float64, 'cpu', 0)))")
    public = run_test_cell("t", source, "import torch", None, Settings())
    secret = run_test_cell("t", source, "import torch", None, Settings(secret=987654321))
    assert public.passed and secret.passed and public.stdout != secret.stdout


HONEST = """
import math
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

def sigmoid(x):
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    def forward(self, x):
        return self.layers(x)

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
model = Net()
for m in model.modules():
    print(type(m).__name__, m.__class__.__name__)
sum = 0
print(max(1, 2), getattr(model, "layers"), isinstance(model, nn.Module))
%matplotlib inline
"""


def test_honest_answers_raise_no_flag():
    assert scan([(0, HONEST)]) == []


@pytest.mark.parametrize("code, why", [
    ("import sys\nf = sys._getframe(1).f_locals['expected']", "frame access"),
    ("import gc\nobjs = gc.get_objects()", "garbage-collector"),
    ("import ctypes\nctypes.string_at(0)", "raw memory"),
    ("get_ipython().ast_transformers.append(t)", "IPython"),
    ("ip = get_ipython()\nip.set_custom_exc((Exception,), h)", "IPython exception hook"),
    ("import sys\nsys.addaudithook(h)", "audit hook"),
    ("import sys\nsys.settrace(f)", "trace hook"),
    ("exec('x = 1')", "from a string"),
    ("eval(compile('1', 'x', 'eval'))", "from a string"),
    ("guards = ().__class__.__base__.__subclasses__()", "walking every class"),
    ("import importlib\nm = importlib.import_module('autograder')", "importing by name"),
    ("m = __import__('os')", "__import__"),
    ("import torch\ntorch.sigmoid = lambda x: x", "rebinding a library"),
    ("import torch\nsetattr(torch.Tensor, 'sigmoid', f)", "rebinding"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", "builtins"),
    ("from torch.utils._python_dispatch import _disable_current_modes", "torch modes"),
    ("import torch\nwith torch._C._DisableTorchDispatch():\n    pass", "torch's C internals"),
    ("import sys\ndel sys.modules['autograder_kernel.recorder']", "sys"),
    ("f.__code__ = g.__code__", "code object"),
    ("import os\nos._exit(0)", "ending the process"),
])
def test_each_escape_hatch_is_quoted_with_its_line(code, why):
    flags = scan([(3, code)])
    assert flags, code
    assert any(why in f.reason for f in flags), [f.reason for f in flags]
    assert all(f.cell == 3 and f.text.strip() in code for f in flags)
    assert flags[0].quote().startswith("cell 4, line ")


def test_a_cell_that_is_not_python_is_skipped_not_a_crash():
    assert scan([(0, "def broken(:\n    pass")]) == []
