"""Chapter 5 (NLL and cross-entropy): references, cases, allowed operators, hints, error checks.

The student writes, with the signature of ``torch.nn.functional``::

    nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean")
    cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean")

and their backward passes ``*_backward(x, target, grad_out, weight=..., ignore_index=...,
reduction=...)`` returning dL/dx. ``x`` is ``(C,)`` with a 0-d ``target`` or ``(N, C)``
with an ``(N,)`` target (int64). The references are ``F.nll_loss`` and
``F.cross_entropy``, matched exactly, NaN included: a mean over no counted target (every
target ignored) is ``0 / 0 = nan`` in torch, so it must be ``nan`` here too.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..checks.cases import EXTREME_ROWS, Case, generator, randn
from ..checks.api import check_raises

from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, LOG_SOFTMAX, NLL, SOFTMAX
from ..checks.hints import Mismatch, matches
from ..checks.vjp import vjp

REDUCTIONS = ("none", "sum", "mean")

# ---------------------------------------------------------------- references


def _on_cpu(fn, x, target, weight, **kwargs):
    """``fn`` computed on the CPU, the result moved back to ``x``'s device.

    torch's CUDA kernels disagree with its CPU ones on one edge: a mean over no counted
    target (every target ignored) of a 1-d input is 0 on CUDA (seen with torch 2.11 on an
    H200) but 0 / 0 = nan on the CPU. The course's answer is the CPU's, on every device.
    """
    w = weight.cpu() if weight is not None else None
    return fn(x.cpu(), target.cpu(), weight=w, **kwargs).to(x.device)  # differentiable both ways


def nll_loss_reference(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """``F.nll_loss`` (as the CPU computes it). log_probs: (C,) or (N, C) float; target: () or (N,) int64."""
    return _on_cpu(F.nll_loss, log_probs, target, weight, ignore_index=ignore_index, reduction=reduction)


def cross_entropy_reference(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """``F.cross_entropy`` on logits (as the CPU computes it). logits: (C,) or (N, C) float; target: () or (N,) int64."""
    return _on_cpu(F.cross_entropy, logits, target, weight, ignore_index=ignore_index, reduction=reduction)


def loss_backward_args(case: Case, y: torch.Tensor, g: torch.Tensor):
    """Call a loss backward as ``fn(x, target, grad_out, **case.kwargs)``."""
    return (case.args[0], case.args[1], g), dict(case.kwargs), ("x", "target", "grad_out")


# ---------------------------------------------------------------- cases
#: The example of seed 002: six images, three classes (printed to 4 decimals there).
SEED_ACTS = (
    (1.9065, 0.6177, 1.7182), (0.8220, 1.4084, 0.5280), (0.6282, 0.6837, 1.5685),
    (1.3450, 0.9478, 0.8547), (1.2426, 0.9204, 1.4648), (1.1413, 1.3553, 1.3754),
)
SEED_TARGETS = ((2, 1, 2, 0, 0, 1), (1, 2, 0, 2, 1, 0))

#: The target of each extreme row (:data:`~autograder.checks.cases.EXTREME_ROWS`, where a naive
#: log(softmax) breaks: exp overflows above ~88.7 in float32, and a probability that
#: underflows to 0 has log(0) = -inf): the tiny classes, where the rows have one.
EXTREME_TARGETS = (2, 1, 2, 0, 2, 1, 0, 1)


def _targets(n: int, classes: int, seed: int, device: str) -> torch.Tensor:
    gen = generator(seed)
    return torch.randint(0, classes, (n,), generator=gen).to(device)


def _inputs(device: str, dtype: torch.dtype, seed: int, log_probs: bool) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(label, x, target)`` for every input shape: (C,), (N, C), square, non-contiguous, seed 002's."""
    def prep(x):
        return x.log_softmax(-1) if log_probs else x

    yield "1-d (C,) input, 0-d target", prep(randn((5,), dtype, device, seed)), torch.tensor(3, device=device)
    yield "2-d (N, C) input", prep(randn((7, 4), dtype, device, seed + 1)), _targets(7, 4, seed + 1, device)
    # N == C: gathering along the wrong dim keeps the shape, the values catch it
    yield "square (N, C) input", prep(randn((5, 5), dtype, device, seed + 2)), _targets(5, 5, seed + 2, device)
    base = prep(randn((6, 8), dtype, device, seed + 3))
    yield "non-contiguous (N, C) input", base.t()[::2], _targets(4, 6, seed + 3, device)
    acts = torch.tensor(SEED_ACTS, dtype=dtype, device=device)
    yield "seed 002's 6x3 acts", prep(acts), torch.tensor(SEED_TARGETS[0], device=device)


