"""Checking a training loop and an evaluation loop by their effects.

The model, optimizer and loss function the loops get are built where the student's code
runs (``side.lib``); the verdict comes from what the referee can recompute itself: the
parameters after the epoch, the returned numbers. A pre-hook negates the model's input
(not a scale, which a BatchNorm would undo), so a loop that calls ``model.forward(X)``
(hooks skipped) gives other numbers than ``model(X)``; a BatchNorm (training) or a Dropout
(evaluation) makes the mode show in the numbers. tests/test_ch07_fashion_mnist.py checks
the margins on many secret seeds. Whether evaluation turns autograd off is judged from
the code by the static check (the rule table's requirement); the record of it kept in the
student's process here can only cost the point, never earn it.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch.nn import functional as F

from . import context
from .calls import CheckFailure, side_of, watched_call
from .cases import generator
from .devices import devices as default_devices

#: A network as the student's side builds it: ``(constructor name, arguments)`` per layer.
Spec = list[tuple[str, tuple]]

# The model, optimizer and loss function the loops get are built where the student's code
# runs (side.lib). The verdict comes from what the referee can recompute: the parameters
# after the epoch, the returned numbers. A pre-hook negates the model's input (not a scale,
# which the BatchNorm would undo), so a loop that calls model.forward(X) (hooks
# skipped) gives other numbers than model(X); a BatchNorm (train_one_epoch) or a Dropout
# (evaluate) makes the mode show in the numbers. tests/test_ch07_fashion_mnist.py checks the
# margins on many secret seeds.

def _hooked(X: torch.Tensor) -> torch.Tensor:
    """What the probe model's pre-hook (``probes.NegateInput``) makes of its input."""
    return -X



def _probe_layers(kind: str) -> list[tuple[str, tuple]]:
    if kind == "train":
        return [("torch.nn.Flatten", ()), ("torch.nn.Linear", (784, 64)), ("torch.nn.BatchNorm1d", (64,)),
                ("torch.nn.ReLU", ()), ("torch.nn.Linear", (64, 10))]
    return [("torch.nn.Flatten", ()), ("torch.nn.Linear", (784, 32)), ("torch.nn.ReLU", ()),
            ("torch.nn.Dropout", (0.5,)), ("torch.nn.Linear", (32, 10))]


def build(lib: Callable, spec: Spec) -> Any:
    """``nn.Sequential`` of ``spec``'s layers, each made by ``lib(name, *args)``."""
    return lib("torch.nn.Sequential", *[lib(name, *args) for name, args in spec])


def _build(lib: Callable, kind: str) -> Any:
    return build(lib, _probe_layers(kind))


def local_lib(name: str, *args):
    from autograder_kernel.library import resolve

    return resolve(name)(*args)


def _probe_model(side, kind: str, state: dict, device: str, *, training: bool):
    """The probe network for ``kind`` on the student's side, with ``state``, on ``device``,
    in train or eval mode, its input negated by a pre-hook."""
    model = _build(side.lib, kind)
    model.load_state_dict(state)
    model.to(device)
    model.train(training)
    model.register_forward_pre_hook(side.lib("probes.NegateInput"))
    return model


def _initial_state(kind: str, seed: int) -> dict[str, torch.Tensor]:
    """The probe's starting parameters (torch's default initialisation, from the run's secret)."""
    torch.manual_seed(context.seed(seed))
    return {k: v.clone() for k, v in _build(local_lib, kind).state_dict().items()}


