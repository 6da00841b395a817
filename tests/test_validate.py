"""What a student sees before handing in: ``nbgrader validate`` on the released notebook.

For every assignment, the release filled in with the solution passes ``nbgrader validate``,
and the same notebook with mistakes against the rules the instructions state (dtype, shape,
inputs left alone, allowed operations, errors to raise) fails it: each targeted test cell,
with a message that names the function and the rule, printed whole (``nbgrader validate``
cuts every line of an error at 83 characters) and without our stack. So a student who
passes validate can lose points only on what the instructions announce as hidden.

The mistakes of one assignment sit in different functions, so one notebook carries them
all; every notebook is validated in one parallel batch (slow: about a minute on 2 cores).
"""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.release import assignments
from nbgrader_e2e import student_notebook, validate_batch

#: nbgrader validate's width (90) less its "..." and its four-space indent.
VALIDATE_LINE = 83

# assignment: (cell edits, {failing test cell: words its error must hold}); every other test cell passes.
RULE_MISTAKES = {
    "01-activations": (
        {"step_solution": ("return (x > 0).to(x.dtype)", "return torch.where(x > 0, 1.0, 0.0)"),
         "relu_solution": ("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.clamp_(min=0)"),
         "sigmoid_solution": ("y = sigmoid(x)\n    return y * (1 - y)", "y = sigmoid(x)\n    return (y * (1 - y)).reshape(-1)"),
         "tanh_solution": ("y = tanh(x)\n    return 1 - y * y", "return 1 - torch.tanh(x) ** 2")},
        {"test_step": ("step returned its result with dtype torch.float32", "expected torch.float64"),
         "test_relu": ("relu modified its input `x` in place",),
         "test_sigmoid_derivative": ("sigmoid_derivative returned its derivative with shape (1,)",),
         "test_tanh_derivative": ("tanh_derivative runs aten.tanh",)}),
    "02-sigmoid": (
        {"sigmoid_backward_solution": ("return grad_out * y * (1 - y)", "grad_out *= y * (1 - y)\n    return grad_out"),
         "log_sigmoid_solution": [
             ("return torch.clamp(x, max=0) - torch.log1p(torch.exp(-x.abs()))",
              "return (torch.clamp(x, max=0) - torch.log1p(torch.exp(-x.abs()))).float()"),
             ("return grad_out * sigmoid(-x)", "return (grad_out * sigmoid(-x)).reshape(-1)")]},
        {"test_sigmoid_backward": ("sigmoid_backward modified its input `grad_out` in place",),
         "test_log_sigmoid": ("log_sigmoid returned its result with dtype torch.float32", "expected torch.float64"),
         "test_log_sigmoid_backward": ("log_sigmoid_backward returned its gradient with shape (1,)",)}),
    "03-softmax": (
        {"softmax_solution": ("return e / e.sum(dim=dim, keepdim=True)", "return (e / e.sum(dim=dim, keepdim=True)).float()"),
         "log_softmax_solution": ("return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))",
                                  "return x - torch.logsumexp(x, dim=dim, keepdim=True)"),
         "softmax_backward_solution": ("return s * (grad_out - (grad_out * s).sum(dim=dim, keepdim=True))",
                                       "grad_out -= (grad_out * s).sum(dim=dim, keepdim=True)\n    return s * grad_out"),
         "log_softmax_backward_solution": ("return grad_out - torch.exp(ls) * grad_out.sum(dim=dim, keepdim=True)",
                                           "return (grad_out - torch.exp(ls) * grad_out.sum(dim=dim, keepdim=True)).reshape(-1)")},
        {"test_softmax": ("softmax returned its result with dtype torch.float32", "expected torch.float64"),
         "test_log_softmax": ("log_softmax runs aten.logsumexp",),
         "test_softmax_backward": ("softmax_backward modified its input `grad_out` in place",),
         "test_log_softmax_backward": ("log_softmax_backward returned its gradient with shape",)}),
    "04-dim": (
        {"normalize_solution": ("return x / x.sum(dim, keepdim=True)", "x /= x.sum(dim, keepdim=True)\n    return x"),
         "max_solution": [("positions = torch.arange(n, device=x.device)",
                           "positions = torch.arange(n, device=x.device, dtype=x.dtype)"),
                          ("    values = x.amax(dim, keepdim=True)", "    dim = dim % x.dim()\n    values = x.amax(dim, keepdim=True)")],
         "softmax_solution": ("e = torch.exp(x - x.amax(dim=1, keepdim=True))  # every exponent <= 0: no overflow\n"
                              "    return e / e.sum(dim=1, keepdim=True)", "return torch.softmax(x, dim=1)")},
        {"test_normalize": ("normalize modified its input `x` in place",),
         "test_max_along": ("max_along returned its indices with dtype torch.float32", "expected torch.int64"),
         "test_softmax_channels": ("softmax_channels runs aten._softmax",),
         "test_invalid_dim": ("max_along returned a result", "it should raise IndexError")}),
    "05-losses": (
        {"nll_solution": ("    check_target(x, target, ignore_index)\n", ""),
         "ce_solution": ("return nll_loss(log_softmax(logits), target, weight, ignore_index, reduction)",
                         "return nll_loss(log_softmax(logits), target, weight, ignore_index, reduction).reshape(-1)"),
         "ce_backward_solution": ("return coeff * (torch.exp(log_probs) - onehot)",
                                  "return (coeff * (torch.exp(log_probs) - onehot)).float()")},
        {"test_loss_errors": ("nll_loss raised", "torch raises RuntimeError there"),
         "test_cross_entropy": ("cross_entropy returned its loss with shape (1,)",),
         "test_cross_entropy_extreme": ("cross_entropy returned its loss with shape (1,)",),
         "test_cross_entropy_weight_ignore": ("cross_entropy returned its loss with shape (1,)",),
         "test_cross_entropy_backward": ("cross_entropy_backward returned its gradient with dtype torch.float32",),
         "test_cross_entropy_backward_weight_ignore": ("cross_entropy_backward returned its gradient with dtype "
                                                       "torch.float32",)}),
    "06-layers": (
        {"relu_solution": ("return torch.where(self.mask, grad_out, torch.zeros_like(grad_out))", "grad_out[~self.mask] = 0\n        return grad_out"),
         "sigmoid_solution": ("y = 1 / (1 + torch.exp(-x))", "y = (1 / (1 + torch.exp(-x))).float()"),
         "linear_solution": ("torch.empty(out_features, in_features, device=device, dtype=dtype)",
                             "torch.empty(out_features, in_features, device=device)"),
         "flatten_solution": ("return x.reshape(x.shape[0], -1)", "return x.view(x.shape[0], -1)")},
        {"test_relu": ("Relu.backward modified its input `grad_out` in place", "torch.where(self.mask, grad_out, 0)"),
         "test_sigmoid": ("Sigmoid.forward returned its output with dtype torch.float32", "expected torch.float64"),
         "test_linear_init": ("weight is on cpu with dtype torch.float32; expected cpu, torch.float64",),
         "test_flatten": ("Flatten.forward raised RuntimeError", "reshape"),
         "test_mlp": ("layer 4 (Sigmoid).forward returned its output with dtype torch.float32",)}),
    "07-fashion-mnist": (
        {"ce_solution": ("return loss, dlogits / n", "return loss.float(), (dlogits / n).float()"),
         "mlp_solution": ("dh2 = dlogits @ params[\"W3\"]", "dh2 = dlogits @ params[\"W3\"]\n    dlogits.zero_()"),
         "train_solution": [("total += loss.item()", "total += loss.detach()"),
                            ("return total / max(count, 1), correct / max(seen, 1)",
                             "return total / max(count, 1), 100 * correct / max(seen, 1)")]},
        {"test_cross_entropy": ("softmax_cross_entropy returned its loss with dtype torch.float32",
                                "expected torch.float64"),
         "test_mlp_backward": ("mlp_backward modified its input `dlogits` in place",),
         "test_train_one_epoch": ("train_one_epoch returned tensor(", "as a float", "loss.item()"),
         "test_evaluate": ("evaluate returned accuracy", "not a percentage")}),
}

