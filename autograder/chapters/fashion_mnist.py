"""Chapter 7 (the FashionMNIST network): the reference network and the checks behind
the hidden tests of assignment ``07-fashion-mnist``.

The student's pieces and their contracts:

* ``NeuralNetwork()``: an ``nn.Module``, Flatten -> Linear(784, 512) -> ReLU ->
  Linear(512, 512) -> ReLU -> Linear(512, 10), logits out (no activation after the
  last Linear). ``(N, 28, 28)`` float -> ``(N, 10)``.
* ``softmax_cross_entropy(logits, y) -> (loss, dlogits)``: logits (N, C) float, y (N,)
  int64 -> 0-d mean loss and its gradient (N, C).
* ``mlp_forward(params, x) -> (logits, cache)`` and ``mlp_backward(params, cache, dlogits)
  -> grads``: the same MLP from scratch; ``params`` maps ``W1 b1 W2 b2 W3 b3`` to
  tensors shaped like ``nn.Linear``'s (W: (out, in), b: (out,)); ``grads`` has the same keys.
* ``train_one_epoch(model, batches, loss_fn, optimizer, device) -> float`` (mean loss)
  and ``evaluate(model, batches, loss_fn, device) -> (mean loss, accuracy in [0, 1])``.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import context
from ..checks.calls import CheckFailure, Part, display_name, is_a, side_of, type_name, watched_call
from ..checks.cases import Case, generator
from ..checks.compare import assert_tensor_matches
from ..checks.devices import devices as default_devices
from ..checks.devices import grid
from ..checks.hints import matches
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, LINEAR, LOG_SOFTMAX, NLL, NO_GRAD, RELU, SOFTMAX
from ..checks.vjp import vjp

#: (in_features, out_features) of the three Linear layers.
LAYERS = ((784, 512), (512, 512), (512, 10))
#: 784*512 + 512 + 512*512 + 512 + 512*10 + 10
EXPECTED_PARAMETERS = sum(i * o + o for i, o in LAYERS)
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
#: float32 ``(rtol, atol)`` for the network's outputs: sums over 784 products, whose
#: float32 roundings differ by more than an ulp from one order of summation to another.
LONG_SUMS = (1e-4, 1e-5)
TOL32 = dict(rtol=LONG_SUMS[0], atol=LONG_SUMS[1])
#: The rules of each graded function: the network and the training loop may use all of
#: torch; the from-scratch MLP and the loss use basic operations only (no ``F.linear`` /
#: ``addmm``, ReLU, softmax, log_softmax or the library losses), and no autograd in a
#: hand-written backward; evaluation turns gradient tracking off.
EXERCISE = Exercise("07-fashion-mnist", (
    Rule("NeuralNetwork", ("test_network",), any_op=True),
    Rule("softmax_cross_entropy", ("test_cross_entropy",), (SOFTMAX, LOG_SOFTMAX, NLL, AUTOGRAD)),
    Rule("mlp_forward", ("test_mlp_forward", "test_mlp_backward"), (RELU, LINEAR), tolerance=LONG_SUMS),
    Rule("mlp_backward", ("test_mlp_backward",), (RELU, LINEAR, AUTOGRAD), tolerance=LONG_SUMS),
    Rule("train_one_epoch", ("test_train_one_epoch", "test_training_accuracy"), any_op=True),
    Rule("evaluate", ("test_evaluate",), any_op=True, requires=(NO_GRAD,)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()
LINEAR_TYPE = "torch.nn.modules.linear.Linear"
MODULE_TYPE = "torch.nn.modules.module.Module"


def reference_network() -> nn.Sequential:
    """The chapter's network, logits out: (N, 28, 28) float -> (N, 10)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def _tol(dtype):
    return TOL32 if dtype == torch.float32 else {}


def _short_type(obj: Any) -> str:
    return type_name(obj).rsplit(".", 1)[-1]


def _leaves(model: Any) -> list[Any]:
    """The model's modules without children, in order (works on a handle too)."""
    return [m for m in model.modules() if not list(m.children())]


def _linear_weights(model: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(m.weight.detach(), m.bias.detach()) for m in _leaves(model) if is_a(m, LINEAR_TYPE)]