def _with_reductions(label, x, target, extra=None) -> Iterator[Case]:
    for reduction in REDUCTIONS:
        yield Case(label, (x, target), {**(extra or {}), "reduction": reduction})


def _weight(classes: int, dtype, device, seed: int) -> torch.Tensor:
    gen = generator(seed)
    return (0.1 + 2 * torch.rand((classes,), generator=gen, dtype=torch.float64)).to(device=device, dtype=dtype)


def plain_loss_cases(device: str, dtype: torch.dtype, *, log_probs: bool = True, seed: int = 0) -> Iterator[Case]:
    """Every input shape and every reduction; no weight, no ignored target."""
    for label, x, target in _inputs(device, dtype, seed, log_probs):
        yield from _with_reductions(label, x, target)


def weighted_loss_cases(device: str, dtype: torch.dtype, *, log_probs: bool = True, seed: int = 0) -> Iterator[Case]:
    """Class weights (positive, unequal) on every input shape and reduction; no ignored target."""
    for i, (label, x, target) in enumerate(_inputs(device, dtype, seed + 20, log_probs)):
        weight = _weight(x.shape[-1], dtype, device, seed + i)
        yield from _with_reductions(label + ", weighted", x, target, {"weight": weight})


def ignored_loss_cases(device: str, dtype: torch.dtype, *, log_probs: bool = True, weighted: bool = False,
                       seed: int = 0) -> Iterator[Case]:
    """Targets equal to ``ignore_index``: the default -100, a real class (1), all of them.

    With ``weighted``, class weights too. Every target ignored gives a mean of 0/0 = nan,
    as in torch.
    """
    for i, (label, x, target) in enumerate(_inputs(device, dtype, seed + 40, log_probs)):
        extra = {"weight": _weight(x.shape[-1], dtype, device, seed + 50 + i)} if weighted else {}
        if target.dim() == 1:
            some = target.clone()
            some[::3] = -100
            yield from _with_reductions(label + ", some targets -100", x, some, extra)
            yield from _with_reductions(label + ", ignore_index=1", x, target, {**extra, "ignore_index": 1})
        everything = torch.full_like(target, 2)
        yield from _with_reductions(label + ", every target ignored", x, everything, {**extra, "ignore_index": 2})


def weighted_ignored_loss_cases(device: str, dtype: torch.dtype, *, log_probs: bool = True, seed: int = 0):
    """:func:`ignored_loss_cases` with class weights."""
    return ignored_loss_cases(device, dtype, log_probs=log_probs, weighted=True, seed=seed)


def extreme_logit_cases(device: str, dtype: torch.dtype, *, log_probs: bool = False, seed: int = 0) -> Iterator[Case]:
    """Logits of +-1000, +-100, 89 (float32 exp overflows above ~88.7), every reduction, no weight
    (so a wrong weighted mean does not fail the stability tests too).

    With ``log_probs``, the log-softmax of those logits (inputs for NLL)."""
    x = torch.tensor(EXTREME_ROWS, dtype=dtype, device=device)
    if log_probs:
        x = x.log_softmax(-1)
    target = torch.tensor(EXTREME_TARGETS, device=device)
    yield from _with_reductions("extreme logits", x, target)
    yield from _with_reductions("1-d extreme logits", x[0], torch.tensor(2, device=device))


def cases(*families: Callable, log_probs: bool) -> Callable[[str, torch.dtype], Iterator[Case]]:
    """One case source from several families: ``cases(plain_loss_cases, extreme_logit_cases, log_probs=False)``.

    ``log_probs``: inputs are log-probabilities (for NLL) or logits (for cross-entropy).
    """
    def source(device, dtype):
        for family in families:
            yield from family(device, dtype, log_probs=log_probs)

    return source


