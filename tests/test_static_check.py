"""The static check of answer cells (autograder.referee.static): shortcuts a graded function
reaches fail its tests with the line quoted, code the check cannot read flags the row, and
what honest answers are written with does neither."""
from __future__ import annotations

import pytest

from autograder import notebook as nbfacts
from autograder import REPO_ROOT
from autograder.chapters import MODULES as ASSIGNMENTS
from autograder.chapters import exercise
from autograder.referee.static import check


def setup_of(assignment: str) -> str:
    """The import lines of the assignment's locked set-up cells, as grading passes them."""
    return "\n".join(nbfacts.setup_imports(nbfacts.read(p))
                     for p in sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb")))


def judged(assignment: str, code: str, tests: dict[str, int] | None = None):
    report = check([(3, code)], exercise(assignment), tests, setup_of(assignment))
    return [f.reason for f in report.flags], {g: v.message for g, v in report.violations.items()}


HONEST = [
    # an index that calls torch inside an assignment target (chapter 5's own page writes it)
    ("05-losses", "import torch\ndef nll_loss_backward(lp, y, g, weight=None, ignore_index=-100, reduction='mean'):\n"
                  "    n = lp.shape[0]\n    grad = torch.zeros_like(lp)\n"
                  "    grad[torch.arange(n, device=lp.device), y] = -g\n    return grad\n"),
    ("07-fashion-mnist", "import torch\ndef softmax_cross_entropy(logits, y):\n    n = logits.shape[0]\n"
                         "    z = logits - logits.amax(dim=1, keepdim=True)\n    p = z.exp() / z.exp().sum(1, keepdim=True)\n"
                         "    d = p.clone()\n    d[torch.arange(n, device=logits.device), y] -= 1\n"
                         "    return -(p[torch.arange(n), y]).log().mean(), d / n\n"),
    # getattr with a constant public name, isinstance, asserts, prints, magics, plots, settings
    ("01-activations", "import torch\nimport numpy as np\nimport math\n%time x = 1\n%matplotlib inline\n!pip list\n"
                       "def relu(x: torch.Tensor) -> torch.Tensor:\n    assert isinstance(x, torch.Tensor)\n"
                       "    print(getattr(x, 'shape'), type(x).__name__, x.__class__.__name__)\n"
                       "    return x.clamp(min=0)\n"
                       "torch.set_default_dtype(torch.float64)\ntorch.manual_seed(0)\nnp.random.seed(0)\n"
                       "with torch.no_grad():\n    pass\nwith torch.inference_mode():\n    pass\n"
                       "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (4, 3)\n"
                       "torch.backends.cudnn.deterministic = True\n"),
    # sign arithmetic for step; clamp for ReLU
    ("01-activations", "import torch\ndef step(x):\n    return (torch.sign(x) + 1) // 2\n"
                       "def relu(x):\n    return torch.clamp(x, min=0)\n"),
    # torch.finfo(...).min as a start value is not torch's min; amax is allowed in max_along
    ("04-dim", "import torch\ndef max_along(x, dim, keepdim=False):\n    low = torch.finfo(x.dtype).min\n"
               "    m = x.amax(dim, keepdim=True)\n    idx = torch.arange(x.shape[dim], device=x.device)\n"
               "    return m, low\n"),
    # an nn.Module network, a DataLoader, an optimizer and autograd in training (chapter 7)
    ("07-fashion-mnist", "import torch\nfrom torch import nn\nfrom torch.utils.data import DataLoader, TensorDataset\n"
                         "class NeuralNetwork(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                         "        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(),\n"
                         "                                 nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))\n"
                         "    def forward(self, x):\n        return self.net(x)\n"
                         "def train_one_epoch(model, batches, loss_fn, optimizer, device):\n    model.train()\n"
                         "    for X, y in batches:\n        loss = loss_fn(model(X.to(device)), y.to(device))\n"
                         "        optimizer.zero_grad()\n        loss.backward()\n        optimizer.step()\n"
                         "    return float(loss)\n"
                         "def evaluate(model, batches, loss_fn, device):\n    model.eval()\n"
                         "    with torch.no_grad():\n        return 0.0, 0.0\n"),
    # layers whose Sequential calls each layer's backward (a method the student defines)
    ("06-layers", "import torch\nclass Relu:\n    def forward(self, x):\n        self.mask = x > 0\n"
                  "        return torch.where(self.mask, x, 0)\n    def backward(self, grad_out):\n"
                  "        return torch.where(self.mask, grad_out, 0)\n"
                  "class Sequential:\n    def __init__(self, *layers):\n        self.layers = layers\n"
                  "    def backward(self, grad_out):\n        for layer in reversed(self.layers):\n"
                  "            grad_out = layer.backward(grad_out)\n        return grad_out\n"),
    # torch as the set-up cell imported it: public modules, settings, dtype facts, an init helper
    ("06-layers", "class Linear:\n    def __init__(self, n_in, n_out, device=None, dtype=None):\n"
                  "        self.weight = torch.empty(n_out, n_in, device=device, dtype=dtype)\n"
                  "        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))\n"
                  "        self.eps = torch.finfo(self.weight.dtype).eps\n"
                  "torch.set_printoptions(precision=4)\n"),
    # the course's package imported as the book does (absent when grading: the import fails there)
    ("07-fashion-mnist", "from autograder.data import load_sample\n"),
]


@pytest.mark.parametrize("assignment, code", HONEST)
def test_honest_styles_are_neither_flagged_nor_refused(assignment, code):
    assert judged(assignment, code) == ([], {})


def test_every_solution_passes_the_static_check_of_its_own_exercise():
    for assignment in ASSIGNMENTS:
        for path in sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb")):
            nb = nbfacts.read(path)
            cells = [(i, nbfacts.solution_code(nbfacts.source(c))) for i, c in enumerate(nb.cells)
                     if nbfacts.kind(c) is nbfacts.CellKind.ANSWER]
            report = check(cells, exercise(assignment), None, setup_of(assignment))
            assert (report.flags, report.violations) == ([], {}), assignment


SHORTCUTS = [
    # (assignment, code, test that must fail, words its message must hold)
    ("03-softmax", "def softmax(x, dim):\n    return x.softmax(dim)\n", "test_softmax", "`return x.softmax(dim)`"),
    ("03-softmax", "import torch.nn.functional as F\nsm = F.softmax\ndef helper(x, d):\n    return sm(x, d)\n"
                   "def softmax(x, dim):\n    return helper(x, dim)\n", "test_softmax", "through `helper` -> `sm`"),
    ("03-softmax", "import torch\ndef log_softmax(x, dim):\n    return x - torch.logsumexp(x, dim, keepdim=True)\n",
     "test_log_softmax", "torch's log-softmax and logsumexp"),
    ("03-softmax", "import torch\ndef log_softmax(x, dim):\n    return getattr(torch, 'log_softmax')(x, dim)\n",
     "test_log_softmax", "getattr(torch, 'log_softmax')"),
    ("03-softmax", "from torch import softmax\n", "test_softmax", "from torch import softmax"),
    ("03-softmax", "import torch\nsoftmax = lambda x, dim: torch.special.softmax(x, dim)\n", "test_softmax",
     "torch.special.softmax"),
    ("03-softmax", "import torch\ndef setup():\n    global softmax\n    softmax = torch.softmax\n", "test_softmax",
     "softmax = torch.softmax"),
    ("02-sigmoid", "import torch\ndef sigmoid_backward(y, g):\n    y.backward(g)\n    return y.grad\n",
     "test_sigmoid_backward", "uses autograd"),
    ("01-activations", "import torch\nACT = {'s': torch.nn.Sigmoid()}\ndef tanh(x):\n    return 2 * ACT['s'](2 * x) - 1\n",
     "test_tanh", "torch's sigmoid"),
    ("06-layers", "import torch\nclass Relu(torch.nn.ReLU):\n    pass\n", "test_relu", "class Relu(torch.nn.ReLU)"),
    ("06-layers", "import torch\nclass Linear:\n    @property\n    def grad_weight(self):\n"
                  "        return torch.autograd.grad(self.y, self.w)\n", "test_linear", "uses autograd"),
    ("06-layers", "class Relu:\n    def forward(self, x):\n        xg = x.detach().requires_grad_()\n"
                  "        self.y = torch.where(xg > 0, xg, 0)\n"
                  "        return self.y.detach()\n    def backward(self, grad_out):\n"
                  "        return self.y.grad_fn(grad_out)\n", "test_relu", "`return self.y.grad_fn(grad_out)`"),
    ("04-dim", "def max_along(x, dim, keepdim=False):\n    return x.max(dim, keepdim=keepdim)\n", "test_max_along",
     "torch's max and argmax"),
    ("05-losses", "import torch.nn.functional as F\ndef cross_entropy(z, t, weight=None, ignore_index=-100, "
                  "reduction='mean'):\n    return F.cross_entropy(z, t)\n", "test_cross_entropy_extreme", "F.cross_entropy"),
    ("07-fashion-mnist", "def evaluate(model, batches, loss_fn, device):\n    model.eval()\n    return 0.0, 0.0\n",
     "test_evaluate", "does not turn gradient tracking off"),
    ("07-fashion-mnist", "import torch.nn.functional as F\ndef mlp_forward(params, x):\n"
                         "    return F.linear(x, params['W1'], params['b1']), None\n", "test_mlp_backward", "F.linear"),
]


@pytest.mark.parametrize("assignment, code, test, words", SHORTCUTS)
def test_a_shortcut_reached_fails_the_functions_tests_with_the_line_quoted(assignment, code, test, words):
    _, violations = judged(assignment, code)
    assert test in violations, violations
    assert words in violations[test] and "cell 4, line " in violations[test]


def test_only_the_definition_in_effect_when_the_test_runs_is_judged():
    code_cells = [(2, "import torch\ndef softmax(x, dim):\n    return torch.softmax(x, dim)\n"),
                  (4, "import torch\ndef softmax(x, dim):\n    e = torch.exp(x - x.amax(dim, keepdim=True))\n"
                      "    return e / e.sum(dim, keepdim=True)\n")]
    fixed_before_test = check(code_cells, exercise("03-softmax"), {"test_softmax": 5})
    assert fixed_before_test.violations == {}
    shortcut_before_test = check(code_cells, exercise("03-softmax"), {"test_softmax": 3})
    assert "test_softmax" in shortcut_before_test.violations


OPAQUE = [
    ("from concurrent.futures import ThreadPoolExecutor", "threads"),
    ("import threading", "threads"),
    ("import _thread", "threads"),
    ("import multiprocessing", "other processes"),
    ("import torch.multiprocessing as mp", "other processes"),
    ("import asyncio", "event loop"),
    ("import os\nos.fork()", "os.fork"),
    ("import subprocess", "other processes"),
    ("import torch\nC = getattr(torch, '_' + 'C')", "name built at run time"),
    ("import torch\nf = vars(torch)['soft' + 'max']", "vars"),
    ("import torch\nf = torch.__dict__['softmax']", "__dict__"),
    ("g = globals()['sigmoid']", "globals"),
    ("_run = exec", "exec"),
    ("import functools\nget = functools.partial(getattr)", "getattr handed around"),
    ("import builtins\nf = builtins.__dict__['ev' + 'al']", "the builtins module"),
    ("import importlib\nm = importlib.import_module('torch')", "importing by name"),
    ("import pkgutil\nf = pkgutil.resolve_name('torch.softmax')", "importing by name"),
    ("import operator, sys\nm = operator.attrgetter('modules')(sys)", "attribute access by name"),
    ("from sys import modules", "sys.modules"),
    ("import sys\nsys.modules['x'] = None", "sys.modules"),
    ("import sys\nf = sys._getframe(1).f_locals['expected']", "frame access"),
    ("import runpy\nrunpy.run_path('/tmp/a.py')", "running a file"),
    ("%%writefile /tmp/a.py\nimport torch", "%writefile"),
    ("%run /tmp/a.py", "%run"),
    ("def f(x):\n    !python -c 1\n    return x", "shell command"),
    ("out = !python -c 1", "shell command"),
    ("import torch\nv = torch.autograd.Variable._execution_engine", "autograd's engine"),
    ("import torch\nfrom torch.utils._python_dispatch import _disable_current_modes", "private internals"),
    ("import torch\ntorch.sigmoid = lambda x: x", "rebinding a library"),
    ("import torch\nsetattr(torch.Tensor, 'sigmoid', f)", "rebinding"),
    ("import torch.nn.functional as F\nF.relu = abs", "rebinding"),
    ("import ctypes", "raw memory"),
    ("import gc\nobjs = gc.get_objects()", "reaching any object"),
    ("get_ipython().ast_transformers.append(t)", "IPython"),
    ("guards = ().__class__.__base__.__subclasses__()", "walking every class"),
    ("m = __import__('os')", "__import__"),
    ("import autograder_kernel.recorder as r", "the grader's own code"),
    ("import torch\nf = torch.ops.aten._softmax", "operator registry"),
    ("import torch\nclass F(torch.autograd.Function):\n    pass", "custom autograd function"),
    ("from torch.nn.functional import *", "cannot see"),
    ("import scipy.special", "outside this exercise's list"),
]


@pytest.mark.parametrize("code, why", OPAQUE)
def test_code_the_check_cannot_read_flags_the_row_with_its_line(code, why):
    report = check([(3, code)], exercise("03-softmax"))
    assert report.flags, code
    assert any(why in f.reason for f in report.flags), [f.reason for f in report.flags]
    assert all(f.where.cell == 3 and f.where.text.strip() in code for f in report.flags)
    assert report.flags[0].quote().startswith("cell 4, line ")


#: Answers that use ``torch`` as the notebook's set-up cell imported it, without an import of their own.
THROUGH_THE_SETUP_CELL = [
    ("01-activations", "def sigmoid(x):\n    with torch._C._DisableTorchDispatch():\n        return 1 / (1 + torch.exp(-x))\n",
     "torch._C._DisableTorchDispatch: torch's private internals"),
    ("03-softmax", "def softmax(x, dim):\n    return torch._masked_softmax(x, torch.zeros_like(x, dtype=torch.bool), dim)\n",
     "torch._masked_softmax: torch's private internals"),
    ("05-losses", "def nll_loss(x, t, **kw):\n    return F._reduction.legacy_get_string(None, None)\n",
     "torch.nn.functional._reduction"),
    ("07-fashion-mnist", "def evaluate(model, batches, loss_fn, device):\n    return nn.Module.__call__, torch.multiprocessing\n",
     "torch.multiprocessing: other processes"),
]


@pytest.mark.parametrize("assignment, code, why", THROUGH_THE_SETUP_CELL)
def test_torch_bound_by_the_set_up_cell_is_torch_to_the_check(assignment, code, why):
    flags, _ = judged(assignment, code)
    assert any(why in f for f in flags), flags
    without_setup = check([(3, code)], exercise(assignment))
    assert not any(why in f.reason for f in without_setup.flags), "the case needs the set-up cell's import"


def test_a_cell_that_is_not_python_is_skipped_not_a_crash():
    assert judged("03-softmax", "def broken(:\n    pass") == ([], {})
