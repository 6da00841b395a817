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

from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn import functional as F

from ..checks import context
from ..checks.calls import CheckFailure, Part, display_name, is_a, pair, side_of, type_name, watched_call
from ..checks.cases import Case, generator
from ..checks.compare import assert_tensor_matches
from ..checks.devices import devices as default_devices
from ..checks.devices import grid
from ..checks.hints import matches
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, LINEAR, LOG_SOFTMAX, NLL, NO_GRAD, RELU, SOFTMAX
from ..checks import mlp, training
from ..checks.training import check_evaluate, check_train_one_epoch

#: (in_features, out_features) of the three Linear layers.
LAYERS = ((784, 512), (512, 512), (512, 10))
#: 784*512 + 512 + 512*512 + 512 + 512*10 + 10
EXPECTED_PARAMETERS = sum(i * o + o for i, o in LAYERS)
#: float32 ``(rtol, atol)`` for the network's outputs: sums over 784 products, whose
#: float32 roundings differ by more than an ulp from one order of summation to another.
LONG_SUMS = (1e-4, 1e-5)
#: The rules of each graded function: the network and the training loop may use all of
#: torch; the from-scratch MLP and the loss use basic operations only (no ``F.linear`` /
#: ``addmm``, ReLU, softmax, log_softmax or the library losses), and no autograd in a
#: hand-written backward; evaluation turns gradient tracking off.
EXERCISE = Exercise("07-fashion-mnist", (
    Rule("NeuralNetwork", ("test_network",), any_op=True, tolerance=LONG_SUMS),
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


def _short_type(obj: Any) -> str:
    return type_name(obj).rsplit(".", 1)[-1]


def _leaves(model: Any) -> list[Any]:
    """The model's modules without children, in order (works on a handle too)."""
    return [m for m in model.modules() if not list(m.children())]


def _linear_weights(model: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(m.weight.detach(), m.bias.detach()) for m in _leaves(model) if is_a(m, LINEAR_TYPE)]


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
                expected = mlp.forward_with(_linear_weights(model), x)
            assert_tensor_matches(got.detach() if isinstance(got, torch.Tensor) else got, expected,
                                  name="NeuralNetwork", case=case, what="logits",
                                  **EXERCISE["NeuralNetwork"].rtol_atol(x.dtype))
            if not got.requires_grad:
                raise CheckFailure(f"NeuralNetwork returned logits with no autograd graph on {case.describe()}.\n"
                                   f"Hint: do not detach them or use torch.no_grad() in forward: training needs "
                                   f"the graph.")
    print(f"OK: NeuralNetwork has {EXPECTED_PARAMETERS:,} parameters, returns logits, runs on "
          f"{', '.join(default_devices() if devices is None else devices)}")


def loss_of(fn: Callable) -> Part:
    """``fn(logits, y) -> (loss, dlogits)`` seen as a function returning the loss (for an example)."""
    name = display_name(fn)
    return Part(fn, lambda out: pair(name, out, "(loss, dlogits)")[0], name)


def random_params(device, dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """The reference network's default initialisation as a ``W1 b1 W2 b2 W3 b3`` dict."""
    return mlp.random_params(reference_network, device, dtype, seed)


def check_mlp_forward(mlp_forward: Callable, *, devices=None, dtypes=None) -> None:
    """``mlp_forward(params, x)[0]`` equals the chapter network's logits (:mod:`autograder.checks.mlp`)."""
    mlp.check_mlp_forward(mlp_forward, reference_network, EXERCISE["mlp_forward"], devices=devices, dtypes=dtypes)


def check_mlp_backward(mlp_forward: Callable, mlp_backward: Callable, *, devices=None, dtypes=None) -> None:
    """Every gradient of ``mlp_backward`` equals autograd's (:mod:`autograder.checks.mlp`)."""
    mlp.check_mlp_backward(mlp_forward, mlp_backward, reference_network, EXERCISE["mlp_forward"],
                           EXERCISE["mlp_backward"], devices=devices, dtypes=dtypes)


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
            out = pair("softmax_cross_entropy", out, "(loss, dlogits)")
            assert_tensor_matches(out[0], loss.detach(), name="softmax_cross_entropy", case=case, what="loss",
                                  hints=CE_HINTS["loss"])
            assert_tensor_matches(out[1], dlogits, name="softmax_cross_entropy", case=case, what="dlogits",
                                  hints=CE_HINTS["grad"])
            count += 1
    print(f"OK: softmax_cross_entropy matches F.cross_entropy and autograd on {count} cases")


#: The chapter's network as the student's side builds it (the last test trains it).
NETWORK = [("torch.nn.Flatten", ()), ("torch.nn.Linear", (784, 512)), ("torch.nn.ReLU", ()),
           ("torch.nn.Linear", (512, 512)), ("torch.nn.ReLU", ()), ("torch.nn.Linear", (512, 10))]


def check_training_reaches(train_one_epoch: Callable, evaluate: Callable, *, threshold: float = 0.8,
                           epochs: int = 2, budget_s: float = 120.0, devices=None) -> None:
    """Train the chapter's network with the student's loop on a generated stand-in data set
    (1500 training, 500 held-out images, drawn from the run's secret; the solution reaches
    about 0.93): :func:`autograder.checks.training.check_training_reaches`."""
    from ..data.standin import make_images

    xs, ys = make_images(2000, seed=context.seed(11) % 2**32)
    X, y = torch.from_numpy(xs).float() / 255.0, torch.from_numpy(ys).long()
    training.check_training_reaches(train_one_epoch, evaluate, NETWORK, X, y, train=1500, threshold=threshold,
                                    expected=0.93, epochs=epochs, budget_s=budget_s, devices=devices)


__all__ = ["ALLOWED", "EXERCISE", "EXPECTED_PARAMETERS", "LAYERS", "NETWORK", "check_cross_entropy", "check_evaluate",
           "check_mlp_backward", "check_mlp_forward", "check_network", "check_train_one_epoch",
           "check_training_reaches", "loss_of", "random_params", "reference_network"]