# ---------------------------------------------------------------- allowed operators
#: The rules of each graded function: the basic operations only (torch's nll_loss and
#: cross_entropy kernels, its softmax, log_softmax and logsumexp are shortcuts); backwards
#: are written from their formulas, not by autograd.
_LOSSES = (NLL, LOG_SOFTMAX, SOFTMAX)
EXERCISE = Exercise("05-losses", (
    Rule("nll_loss", ("test_nll_loss", "test_nll_loss_weight", "test_nll_loss_ignore_index"), _LOSSES),
    Rule("nll_loss_backward", ("test_nll_loss_backward", "test_nll_loss_backward_weight_ignore"), (*_LOSSES, AUTOGRAD)),
    Rule("cross_entropy", ("test_cross_entropy", "test_cross_entropy_extreme", "test_cross_entropy_weight_ignore"),
         _LOSSES),
    Rule("cross_entropy_backward", ("test_cross_entropy_backward", "test_cross_entropy_backward_weight_ignore"),
         (*_LOSSES, AUTOGRAD)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()

# ---------------------------------------------------------------- hints (known mistakes)


def _unweighted_mean(x, target, weight=None, ignore_index=-100, reduction="mean"):
    """The mistake "mean instead of weighted mean": sum of weighted losses / number counted."""
    total = F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction="sum")
    if reduction != "mean" or weight is None:
        return F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    return total / (target != ignore_index).sum().to(x.dtype)


def _ignored_in_denominator(x, target, weight=None, ignore_index=-100, reduction="mean"):
    """The mistake "ignored rows counted in the mean": divide by the weights of every target."""
    if reduction != "mean":
        return F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    total = F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction="sum")
    w = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device) if weight is None else weight
    safe = torch.where(target == ignore_index, 0, target)
    return total / w[safe].sum()


def _both_denominators_wrong(x, target, weight=None, ignore_index=-100, reduction="mean"):
    """Plain mean over every row: sum of weighted losses / N."""
    if reduction != "mean":
        return F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    total = F.nll_loss(x, target, weight=weight, ignore_index=ignore_index, reduction="sum")
    return total / max(target.numel(), 1)


def _on_log_probs(loss_fn, kind):
    """``loss_fn`` evaluated on what the student gave NLL instead of log-probabilities."""
    def wrong(x, target, **kwargs):
        if kind == "probs":          # nll_loss(softmax(x)): the log forgotten
            inner = torch.softmax(x, dim=-1)
        elif kind == "naive":        # log(exp(x) / sum exp(x)): overflow -> nan
            e = torch.exp(x)
            inner = torch.log(e / e.sum(dim=-1, keepdim=True))
        else:                        # log(softmax(x)): underflow -> log(0) = -inf
            inner = torch.log(torch.softmax(x, dim=-1))
        return loss_fn(inner, target, **kwargs)
    return wrong


def _backward_of(loss_fn):
    """The gradient of ``loss_fn`` by autograd, called as a backward hint sees its case:
    ``(x, x, target, grad_out, **kwargs)`` (check_backward puts the input first)."""
    def grad(x, _x, target, grad_out, **kwargs):
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            (dx,) = vjp(loss_fn(x, target, **kwargs), x, grad_out)
        return dx
    return grad


def _ce_sum_when_mean(x, target, **kwargs):
    return F.cross_entropy(x, target, **{**kwargs, "reduction": "sum" if kwargs.get("reduction") == "mean" else kwargs.get("reduction", "mean")})


def _nll_sum_when_mean(x, target, **kwargs):
    return F.nll_loss(x, target, **{**kwargs, "reduction": "sum" if kwargs.get("reduction") == "mean" else kwargs.get("reduction", "mean")})


def _ce_with(denominator):
    """Cross-entropy with a wrong mean: ``denominator`` is one of the NLL mistakes above."""
    def wrong(x, target, **kwargs):
        return denominator(torch.log_softmax(x, dim=-1), target, **kwargs)
    return wrong


MSG_PROBS = (
    "your loss equals nll_loss given softmax *probabilities*: nll_loss expects LOG-probabilities "
    "(it only picks -input[target]); take log_softmax first, i.e. cross_entropy = nll_loss(log_softmax(logits)). "
    "Fed probabilities, the 'loss' is -p: negative, bounded by -1, and nearly flat for confident mistakes."
)
MSG_WEIGHTED_MEAN = (
    "with class weights, reduction='mean' is a WEIGHTED mean: divide the sum of weight[target] * loss by the "
    "sum of weight[target] over the counted targets, not by the number of targets."
)
MSG_IGNORED_COUNTED = (
    "targets equal to ignore_index must not count in the mean: divide by the (weighted) number of the "
    "targets you kept, not of all targets."
)
MSG_PLAIN_MEAN = (
    "reduction='mean' divides by the sum of weight[target] over the targets that are not ignored, "
    "not by N (the number of rows)."
)
MSG_SIGN = "your result has the wrong sign: the negative log-likelihood is -log_probs[target] (and its gradient is -1 there)."
MSG_SUM_FOR_MEAN = "you returned the sum where reduction='mean' asks for the (weighted) mean: divide by the total weight."
MSG_LOG_OF_SOFTMAX = (
    "log(softmax(x)) is not stable: exp overflows above ~88.7 in float32 (nan), and a probability that "
    "underflows to 0 gives log(0) = -inf. Compute log_softmax directly: x - max - log(sum(exp(x - max)))."
)


