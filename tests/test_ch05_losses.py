"""Chapter 5 (NLL and cross-entropy): the checks and hints called directly, then real nbgrader.

The fast tests run the solution notebook's own code (its solution cells, optionally with a
classic mistake injected by text replacement, the same ``BUGS`` the nbgrader test uses)
against the checks of ``autograder.chapters.losses`` on the CPU, without nbgrader.
"""
from __future__ import annotations

import pytest

from nbgrader_e2e import assert_grading
import torch
import torch.nn.functional as F

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.chapters import losses as ch
from autograder.checks import CheckFailure, check_backward, check_forward

A, NB = "05-losses", "losses.ipynb"
SOURCE = REPO_ROOT / "solutions" / A / NB
ALL = {
    "test_nll_loss", "test_nll_loss_weight", "test_nll_loss_ignore_index",
    "test_nll_loss_backward", "test_nll_loss_backward_weight_ignore",
    "test_cross_entropy", "test_cross_entropy_extreme", "test_cross_entropy_weight_ignore",
    "test_cross_entropy_backward", "test_cross_entropy_backward_weight_ignore", "test_loss_errors",
}
_WEIGHT_DENOMINATOR = "return torch.where(kept, w, torch.zeros_like(w)).sum()"
_CE_FORWARD = "return nll_loss(log_softmax(logits),"
_CE_AND_BACKWARDS_WITH_WEIGHTS_OR_IGNORED = {
    "test_nll_loss_backward_weight_ignore", "test_cross_entropy_weight_ignore", "test_cross_entropy_backward_weight_ignore",
}

# Each classic mistake (cell -> (old, new) text), the test cells it must lose, no more, no
# less, and words the message of each must hold: the function at fault and what is wrong.
BUGS = {
    # cross_entropy = nll_loss(softmax(x)): the log forgotten. Only the forward uses that line.
    "probabilities_to_nll": ({"ce_solution": (_CE_FORWARD, "return nll_loss(torch.exp(log_softmax(logits)),")},
                             {"test_cross_entropy": ("cross_entropy: wrong loss", "softmax *probabilities*"),
                              "test_cross_entropy_extreme": ("cross_entropy: wrong loss", "softmax *probabilities*"),
                              "test_cross_entropy_weight_ignore": ("cross_entropy: wrong loss",
                                                                   "softmax *probabilities*")}),
    # mean divides by the number of counted targets: wrong wherever weights and 'mean' meet; the
    # shared helper spreads it to both backwards and to cross_entropy (built on nll_loss).
    "unweighted_mean": ({"nll_solution": (_WEIGHT_DENOMINATOR, "return kept.sum().to(w.dtype)")},
                        {"test_nll_loss_weight": ("nll_loss: wrong loss", "WEIGHTED mean"),
                         "test_nll_loss_ignore_index": ("nll_loss: wrong loss", "WEIGHTED mean"),
                         "test_nll_loss_backward_weight_ignore": ("nll_loss_backward: wrong gradient", "WEIGHTED mean"),
                         "test_cross_entropy_weight_ignore": ("cross_entropy: wrong loss", "WEIGHTED mean"),
                         "test_cross_entropy_backward_weight_ignore": ("cross_entropy_backward: wrong gradient",
                                                                       "WEIGHTED mean")}),
    # ignored rows counted in the mean: the weight cells have no ignored target, so they pass.
    "ignored_rows_in_mean": ({"nll_solution": (_WEIGHT_DENOMINATOR, "return w.sum()")},
                             {"test_nll_loss_ignore_index": ("nll_loss: wrong loss", "must not count in the mean"),
                              "test_nll_loss_backward_weight_ignore": ("nll_loss_backward: wrong gradient",
                                                                       "must not count in the mean"),
                              "test_cross_entropy_weight_ignore": ("cross_entropy: wrong loss",
                                                                   "must not count in the mean"),
                              "test_cross_entropy_backward_weight_ignore": ("cross_entropy_backward: wrong gradient",
                                                                            "must not count in the mean")}),
    # log(softmax) computed naively: only extreme logits break it, and only the forward uses it.
    "unstable_log_softmax": ({"ce_solution": (
        _CE_FORWARD, "return nll_loss(torch.log(torch.exp(logits) / torch.exp(logits).sum(dim=-1, keepdim=True)),")},
        {"test_cross_entropy_extreme": ("cross_entropy: wrong loss", "log(softmax(x)) is not stable")}),
    # no target check: a float target reaches indexing, which raises another error type than torch's
    "no_target_check": ({"nll_solution": ("    check_target(x, target, ignore_index)\n", "")},
                        {"test_loss_errors": ("nll_loss raised IndexError", "torch raises RuntimeError there")}),
}
# Further mistakes, checked without nbgrader only (to keep the end-to-end run short).
MORE_BUGS = {
    # ignored rows zeroed by a 0 mask times the scale: with every target ignored the scale is
    # grad_out / 0 = inf, and 0 * inf is nan where torch's gradient is 0 (cross_entropy_backward reuses it)
    "mask_times_inf": ({"nll_backward_solution": ("at_target = torch.where(kept, -w * scale, torch.zeros_like(w))",
                                                  "at_target = -w * scale * kept")},
                       {"test_nll_loss_backward_weight_ignore", "test_cross_entropy_backward_weight_ignore"}),
    # torch's log_softmax is refused; cross_entropy_backward uses log_softmax too.
    "log_softmax_shortcut": ({"ce_solution": (
        "shifted = x - x.max(dim=-1, keepdim=True).values\n    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))",
        "return torch.log_softmax(x, dim=-1)")},
        {"test_cross_entropy", "test_cross_entropy_extreme", "test_cross_entropy_weight_ignore",
         "test_cross_entropy_backward", "test_cross_entropy_backward_weight_ignore"}),
}