def _notebook(assignment: str) -> str:
    return sorted((REPO_ROOT / "exercises" / assignment).glob("*.ipynb"))[0].name


def _validate_command(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", "validate", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """``{assignment: (validate's output on the solution, what validate finds in the rule mistakes)}``."""
    root = tmp_path_factory.mktemp("validate")
    jobs = {}
    for assignment in assignments():
        notebook = _notebook(assignment)
        solution = student_notebook(assignment, notebook, root / assignment / "solution" / notebook)
        edits = RULE_MISTAKES[assignment][0]
        mistakes = student_notebook(assignment, notebook, root / assignment / "mistakes" / notebook, bugs=edits)
        jobs[assignment] = (solution, mistakes)
    with ThreadPoolExecutor(max_workers=2) as pool:
        solutions = {a: pool.submit(_validate_command, s) for a, (s, _) in jobs.items()}
        found = validate_batch([m for _, m in jobs.values()])
        return {a: (solutions[a].result(), found[m]) for a, (_, m) in jobs.items()}


def test_every_assignment_has_its_rule_mistakes():
    assert set(RULE_MISTAKES) == set(assignments())


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_the_release_filled_in_with_the_solution_passes_nbgrader_validate(assignment, validated):
    done = validated[assignment][0]
    assert done.returncode == 0 and "Success! Your notebook passes all the tests." in done.stdout, (
        done.stdout + done.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_each_stated_rule_mistake_fails_nbgrader_validate_with_its_message_whole(assignment, validated):
    failed = validated[assignment][1].get("failed", [])
    [path] = sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))
    by_source = {nbfacts.without_hidden(nbfacts.source(c)).strip(): gid
                 for gid, c in nbfacts.test_cells(nbfacts.read(path)).items()}
    errors = {by_source.get(cell["source"].strip(), cell["source"][:60]): cell["raw_error"] for cell in failed}
    expected = RULE_MISTAKES[assignment][1]
    assert set(errors) == set(expected), {g: e[:300] for g, e in errors.items()}
    for gid, words in expected.items():
        error = errors[gid]
        unwrapped = " ".join(error.split())  # validate shows the message wrapped to fit its width
        assert all(" ".join(w.split()) in unwrapped for w in words), (gid, words, error)
        assert error.startswith("\x1b[0;31mCheckFailure\x1b[0m: "), (gid, error)  # the message, not our stack
        assert "Traceback" not in error and 'File "' not in error, (gid, error)
        too_long = [line for line in error.replace("\x1b[0;31m", "").replace("\x1b[0m", "").splitlines()
                    if len(line) > VALIDATE_LINE]
        assert not too_long, (gid, too_long)  # nbgrader validate would cut these lines