def _all_ignored(m: Mismatch) -> bool:
    """Whether every target of the case equals its ``ignore_index`` (the target is the first
    integer tensor among the case's arguments: ``(x, target)`` or ``(x, x, target, grad_out)``)."""
    target = next((a for a in m.case.args if isinstance(a, torch.Tensor) and not a.is_floating_point()), None)
    ignore_index = m.case.kwargs.get("ignore_index", -100)
    return target is not None and bool((target == ignore_index).all())


def _nan_where_finite(m: Mismatch) -> bool:
    return bool((torch.isnan(m.got) & torch.isfinite(m.expected)).any())


def every_target_ignored(m: Mismatch) -> str | None:
    """Forward: every target ignored, and a nan where torch gives 0 (or a number where it gives nan)."""
    if not _all_ignored(m):
        return None
    if _nan_where_finite(m):
        return ("every target here equals ignore_index, so no row counts: reduction='sum' gives 0 and 'none' "
                "gives 0 for every row; only 'mean' divides 0 by 0 and gives nan, as in torch. Set ignored rows "
                "with torch.where(kept, loss, 0), not by multiplying with a mask (0 * inf is nan), and divide "
                "only for 'mean'.")
    if bool((torch.isnan(m.expected) & ~torch.isnan(m.got)).any()):
        return MSG_ALL_IGNORED_MEAN
    return None


MSG_ALL_IGNORED_MEAN = (
    "every target here equals ignore_index, so no row counts: the mean is 0 / 0, and torch returns nan. A number "
    "here means your denominator is not 0: either it counts the ignored rows (it must be the sum of "
    "weight[target] over the kept rows only), or the division is guarded (do not guard it).")


def every_target_ignored_backward(m: Mismatch) -> str | None:
    """Backward: every target ignored, and a nan where torch's gradient is 0."""
    if not (_all_ignored(m) and _nan_where_finite(m)):
        return None
    return ("every target here equals ignore_index, so no row counts and torch's gradient is 0 everywhere, even "
            "for reduction='mean' (whose denominator is then 0). Your nan comes from dividing by that 0 total "
            "weight: build the gradient with torch.where(kept, ..., 0) so ignored rows are exactly 0 (a 0 mask "
            "times an inf or nan scale is still nan).")


def _nll_hints():
    return [
        every_target_ignored,
        matches(lambda x, t, **kw: -F.nll_loss(x, t, **kw), MSG_SIGN),
        matches(_unweighted_mean, MSG_WEIGHTED_MEAN),
        matches(_ignored_in_denominator, MSG_IGNORED_COUNTED),
        matches(_both_denominators_wrong, MSG_PLAIN_MEAN),
        matches(_nll_sum_when_mean, MSG_SUM_FOR_MEAN),
    ]


def _ce_hints():
    return [
        every_target_ignored,
        matches(_on_log_probs(F.nll_loss, "probs"), MSG_PROBS),
        matches(_on_log_probs(F.nll_loss, "naive"), MSG_LOG_OF_SOFTMAX),
        matches(_on_log_probs(F.nll_loss, "log_of_softmax"), MSG_LOG_OF_SOFTMAX),
        matches(lambda x, t, **kw: -F.cross_entropy(x, t, **kw), MSG_SIGN),
        matches(_ce_with(_unweighted_mean), MSG_WEIGHTED_MEAN),
        matches(_ce_with(_ignored_in_denominator), MSG_IGNORED_COUNTED),
        matches(_ce_with(_both_denominators_wrong), MSG_PLAIN_MEAN),
        matches(_ce_sum_when_mean, MSG_SUM_FOR_MEAN),
    ]