def solution_functions(bug: str | None = None) -> dict:
    """The solution notebook's imports and solution cells executed (with ``BUGS[bug]`` injected)."""
    replace = {**BUGS, **MORE_BUGS}[bug][0] if bug else {}
    nb = nbfacts.read(SOURCE)
    namespace: dict = {}
    imports = {nbfacts.grade_id(c): nbfacts.source(c) for c in nb.cells if nbfacts.grade_id(c) == "imports"}
    for grade_id, code in {**imports, **nbfacts.solutions(nb)}.items():
        if grade_id in replace:
            old, new = replace[grade_id]
            assert old in code, (bug, old)
            code = code.replace(old, new)
        exec(compile(code, grade_id, "exec"), namespace)  # noqa: S102 - our own notebook
    return namespace


def failing_cells(bug: str) -> set[str]:
    """Run the whole source notebook in this process, solution cells with ``bug`` injected;
    return the grade_ids of the test cells that raise (what nbgrader would mark lost)."""
    replace = {**BUGS, **MORE_BUGS}[bug][0]
    namespace: dict = {}
    failed = set()
    for cell in nbfacts.read(SOURCE).cells:
        if cell["cell_type"] != "code":
            continue
        meta = cell["metadata"]["nbgrader"]
        code = nbfacts.source(cell)
        if meta["grade_id"] in replace:
            code = code.replace(*replace[meta["grade_id"]])
        try:
            exec(compile(code, meta["grade_id"], "exec"), namespace)  # noqa: S102 - our own notebook
        except Exception:  # noqa: BLE001 - a failing test cell is the point
            assert meta.get("grade"), f"non-test cell {meta['grade_id']} failed"
            failed.add(meta["grade_id"])
    return failed