def _fake_batches(n_batches: int, seed: int, size: int = 16):
    g = generator(seed)
    return [(torch.rand((size, 28, 28), generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n_batches)]


def _reference_epoch(state, data, device, *, train=True, hooks=True, zero_grad=True, softmax=False):
    """What one epoch of the right loop (or a known mistake) leaves: (state_dict, batch losses)."""
    model = _build(local_lib, "train")
    model.load_state_dict(state)
    model.to(device)
    model.train(train)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for X, y in data:
        X, y = X.to(device), y.to(device)
        logits = model(_hooked(X)) if hooks else model(X)
        if softmax:
            logits = torch.softmax(logits, dim=1)
        loss = F.cross_entropy(logits, y)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, losses


TRAIN_MISTAKES = (
    (dict(train=False), "the model ran in eval mode (its BatchNorm used running statistics).\n"
                        "Hint: call model.train() at the start of train_one_epoch."),
    (dict(hooks=False), "the model's hooks did not run: you called model.forward(X).\n"
                        "Hint: call the model itself, model(X): __call__ runs the hooks (and more) around forward."),
    (dict(zero_grad=False), "the gradients added up over the batches.\n"
                            "Hint: call optimizer.zero_grad() before loss.backward()."),
    (dict(softmax=True), "the loss was computed on softmax probabilities.\n"
                         "Hint: pass the logits to the loss function; cross-entropy applies log-softmax itself."),
)


def _same_state(got: Any, want: dict, rtol=1e-3, atol=1e-5) -> bool:
    if not isinstance(got, dict) or set(got) != set(want):
        return False
    return all(isinstance(got[k], torch.Tensor) and got[k].shape == want[k].shape and got[k].dtype == want[k].dtype
               and torch.allclose(got[k].to(want[k].device).float(), want[k].float(), rtol=rtol, atol=atol)
               for k in want)


def check_train_one_epoch(train_one_epoch: Callable, *, devices=None) -> None:
    """One epoch over 3 batches: the parameters after it must be those of one SGD step per
    batch on that batch's mean cross-entropy of the logits (zero_grad before backward), in
    train mode, through ``model(X)``, with the batches moved to ``device``; the return value
    is the mean batch loss."""
    side = side_of(train_one_epoch)
    for device in default_devices() if devices is None else devices:
        data = _fake_batches(3, seed=5)
        state = _initial_state("train", 0)
        model = _probe_model(side, "train", state, device, training=False)
        optimizer = side.lib("torch.optim.SGD", model.parameters(), lr=0.1)
        loss_fn = side.lib("torch.nn.CrossEntropyLoss")
        where = f"{device}, 3 batches of 16"
        result = watched_call(train_one_epoch, (model, data, loss_fn, optimizer, device), name="train_one_epoch",
                              where=where, arg_names=("model", "batches", "loss_fn", "optimizer", "device"))
        got = model.state_dict()
        want, losses = _reference_epoch(state, data, device)
        if _same_state(got, state, rtol=0, atol=0):
            raise CheckFailure(f"train_one_epoch on {where}: the model's parameters did not change.\n"
                               f"Hint: call loss.backward() and optimizer.step() for every batch.")
        if not _same_state(got, want):
            for variant, message in TRAIN_MISTAKES:
                if _same_state(got, _reference_epoch(state, data, device, **variant)[0]):
                    raise CheckFailure(f"train_one_epoch on {where}: {message}")
            raise CheckFailure(f"train_one_epoch on {where}: the model's parameters after the epoch are not those "
                               f"of one SGD step per batch on "
                               f"loss_fn(model(X), y).\nHint: for each batch: move X and y to the device, "
                               f"loss = loss_fn(model(X), y), optimizer.zero_grad(), loss.backward(), optimizer.step().")
        mean = sum(losses) / len(losses)
        if type(result) not in (float, int) or abs(result - mean) > 1e-3 * max(1.0, abs(mean)):
            advice = ""
            if type(result) in (float, int) and abs(result - sum(losses)) < 1e-3 * max(1.0, abs(sum(losses))):
                advice = "\nHint: that is the sum of the batch losses: divide by the number of batches."
            elif isinstance(result, torch.Tensor):
                advice = "\nHint: return a Python float: loss.item() gives one."
            raise CheckFailure(f"train_one_epoch returned {result!r} on {where}; expected the mean batch loss "
                               f"{mean:.6f} as a float.{advice}")
    print("OK: train_one_epoch steps with each batch's own gradient and returns the mean loss")


def _eval_model(state, device):
    model = _build(local_lib, "eval")
    model.load_state_dict(state)
    return model.to(device).eval()


def _reference_eval(state, data, device, *, hooks=True):
    """What evaluate returns for the probe (or, ``hooks=False``, for a loop calling forward)."""
    model = _eval_model(state, device)
    total, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for X, y in data:
            X, y = X.to(device), y.to(device)
            logits = model(_hooked(X) if hooks else X)
            total += F.cross_entropy(logits, y).item()
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
    return total / len(data), correct / seen


def _evaluation_batches(state, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zero-mean random inputs labelled by the probe's own eval-mode predictions: a right
    evaluate reports accuracy 1, and every mistake (train mode, forward without hooks) less
    (over 60 secrets, a loop skipping the hook agreed on at most 57 of 100 labels)."""
    model, g = _eval_model(state, "cpu"), generator(seed)
    with torch.no_grad():
        inputs = [torch.randn((25, 28, 28), generator=g) for _ in range(4)]
        return [(X, model(_hooked(X)).argmax(1)) for X in inputs]


def check_evaluate(evaluate: Callable, *, devices=None) -> None:
    """``evaluate`` must run the model in eval mode (a Dropout shows the difference), through
    ``model(X)``, without changing the parameters, and return (mean batch loss, accuracy in
    [0, 1]). Autograd must be off (``torch.no_grad()``): recorded in the student's process, so
    it can only cost the point, never earn it."""
    side = side_of(evaluate)
    for device in default_devices() if devices is None else devices:
        state = _initial_state("eval", 1)
        data = _evaluation_batches(state, seed=6)
        model = _probe_model(side, "eval", state, device, training=True)
        log = side.lib("probes.ModeLog")
        model.register_forward_hook(log)
        where = f"{device}, 4 batches of 25"
        result = watched_call(evaluate, (model, data, side.lib("torch.nn.CrossEntropyLoss"), device), name="evaluate",
                              where=where, arg_names=("model", "batches", "loss_fn", "device"))
        if not _same_state(model.state_dict(), {k: v.to(device) for k, v in state.items()}, rtol=0, atol=0):
            raise CheckFailure(f"evaluate on {where}: the model's parameters changed.\nHint: evaluate measures; it "
                               f"must not train (no optimizer step, no backward).")
        if not (isinstance(result, tuple) and len(result) == 2 and all(type(v) in (float, int) for v in result)):
            raise CheckFailure(f"evaluate returned {result!r} on {where}; expected a pair (mean loss, accuracy) of "
                               f"Python floats.\nHint: loss.item() gives a float; accuracy is correct / seen.")
        loss, acc = (float(v) for v in result)
        want_loss, want_acc = _reference_eval(state, data, device)
        calls = log.calls if hasattr(log, "calls") else []
        if abs(acc - want_acc) > 1e-6 or abs(loss - want_loss) > 1e-4 * max(1.0, want_loss):
            skip_loss, skip_acc = _reference_eval(state, data, device, hooks=False)
            if abs(acc - skip_acc) <= 1e-6 and abs(loss - skip_loss) <= 1e-4 * max(1.0, skip_loss):
                raise CheckFailure(f"evaluate on {where}: the model's hooks did not run: you called model.forward(X).\n"
                                   f"Hint: call the model itself, model(X).")
            if abs(acc - 100 * want_acc) < 1e-4 and abs(loss - want_loss) <= 1e-4 * max(1.0, want_loss):
                raise CheckFailure(f"evaluate returned accuracy {acc} on {where}; expected {want_acc}: a fraction "
                                   f"in [0, 1], not a percentage.")
            mode = " The model ran in training mode (its Dropout was active).\nHint: call model.eval() first." \
                if any(training for training, _ in calls) else ""
            raise CheckFailure(f"evaluate returned (loss {loss:.6f}, accuracy {acc:.6f}) on {where}; expected "
                               f"({want_loss:.6f}, {want_acc:.6f}).{mode}")
        if any(grad for _, grad in calls):
            raise CheckFailure(f"evaluate on {where}: autograd was recording while the model ran.\n"
                               f"Hint: wrap the loop in `with torch.no_grad():`.")
    print("OK: evaluate runs in eval mode without autograd and returns (loss, accuracy)")


def check_training_reaches(train_one_epoch: Callable, evaluate: Callable, network: Spec, X: torch.Tensor,
                           y: torch.Tensor, *, train: int, threshold: float, expected: float, epochs: int = 2,
                           budget_s: float = 120.0, devices=None) -> None:
    """Train ``network`` (built on the student's side, seeded from the run's secret) with the
    student's loop for ``epochs`` epochs of SGD on the first ``train`` of the images ``X``
    (labels ``y``); the referee computes the accuracy on the rest itself from the trained
    parameters and requires ``threshold`` (``expected``: what the solution reaches, for the
    message) within ``budget_s`` seconds on every device; the student's ``evaluate`` must
    report the same accuracy."""
    side = side_of(train_one_epoch)
    held = len(X) - train
    held_out = [(X[train + i:train + i + held // 2], y[train + i:train + i + held // 2]) for i in (0, held // 2)]
    for device in default_devices() if devices is None else devices:
        side.manual_seed(context.seed(0) % 2**32)
        model = build(side.lib, network)
        model.to(device)
        optimizer = side.lib("torch.optim.SGD", model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = side.lib("torch.nn.CrossEntropyLoss")
        gen = generator(12)
        start = time.perf_counter()
        for epoch in range(epochs):
            order = torch.randperm(train, generator=gen)
            batches = [(X[order[i:i + 64]], y[order[i:i + 64]]) for i in range(0, train, 64)]
            watched_call(train_one_epoch, (model, batches, loss_fn, optimizer, device), name="train_one_epoch",
                         where=f"epoch {epoch + 1} on {device}")
        elapsed = time.perf_counter() - start
        trained = build(local_lib, network)
        trained.load_state_dict({k: v.to("cpu") for k, v in model.state_dict().items()})
        with torch.no_grad():
            acc = float((trained(X[train:]).argmax(1) == y[train:]).float().mean())
        if acc < threshold:
            raise CheckFailure(f"train_one_epoch: after {epochs} epochs on {device}, the network's held-out accuracy "
                               f"is {acc:.3f}; expected at least {threshold} (the solution reaches about {expected}).\n"
                               f"Hint: make test_train_one_epoch pass first: it names the usual mistakes.")
        if elapsed > budget_s:
            raise CheckFailure(f"train_one_epoch: {epochs} epochs took {elapsed:.0f} s on {device}; the budget is "
                               f"{budget_s:.0f} s.")
        result = watched_call(evaluate, (model, held_out, loss_fn, device), name="evaluate",
                              where=f"the held-out images on {device}")
        reported = float(result[1]) if isinstance(result, tuple) and len(result) == 2 else None
        if reported is None or abs(reported - acc) > 1e-6:
            raise CheckFailure(f"evaluate reports accuracy {reported} on the held-out images on {device}; the "
                               f"trained parameters give {acc:.6f}")
        print(f"OK: {epochs} epochs on {device}: held-out accuracy {acc:.3f} (>= {threshold}) in {elapsed:.1f} s")