def _forward_with(weights: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """The right network (Flatten, Linear, ReLU, ..., Linear) with the given weights."""
    h = x.flatten(1)
    for i, (w, b) in enumerate(weights):
        h = F.linear(h, w, b)
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


def check_network(make_model: Callable[[], Any], *, devices: Iterable[str] | None = None) -> None:
    """Check the structure, the parameter count (669,706) and the output of ``make_model()``
    on every device, after ``.to(device)``; the logits must not pass through an activation."""
    side_of(make_model).manual_seed(0)
    model = make_model()
    if not is_a(model, MODULE_TYPE):
        raise CheckFailure(f"NeuralNetwork() made a {type_name(model)}; expected an nn.Module.\n"
                           f"Hint: write `class NeuralNetwork(nn.Module):` and call super().__init__() first.")
    leaves = _leaves(model)
    shapes = tuple((m.in_features, m.out_features) for m in leaves if is_a(m, LINEAR_TYPE))
    if shapes != LAYERS:
        raise CheckFailure(f"NeuralNetwork's Linear layers are (in, out) = {shapes}; expected {LAYERS}.\n"
                           f"Hint: the network is Flatten -> Linear(784, 512) -> ReLU -> Linear(512, 512) -> ReLU "
                           f"-> Linear(512, 10): each Linear's in_features is the previous one's out_features.")
    count = sum(p.numel() for p in model.parameters())
    if count != EXPECTED_PARAMETERS:
        raise CheckFailure(f"NeuralNetwork has {count:,} parameters; expected {EXPECTED_PARAMETERS:,}.\n"
                           f"Hint: the layers are Linear(784, 512), Linear(512, 512), Linear(512, 10), each with "
                           f"its bias (bias=True, the default).")
    kinds = [k for k in (_short_type(m) for m in leaves) if k not in ("Dropout", "Identity")]
    if kinds and kinds[-1] != "Linear":
        raise CheckFailure(
            f"NeuralNetwork ends with {kinds[-1]} after its last Linear (layers: {kinds}).\n"
            "Hint: the model must return logits: any real number. A ReLU there clips every negative logit to 0 "
            "(the bug of the source post); softmax belongs in cross_entropy, not in the model."
        )
    for device in default_devices() if devices is None else devices:
        model = model.to(device)
        for shape in ((5, 28, 28), (3, 1, 28, 28)):
            x = torch.randn(shape, generator=generator(1)).to(device)
            got = model(x)
            case = Case(f"model(x) after .to({device!r})", (x,))
            with torch.no_grad():
                expected = _forward_with(_linear_weights(model), x)
            assert_tensor_matches(got.detach() if isinstance(got, torch.Tensor) else got, expected,
                                  name="NeuralNetwork", case=case, what="logits", **TOL32)
            if not got.requires_grad:
                raise CheckFailure(f"NeuralNetwork returned logits with no autograd graph on {case.describe()}.\n"
                                   f"Hint: do not detach them or use torch.no_grad() in forward: training needs "
                                   f"the graph.")
    print(f"OK: NeuralNetwork has {EXPECTED_PARAMETERS:,} parameters, returns logits, runs on "
          f"{', '.join(default_devices() if devices is None else devices)}")


def random_params(device, dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """The reference network's default initialisation as a ``W1 b1 W2 b2 W3 b3`` dict."""
    torch.manual_seed(context.seed(seed))
    net = reference_network()
    return params_from_model(net, device=device, dtype=dtype)


def params_from_model(model: nn.Module, device=None, dtype=None) -> dict[str, torch.Tensor]:
    """``{"W1": first Linear's weight, "b1": its bias, ...}``, detached copies."""
    out = {}
    for i, layer in enumerate((m for m in model.modules() if isinstance(m, nn.Linear)), start=1):
        out[f"W{i}"] = layer.weight.detach().to(device=device, dtype=dtype).clone()
        out[f"b{i}"] = layer.bias.detach().to(device=device, dtype=dtype).clone()
    return out


def reference_mlp(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The MLP with torch's ops: x (N, 28, 28) or (N, 784) -> logits (N, 10)."""
    return _forward_with([(params[f"W{i}"], params[f"b{i}"]) for i in (1, 2, 3)], x)


def _inputs(device, dtype, seed):
    return torch.rand((6, 28, 28), generator=generator(seed), dtype=torch.float64).to(device=device, dtype=dtype)


def _pair_or_fail(name: str, out: Any, what: str) -> tuple:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailure(f"{name} returned a {type_name(out)}; expected a pair {what}.\n"
                           f"Hint: end with `return {what[1:-1]}`.")
    return out


def loss_of(fn: Callable) -> Part:
    """``fn(logits, y) -> (loss, dlogits)`` seen as a function returning the loss (for an example)."""
    name = display_name(fn)
    return Part(fn, lambda out: _pair_or_fail(name, out, "(loss, dlogits)")[0], name)


def check_mlp_forward(mlp_forward: Callable, *, devices=None, dtypes=None) -> None:
    """``mlp_forward(params, x)[0]`` equals the reference logits on every device and dtype."""
    for device, dtype in grid(devices, dtypes):
        params, x = random_params(device, dtype), _inputs(device, dtype, 1)
        case = Case("6 random images", (x,))
        out = watched_call(mlp_forward, (params, x), name="mlp_forward", where=case.describe(),
                           allowed=ALLOWED["mlp_forward"], arg_names=("params", "x"))
        out = _pair_or_fail("mlp_forward", out, "(logits, cache)")
        assert_tensor_matches(out[0], reference_mlp(params, x), name="mlp_forward", case=case, what="logits",
                              **_tol(dtype))
    print("OK: mlp_forward matches the torch network")


def _relu_passthrough(h: torch.Tensor) -> torch.Tensor:
    """ReLU's value with the identity's gradient: a backward that forgot the ReLU mask."""
    return h + (torch.relu(h) - h).detach()


def _grads_without_mask(params, x, g, layer: int) -> dict[str, torch.Tensor]:
    """The gradients a backward gives when it forgets the ReLU mask after hidden layer ``layer`` (1 or 2)."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h = x.flatten(1)
    for i in (1, 2):
        a = F.linear(h, leaves[f"W{i}"], leaves[f"b{i}"])
        h = _relu_passthrough(a) if i == layer else torch.relu(a)
    logits = F.linear(h, leaves["W3"], leaves["b3"])
    return dict(zip(PARAM_NAMES, vjp(logits, [leaves[k] for k in PARAM_NAMES], g)))


def _mask_hints(params, x, g, key: str) -> list:
    """Hints for ``grads[key]``: it equals what a backward without one of the ReLU masks gives
    (computed only when a hint is asked for, that is after a mismatch)."""
    def hint_for(layer: int):
        def hint(m):
            wrong = _grads_without_mask(params, x, g, layer)[key]
            if m.got.shape == wrong.shape and torch.allclose(m.got.double(), wrong.double(), rtol=1e-4, atol=1e-5):
                return (f"these are the gradients of a backward without the ReLU mask after layer {layer}: "
                        f"multiply the upstream gradient by (a{layer} > 0) before going through W{layer}.")
            return None
        return hint
    return [hint_for(2), hint_for(1)]


def check_mlp_backward(mlp_forward: Callable, mlp_backward: Callable, *, devices=None, dtypes=None) -> None:
    """Every gradient of ``mlp_backward`` equals autograd's, with a random upstream gradient."""
    count = 0
    for device, dtype in grid(devices, dtypes):
        params, x = random_params(device, dtype), _inputs(device, dtype, 2)
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        logits = reference_mlp(leaves, x)
        g = torch.randn(logits.shape, generator=generator(3), dtype=torch.float64).to(device, dtype)
        expected = dict(zip(PARAM_NAMES, vjp(logits, [leaves[k] for k in PARAM_NAMES], g)))
        case = Case("6 random images, random upstream gradient", (x,))
        out = watched_call(mlp_forward, (params, x), name="mlp_forward", where=case.describe(),
                           allowed=ALLOWED["mlp_forward"], arg_names=("params", "x"))
        _, cache = _pair_or_fail("mlp_forward", out, "(logits, cache)")
        grads = watched_call(mlp_backward, (params, cache, g), name="mlp_backward", where=case.describe(),
                             allowed=ALLOWED["mlp_backward"], allow_autograd=False,
                             arg_names=("params", "cache", "dlogits"))
        if not isinstance(grads, dict) or set(grads) != set(PARAM_NAMES):
            got = sorted(grads) if isinstance(grads, dict) else type_name(grads)
            raise CheckFailure(f"mlp_backward returned {got} on {case.describe()}; expected a dict with the keys "
                               f"{list(PARAM_NAMES)}.\nHint: one gradient per parameter, shaped like it: "
                               f"grads['W1'] like params['W1'], and so on.")
        # from the output back, as backward computes them: the first wrong one is nearest the slip
        for key in reversed(PARAM_NAMES):
            assert_tensor_matches(grads[key], expected[key], name="mlp_backward", case=case,
                                  what=f"grads[{key!r}]", hints=_mask_hints(params, x, g, key), **_tol(dtype))
            count += 1
    print(f"OK: mlp_backward matches autograd on {count} parameter gradients")


def _ce_cases(device, dtype):
    g = generator(4)
    for label, n, scale in (("8x10 logits", 8, 3.0), ("1x10 logits", 1, 3.0), ("large logits (+-100..1000)", 6, 400.0)):
        logits = (torch.randn((n, 10), generator=g, dtype=torch.float64) * scale).to(device, dtype)
        y = torch.randint(0, 10, (n,), generator=g).to(device)
        yield Case(label, (logits, y))


CE_HINTS = {
    "loss": [matches(lambda z, y: F.nll_loss(F.softmax(z.double(), 1), y.long()),
                     "that is nll_loss on probabilities (a negative number): take the log of the softmax.")],
    "grad": [matches(lambda z, y: (F.softmax(z.double(), 1) - F.one_hot(y.long(), z.shape[1]).double()),
                     "your gradient is N times too large: the loss is a mean over the batch, so divide by N.")],
}


def check_cross_entropy(fn: Callable, *, devices=None, dtypes=None) -> None:
    """``fn(logits, y) -> (loss, dlogits)`` against ``F.cross_entropy`` and its autograd gradient."""
    count = 0
    for device, dtype in grid(devices, dtypes):
        for case in _ce_cases(device, dtype):
            logits, y = case.args
            leaf = logits.clone().requires_grad_(True)
            loss = F.cross_entropy(leaf, y)
            (dlogits,) = torch.autograd.grad(loss, leaf)
            out = watched_call(fn, case.args, name="softmax_cross_entropy", where=case.describe(),
                               allowed=ALLOWED["softmax_cross_entropy"], allow_autograd=False, arg_names=("logits", "y"))
            out = _pair_or_fail("softmax_cross_entropy", out, "(loss, dlogits)")
            assert_tensor_matches(out[0], loss.detach(), name="softmax_cross_entropy", case=case, what="loss",
                                  hints=CE_HINTS["loss"])
            assert_tensor_matches(out[1], dlogits, name="softmax_cross_entropy", case=case, what="dlogits",
                                  hints=CE_HINTS["grad"])
            count += 1
    print(f"OK: softmax_cross_entropy matches F.cross_entropy and autograd on {count} cases")


# ----------------------------------------------------------------------------- training loops
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


def _build(lib: Callable, kind: str) -> Any:
    return lib("torch.nn.Sequential", *[lib(name, *args) for name, args in _probe_layers(kind)])


def _local_lib(name: str, *args):
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
    return {k: v.clone() for k, v in _build(_local_lib, kind).state_dict().items()}


def _fake_batches(n_batches: int, seed: int, size: int = 16):
    g = generator(seed)
    return [(torch.rand((size, 28, 28), generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n_batches)]


def _reference_epoch(state, data, device, *, train=True, hooks=True, zero_grad=True, softmax=False):
    """What one epoch of the right loop (or a known mistake) leaves: (state_dict, batch losses)."""
    model = _build(_local_lib, "train")
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
    model = _build(_local_lib, "eval")
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


def check_training_reaches(train_one_epoch: Callable, evaluate: Callable, *, threshold: float = 0.8,
                           epochs: int = 2, budget_s: float = 120.0, devices=None) -> None:
    """Train the chapter's network with the student's loop on a generated stand-in data set
    (1500 training, 500 held-out images; the solution reaches about 0.93). The referee
    computes the held-out accuracy itself from the trained parameters, requires ``threshold``
    within ``budget_s`` seconds on every device, and the student's ``evaluate`` must report
    the same accuracy."""
    from ..data.standin import make_images

    side = side_of(train_one_epoch)
    xs, ys = make_images(2000, seed=context.seed(11) % 2**32)
    X = torch.from_numpy(xs).float() / 255.0
    y = torch.from_numpy(ys).long()
    held_out = [(X[1500 + i:1750 + i], y[1500 + i:1750 + i]) for i in (0, 250)]
    for device in default_devices() if devices is None else devices:
        side.manual_seed(context.seed(0) % 2**32)
        model = side.lib("torch.nn.Sequential", *[side.lib(name, *args) for name, args in (
            ("torch.nn.Flatten", ()), ("torch.nn.Linear", (784, 512)), ("torch.nn.ReLU", ()),
            ("torch.nn.Linear", (512, 512)), ("torch.nn.ReLU", ()), ("torch.nn.Linear", (512, 10)))])
        model.to(device)
        optimizer = side.lib("torch.optim.SGD", model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = side.lib("torch.nn.CrossEntropyLoss")
        gen = generator(12)
        start = time.perf_counter()
        for epoch in range(epochs):
            order = torch.randperm(1500, generator=gen)
            batches = [(X[order[i:i + 64]], y[order[i:i + 64]]) for i in range(0, 1500, 64)]
            watched_call(train_one_epoch, (model, batches, loss_fn, optimizer, device), name="train_one_epoch",
                         where=f"epoch {epoch + 1} on {device}")
        elapsed = time.perf_counter() - start
        state = {k: v.to("cpu") for k, v in model.state_dict().items()}
        weights = [(state[f"{i}.weight"], state[f"{i}.bias"]) for i in (1, 3, 5)]
        with torch.no_grad():
            acc = float((_forward_with(weights, X[1500:]).argmax(1) == y[1500:]).float().mean())
        if acc < threshold:
            raise CheckFailure(f"train_one_epoch: after {epochs} epochs on {device}, the network's held-out accuracy "
                               f"is {acc:.3f}; expected at least {threshold} (the solution reaches about 0.93).\n"
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