HINTS = {
    "nll_loss": _nll_hints(),
    "nll_loss_backward": [
        every_target_ignored_backward,
        matches(_backward_of(lambda x, t, **kw: -F.nll_loss(x, t, **kw)), MSG_SIGN),
        matches(_backward_of(_unweighted_mean), MSG_WEIGHTED_MEAN),
        matches(_backward_of(_ignored_in_denominator), MSG_IGNORED_COUNTED),
        matches(_backward_of(_both_denominators_wrong), MSG_PLAIN_MEAN),
        matches(_backward_of(_nll_sum_when_mean), MSG_SUM_FOR_MEAN),
    ],
    "cross_entropy": _ce_hints(),
    "cross_entropy_backward": [
        every_target_ignored_backward,
        matches(_backward_of(_on_log_probs(F.nll_loss, "probs")), MSG_PROBS),
        matches(_backward_of(lambda x, t, **kw: -F.cross_entropy(x, t, **kw)), MSG_SIGN
                + " The gradient of cross-entropy w.r.t. the logits is softmax - onehot, not onehot - softmax."),
        matches(_backward_of(_ce_with(_unweighted_mean)), MSG_WEIGHTED_MEAN),
        matches(_backward_of(_ce_with(_ignored_in_denominator)), MSG_IGNORED_COUNTED),
        matches(_backward_of(_ce_with(_both_denominators_wrong)), MSG_PLAIN_MEAN),
        matches(_backward_of(_ce_sum_when_mean), MSG_SUM_FOR_MEAN),
    ],
}

# ---------------------------------------------------------------- errors


def error_cases(device: str = "cpu", dtype: torch.dtype = torch.float32) -> Iterator[Case]:
    """Calls torch refuses: float or int32 targets, targets out of range (too big, negative).

    On CUDA torch reports an out-of-range target with a device-side assert that breaks the
    whole process, so these cases are for the CPU, where torch defines the error types.
    """
    x = randn((4, 3), dtype, device, 7).log_softmax(-1)
    good = torch.tensor([0, 2, 1, 0], device=device)
    yield Case("float target", (x, good.to(dtype)))
    yield Case("int32 target", (x, good.to(torch.int32)))
    yield Case("target 5 with 3 classes", (x, torch.tensor([0, 5, 1, 0], device=device)))
    yield Case("target -1 (not the ignore_index)", (x, torch.tensor([0, -1, 1, 0], device=device)))
    yield Case("1-d input, target 3 with 3 classes", (x[0], torch.tensor(3, device=device)))
    yield Case("target 3 with 3 classes, weighted", (x, torch.tensor([0, 3, 1, 0], device=device)),
               {"weight": torch.ones(3, dtype=dtype, device=device)})


def basic_error_cases(device: str = "cpu", dtype: torch.dtype = torch.float32) -> Iterator[Case]:
    """What the visible tests try of :func:`error_cases`: a float and an int32 target, a target
    too big and a negative one, on an (N, C) input."""
    return (case for case in error_cases(device, dtype) if not case.label.startswith(("1-d", "target 3")))


def check_raises_like(fn: Callable, reference: Callable, *, name: str, cases: Callable = error_cases,
                      backward: bool = False) -> None:
    """``fn`` raises, on each case (CPU, float32), the exception type ``reference`` raises
    there (``IndexError`` for a target out of range, ``RuntimeError`` for a target that is not
    int64): :func:`autograder.checks.check_raises` following torch. ``backward``: call
    ``fn(x, target, grad_out, **kwargs)`` with a grad_out of ones."""
    def grad_out(case: Case) -> tuple:
        return (torch.ones((), dtype=case.x.dtype, device=case.x.device),) if backward else ()

    check_raises(fn, cases=cases, reference=reference, name=name, extra_args=grad_out, devices=["cpu"],
                 dtypes=[torch.float32],
                 advice="check the target yourself before using it, and raise that error with a message that says "
                        "what is wrong.",
                 silent_advice="a wrong target must fail loudly, not give a silent wrong loss: check target.dtype == "
                               "torch.int64 (RuntimeError) and that every target not equal to ignore_index lies in "
                               "[0, C) (IndexError).")


__all__ = [
    "ALLOWED", "HINTS", "REDUCTIONS", "basic_error_cases", "cases", "check_raises_like", "cross_entropy_reference", "error_cases",
    "extreme_logit_cases", "ignored_loss_cases", "loss_backward_args", "nll_loss_reference", "plain_loss_cases",
    "weighted_ignored_loss_cases", "weighted_loss_cases",
]