def failure(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as err:
        check(*args, **kwargs)
    return str(err.value)


CPU = {"devices": ["cpu"], "dtypes": [torch.float32, torch.float64]}
NLL_BACKWARD = {"backward_args": ch.loss_backward_args}


# ---------------------------------------------------------------- the cases and references


def test_cases_cover_every_reduction_shape_and_an_all_ignored_nan():
    found = list(ch.cases(ch.plain_loss_cases, ch.ignored_loss_cases, log_probs=True)("cpu", torch.float64))
    assert {c.kwargs["reduction"] for c in found} == set(ch.REDUCTIONS)
    assert {c.x.dim() for c in found} == {1, 2}
    assert all(c.args[1].dtype == torch.int64 for c in found)
    assert any(not c.x.is_contiguous() for c in found)
    all_ignored = [c for c in found if "every target ignored" in c.label and c.kwargs["reduction"] == "mean"]
    assert all_ignored and all(torch.isnan(ch.nll_loss_reference(*c.args, **c.kwargs)) for c in all_ignored)


def test_seed_002_literals_reproduce_its_negative_sums():
    acts = torch.tensor(ch.SEED_ACTS)
    probs = torch.softmax(acts, dim=1)
    sums = [F.nll_loss(probs, torch.tensor(t), reduction="sum").item() for t in ch.SEED_TARGETS]
    assert sums == pytest.approx([-2.5833, -1.3551], abs=2e-4)


def test_extreme_logits_break_log_of_softmax_in_float32():
    case = next(iter(ch.extreme_logit_cases("cpu", torch.float32)))
    naive = torch.log(torch.softmax(case.x, dim=-1))
    assert torch.isinf(naive).any() and torch.isfinite(ch.cross_entropy_reference(*case.args, **case.kwargs)).all()


# ---------------------------------------------------------------- the solution passes everything


def test_solution_passes_every_hidden_check_on_cpu(capsys):
    """Every code cell of the source notebook (hidden tests included) runs without failing."""
    namespace: dict = {}
    for cell in nbfacts.read(SOURCE).cells:
        if cell["cell_type"] == "code":
            exec(compile(nbfacts.source(cell), nbfacts.grade_id(cell), "exec"), namespace)  # noqa: S102
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.count("OK:") >= 15


# ---------------------------------------------------------------- each classic mistake gets its hint


def test_hint_probabilities_given_to_nll():
    ns = solution_functions("probabilities_to_nll")
    message = failure(check_forward, ns["cross_entropy"], ch.cross_entropy_reference, hints=ch.HINTS["cross_entropy"],
                      cases=ch.cases(ch.plain_loss_cases, log_probs=False), **CPU)
    assert ch.MSG_PROBS in message


def test_hint_probabilities_given_to_nll_in_the_backward():
    nll_loss_backward = solution_functions()["nll_loss_backward"]

    def backward(x, target, grad_out, **kw):
        """The gradient of nll_loss(softmax(x)): the log forgotten, chain rule through softmax."""
        p = torch.softmax(x, dim=-1)
        g = nll_loss_backward(p, target, grad_out, **kw)
        return p * (g - (g * p).sum(dim=-1, keepdim=True))

    message = failure(check_backward, backward, ch.cross_entropy_reference, hints=ch.HINTS["cross_entropy_backward"],
                      cases=ch.cases(ch.plain_loss_cases, log_probs=False), **NLL_BACKWARD, **CPU)
    assert ch.MSG_PROBS in message


def test_hint_mean_instead_of_weighted_mean_forward_and_backward():
    ns = solution_functions("unweighted_mean")
    weighted = ch.cases(ch.weighted_loss_cases, log_probs=True)
    assert ch.MSG_WEIGHTED_MEAN in failure(check_forward, ns["nll_loss"], ch.nll_loss_reference,
                                           hints=ch.HINTS["nll_loss"], cases=weighted, **CPU)
    assert ch.MSG_WEIGHTED_MEAN in failure(check_backward, ns["nll_loss_backward"], ch.nll_loss_reference,
                                           hints=ch.HINTS["nll_loss_backward"], cases=weighted, **NLL_BACKWARD, **CPU)
    logits = ch.cases(ch.weighted_loss_cases, log_probs=False)
    assert ch.MSG_WEIGHTED_MEAN in failure(check_forward, ns["cross_entropy"], ch.cross_entropy_reference,
                                           hints=ch.HINTS["cross_entropy"], cases=logits, **CPU)
    assert ch.MSG_WEIGHTED_MEAN in failure(check_backward, ns["cross_entropy_backward"], ch.cross_entropy_reference,
                                           hints=ch.HINTS["cross_entropy_backward"], cases=logits, **NLL_BACKWARD, **CPU)


def test_hint_ignored_rows_counted_in_the_mean_forward_and_backward():
    ns = solution_functions("ignored_rows_in_mean")
    ignored = ch.cases(ch.ignored_loss_cases, log_probs=True)
    # the first ignored case ignores every target: the mean must be nan, and the hint says why it is not
    assert ch.MSG_ALL_IGNORED_MEAN in failure(check_forward, ns["nll_loss"], ch.nll_loss_reference,
                                              hints=ch.HINTS["nll_loss"], cases=ignored, **CPU)

    def some_ignored(device, dtype):
        return (c for c in ignored(device, dtype) if "every target" not in c.label)

    assert ch.MSG_IGNORED_COUNTED in failure(check_forward, ns["nll_loss"], ch.nll_loss_reference,
                                             hints=ch.HINTS["nll_loss"], cases=some_ignored, **CPU)
    assert ch.MSG_IGNORED_COUNTED in failure(check_backward, ns["nll_loss_backward"], ch.nll_loss_reference,
                                             hints=ch.HINTS["nll_loss_backward"], cases=ignored, **NLL_BACKWARD, **CPU)


def test_hint_unstable_log_of_softmax():
    ns = solution_functions("unstable_log_softmax")
    message = failure(check_forward, ns["cross_entropy"], ch.cross_entropy_reference, hints=ch.HINTS["cross_entropy"],
                      cases=ch.cases(ch.extreme_logit_cases, log_probs=False), **CPU)
    assert ch.MSG_LOG_OF_SOFTMAX in message


def test_hint_log_of_a_max_shifted_softmax_is_still_unstable():
    def cross_entropy(x, target, **kw):
        shifted = torch.exp(x - x.max(-1, keepdim=True).values)
        return F.nll_loss(torch.log(shifted / shifted.sum(-1, keepdim=True)), target, **kw)

    message = failure(check_forward, cross_entropy, ch.cross_entropy_reference, hints=ch.HINTS["cross_entropy"],
                      cases=ch.cases(ch.extreme_logit_cases, log_probs=False), **CPU)
    assert ch.MSG_LOG_OF_SOFTMAX in message


def test_hint_wrong_sign_and_sum_for_mean():
    plain = ch.cases(ch.plain_loss_cases, log_probs=True)
    assert ch.MSG_SIGN in failure(check_forward, lambda x, t, **kw: -ch.nll_loss_reference(x, t, **kw),
                                  ch.nll_loss_reference, hints=ch.HINTS["nll_loss"], cases=plain, **CPU)

    def summed(x, t, **kw):
        return ch.nll_loss_reference(x, t, **{**kw, "reduction": "sum" if kw["reduction"] == "mean" else kw["reduction"]})

    assert ch.MSG_SUM_FOR_MEAN in failure(check_forward, summed, ch.nll_loss_reference, hints=ch.HINTS["nll_loss"],
                                          cases=plain, **CPU)


def test_log_softmax_shortcut_is_refused():
    ns = solution_functions("log_softmax_shortcut")
    message = failure(check_forward, ns["cross_entropy"], ch.cross_entropy_reference,
                      allowed=ch.ALLOWED["cross_entropy"], cases=ch.cases(ch.plain_loss_cases, log_probs=False), **CPU)
    assert "aten._log_softmax" in message


def test_nll_loss_shortcut_is_refused():
    message = failure(check_forward, lambda x, t, **kw: F.nll_loss(x, t, **kw), ch.nll_loss_reference,
                      allowed=ch.ALLOWED["nll_loss"], cases=ch.cases(ch.plain_loss_cases, log_probs=True), **CPU)
    assert "aten.nll_loss_forward" in message


@pytest.mark.parametrize("bug", sorted(MORE_BUGS))
def test_further_mistakes_lose_exactly_their_cells_in_process(bug):
    assert failing_cells(bug) == MORE_BUGS[bug][1]


# ---------------------------------------------------------------- check_raises_like


def test_check_raises_like_accepts_torchs_error_types(capsys):
    ch.check_raises_like(ch.nll_loss_reference, ch.nll_loss_reference, name="nll_loss")
    assert "OK: nll_loss raises" in capsys.readouterr().out


def test_check_raises_like_refuses_a_silent_result():
    def no_check(x, target, **kw):
        return x.sum()

    message = failure(ch.check_raises_like, no_check, ch.nll_loss_reference, name="nll_loss")
    assert "returned a result" in message and "it should raise RuntimeError" in message


def test_check_raises_like_refuses_the_wrong_error_type():
    ns = solution_functions("no_target_check")
    float_target = [c for c in ch.error_cases() if c.label == "float target"]
    message = failure(ch.check_raises_like, ns["nll_loss"], ch.nll_loss_reference, name="nll_loss",
                      cases=lambda *_: float_target)
    # without the check, weight[target] refuses a float index with IndexError
    assert "raised IndexError" in message and "torch raises RuntimeError" in message
    negative = [c for c in ch.error_cases() if c.label.startswith("target -1")]
    message = failure(ch.check_raises_like, ns["nll_loss"], ch.nll_loss_reference, name="nll_loss",
                      cases=lambda *_: negative)
    # without the check, gather refuses -1 with RuntimeError: the wrong type
    assert "raised RuntimeError" in message and "torch raises IndexError" in message


def test_torch_error_types_are_what_the_notebook_says():
    x = torch.zeros(2, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        F.nll_loss(x, torch.tensor([0, 5]))
    with pytest.raises(RuntimeError, match="Long"):
        F.nll_loss(x, torch.tensor([0.0, 1.0]))


# ---------------------------------------------------------------- real nbgrader, end to end


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)


def test_nan_gradient_when_every_target_is_ignored_is_blamed_on_the_zero_total_weight():
    ns = solution_functions("mask_times_inf")
    message = failure(check_backward, ns["nll_loss_backward"], ch.nll_loss_reference, hints=ch.HINTS["nll_loss_backward"],
                      cases=ch.cases(ch.ignored_loss_cases, log_probs=True), **NLL_BACKWARD, **CPU)
    assert "nll_loss_backward: wrong gradient" in message and "every target ignored" in message and "got nan" in message
    assert "torch's gradient is 0 everywhere" in message and "torch.where(kept, ..., 0)" in message
    assert "exp" not in message.split("Hint:", 1)[1]  # the old hint blamed an exp overflow


def test_a_sum_over_no_target_that_gives_nan_is_told_it_is_0():
    def nll_nan_sum(x, target, weight=None, ignore_index=-100, reduction="mean"):
        kept = target != ignore_index
        picked = x.gather(-1, torch.where(kept, target, 0).unsqueeze(-1)).squeeze(-1)
        losses = -picked * kept / kept.sum() * kept.sum()  # a mean's scale undone: 0/0 when nothing is kept
        return losses if reduction == "none" else losses.sum() if reduction == "sum" else losses.sum() / kept.sum()

    message = failure(check_forward, nll_nan_sum, ch.nll_loss_reference, hints=ch.HINTS["nll_loss"],
                      cases=ch.cases(ch.ignored_loss_cases, log_probs=True), **CPU)
    assert "every target here equals ignore_index" in message and "'sum' gives 0" in message


def test_a_guarded_mean_over_no_target_is_told_torch_returns_nan():
    ns = solution_functions()

    def guarded(x, target, weight=None, ignore_index=-100, reduction="mean"):
        out = ns["nll_loss"](x, target, weight, ignore_index, reduction)
        return torch.nan_to_num(out, nan=0.0)

    message = failure(check_forward, guarded, ch.nll_loss_reference, hints=ch.HINTS["nll_loss"],
                      cases=ch.cases(ch.ignored_loss_cases, log_probs=True), **CPU)
    assert ch.MSG_ALL_IGNORED_MEAN in message and "got 0, expected nan" in message


def test_the_visible_error_cases_try_both_error_types_on_both_losses(capsys):
    kinds = set()
    for case in ch.basic_error_cases():
        try:
            torch.nn.functional.nll_loss(*case.args, **case.kwargs)
        except Exception as err:  # noqa: BLE001 - which type torch raises is the point
            kinds.add(type(err))
    assert kinds == {RuntimeError, IndexError}
    ns = solution_functions("no_target_check")
    message = failure(ch.check_raises_like, ns["nll_loss"], ch.nll_loss_reference, name="nll_loss",
                      cases=ch.basic_error_cases)
    assert message.startswith("nll_loss raised IndexError") and "torch raises RuntimeError there" in message


def test_targets_and_class_weights_come_from_the_runs_secret():
    """Two grading runs (two secrets) draw different targets and weights; JupyterLab (no
    secret) draws the same ones every time, so a failure can be reproduced."""
    from autograder.checks import context

    def drawn(secret: int) -> list[torch.Tensor]:
        with context.using(context.Settings(secret=secret)):
            return [t for case in ch.weighted_loss_cases("cpu", torch.float32) for t in case.args[1:2]
                    + (case.kwargs["weight"],)]

    public, again, run_a, run_b = drawn(0), drawn(0), drawn(1234567), drawn(7654321)
    assert all(torch.equal(a, b) for a, b in zip(public, again))
    assert not all(torch.equal(a, b) for a, b in zip(run_a, run_b))
    assert not all(torch.equal(a, b) for a, b in zip(public, run_a))
