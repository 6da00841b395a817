"""Torch's own formulations of every graded answer (issue 17, point 4), for the checks alone.

Each :class:`Alternative` replaces one name of the notebook (a function or a class) with
torch's own way of computing it: its library function under another name, a formula that is
the same on paper, or its backward kernel. With every operator allowed, the checks judge
values only, and each must pass every case of every test cell that uses the name, the hidden
±1000 cases included. A formula that is fine only away from the extremes (``log(softmax(x))``)
gets ``calls``: the check calls it is judged on, instead of the test cells.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .model import A1, A2, A3, A4, A5, A6, A7


@dataclass(frozen=True)
class Alternative:
    """``value`` in place of the notebook's ``name``, labelled ``label``; ``calls``: the check
    calls that judge it (a test cell's text), when not every test cell using ``name``."""

    assignment: str
    name: str
    label: str
    value: Any
    calls: str | None = None

    @property
    def id(self) -> str:
        return f"{self.assignment[:2]}:{self.name}={self.label}"


def _both(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return t.clamp(min=0), t.clamp(max=0)


# ------------------------------------------------------------------ chapter 1 and 2: element-wise
ACTIVATIONS = [
    Alternative(A1, "step", "torch.heaviside(x, 0)", lambda x: torch.heaviside(x, torch.zeros_like(x))),
    Alternative(A1, "step", "relu(sign(x))", lambda x: torch.relu(torch.sign(x))),
    Alternative(A1, "step_derivative", "x.new_zeros(x.shape)", lambda x: x.new_zeros(x.shape)),
    Alternative(A1, "sigmoid", "torch.sigmoid", torch.sigmoid),
    Alternative(A1, "sigmoid", "torch.special.expit", lambda x: torch.special.expit(x)),
    Alternative(A1, "sigmoid", "nn.Sigmoid()", lambda x: nn.Sigmoid()(x)),
    Alternative(A1, "sigmoid", "1 / (1 + exp(-x))", lambda x: 1 / (1 + torch.exp(-x))),
    Alternative(A1, "sigmoid", "(1 + tanh(x / 2)) / 2", lambda x: (1 + torch.tanh(x / 2)) / 2),
    Alternative(A1, "sigmoid", "exp(logsigmoid(x))", lambda x: torch.exp(F.logsigmoid(x))),
    Alternative(A1, "sigmoid", "2-class softmax", lambda x: torch.softmax(torch.stack([x, torch.zeros_like(x)]), 0)[0]),
    Alternative(A1, "sigmoid_derivative", "sigmoid(x) * (1 - sigmoid(x))",
                lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
    Alternative(A1, "sigmoid_derivative", "aten.sigmoid_backward",
                lambda x: torch.ops.aten.sigmoid_backward(torch.ones_like(x), torch.sigmoid(x))),
    Alternative(A1, "sigmoid_derivative", "exp(logsigmoid(x) + logsigmoid(-x))",
                lambda x: torch.exp(F.logsigmoid(x) + F.logsigmoid(-x))),
    Alternative(A1, "sigmoid_derivative", "0.25 / cosh(x / 2) ** 2", lambda x: 0.25 / torch.cosh(x / 2) ** 2),
    Alternative(A1, "tanh", "torch.tanh", torch.tanh),
    Alternative(A1, "tanh", "nn.Tanh()", lambda x: nn.Tanh()(x)),
    Alternative(A1, "tanh", "2 * sigmoid(2x) - 1", lambda x: 2 * torch.sigmoid(2 * x) - 1),
    Alternative(A1, "tanh", "sinh / cosh away from overflow", lambda x: torch.sinh(x) / torch.cosh(x),
                calls="check_forward(tanh, torch.tanh, name='tanh', cases=ch.plain_cases, allowed=None)"),
    Alternative(A1, "tanh_derivative", "1 - tanh(x) ** 2", lambda x: 1 - torch.tanh(x) ** 2),
    Alternative(A1, "tanh_derivative", "aten.tanh_backward",
                lambda x: torch.ops.aten.tanh_backward(torch.ones_like(x), torch.tanh(x))),
    Alternative(A1, "tanh_derivative", "1 / cosh(x) ** 2", lambda x: 1 / torch.cosh(x) ** 2),
    Alternative(A1, "tanh_derivative", "4 sigmoid(2x) sigmoid(-2x)",
                lambda x: 4 * torch.sigmoid(2 * x) * torch.sigmoid(-2 * x)),
    Alternative(A1, "relu", "torch.relu", torch.relu),
    Alternative(A1, "relu", "F.relu", lambda x: F.relu(x)),
    Alternative(A1, "relu", "x.clamp(min=0)", lambda x: x.clamp(min=0)),
    Alternative(A1, "relu", "F.threshold(x, 0, 0)", lambda x: F.threshold(x, 0.0, 0.0)),
    Alternative(A1, "relu", "F.hardtanh(x, 0, inf)", lambda x: F.hardtanh(x, 0.0, math.inf)),
    Alternative(A1, "relu_derivative", "aten.threshold_backward",
                lambda x: torch.ops.aten.threshold_backward(torch.ones_like(x), x, 0)),
    Alternative(A1, "relu_derivative", "heaviside(x, 0)", lambda x: torch.heaviside(x, torch.zeros_like(x))),
    Alternative(A2, "sigmoid", "torch.sigmoid", torch.sigmoid),
    Alternative(A2, "sigmoid", "torch.special.expit", lambda x: torch.special.expit(x)),
    Alternative(A2, "sigmoid", "1 / (1 + exp(-x))", lambda x: 1 / (1 + torch.exp(-x))),
    Alternative(A2, "sigmoid", "exp(-softplus(-x))", lambda x: torch.exp(-F.softplus(-x))),
    Alternative(A2, "sigmoid", "2-class softmax", lambda x: torch.softmax(torch.stack([x, torch.zeros_like(x)]), 0)[0]),
    Alternative(A2, "sigmoid_backward", "aten.sigmoid_backward",
                lambda y, grad_out: torch.ops.aten.sigmoid_backward(grad_out, y)),
    Alternative(A2, "log_sigmoid", "F.logsigmoid", lambda x: F.logsigmoid(x)),
    Alternative(A2, "log_sigmoid", "-softplus(-x)", lambda x: -F.softplus(-x)),
    Alternative(A2, "log_sigmoid", "x - softplus(x)", lambda x: x - F.softplus(x)),
    Alternative(A2, "log_sigmoid", "-logaddexp(0, -x)", lambda x: -torch.logaddexp(torch.zeros_like(x), -x)),
    Alternative(A2, "log_sigmoid", "log(sigmoid(x)) away from underflow", lambda x: torch.log(torch.sigmoid(x)),
                calls="check_forward(log_sigmoid, ch.log_sigmoid_reference, name='log_sigmoid', cases=ch.plain_cases, "
                      "allowed=None)"),
    Alternative(A2, "log_sigmoid_backward", "grad_out * sigmoid(-x)", lambda x, grad_out: grad_out * torch.sigmoid(-x)),
    Alternative(A2, "log_sigmoid_backward", "grad_out * (1 - sigmoid(x))",
                lambda x, grad_out: grad_out * (1 - torch.sigmoid(x))),
    Alternative(A2, "log_sigmoid_backward", "aten.log_sigmoid_backward",
                lambda x, grad_out: torch.ops.aten.log_sigmoid_backward(
                    grad_out, x, torch.ops.aten.log_sigmoid_forward(x)[1])),
]

# ------------------------------------------------------------------ chapter 3 and 4: along a dim
ALONG_DIM = [
    Alternative(A3, "softmax", "torch.softmax", torch.softmax),
    Alternative(A3, "softmax", "F.softmax", lambda x, dim: F.softmax(x, dim=dim)),
    Alternative(A3, "softmax", "nn.Softmax(dim)", lambda x, dim: nn.Softmax(dim)(x)),
    Alternative(A3, "softmax", "exp(log_softmax(x))", lambda x, dim: torch.exp(torch.log_softmax(x, dim))),
    Alternative(A3, "softmax", "exp(x - logsumexp(x))",
                lambda x, dim: torch.exp(x - torch.logsumexp(x, dim, keepdim=True))),
    Alternative(A3, "log_softmax", "torch.log_softmax", torch.log_softmax),
    Alternative(A3, "log_softmax", "F.log_softmax", lambda x, dim: F.log_softmax(x, dim=dim)),
    Alternative(A3, "log_softmax", "x - logsumexp(x)", lambda x, dim: x - torch.logsumexp(x, dim, keepdim=True)),
    Alternative(A3, "log_softmax", "x - (m + log(sum(exp(x - m))))",
                lambda x, dim: x - (x.amax(dim, keepdim=True)
                                    + torch.log(torch.exp(x - x.amax(dim, keepdim=True)).sum(dim, keepdim=True)))),
    Alternative(A3, "log_softmax", "log(softmax(x)) away from underflow",
                lambda x, dim: torch.log(torch.softmax(x, dim)),
                calls="check_forward(log_softmax, torch.log_softmax, name='log_softmax', cases=ch.square_first_cases, "
                      "allowed=None)"),
    Alternative(A3, "softmax_backward", "torch._softmax_backward_data",
                lambda s, grad_out, dim: torch._softmax_backward_data(grad_out, s, dim, s.dtype)),
    Alternative(A3, "log_softmax_backward", "torch._log_softmax_backward_data",
                lambda ls, grad_out, dim: torch._log_softmax_backward_data(grad_out, ls, dim, ls.dtype)),
    Alternative(A4, "normalize", "F.normalize(p=1)", lambda x, dim: F.normalize(x, p=1.0, dim=dim)),
    Alternative(A4, "normalize", "x / x.norm(p=1)", lambda x, dim: x / x.norm(p=1, dim=dim, keepdim=True)),
    Alternative(A4, "normalize", "x / vector_norm(x, 1)",
                lambda x, dim: x / torch.linalg.vector_norm(x, 1, dim=dim, keepdim=True)),
    Alternative(A4, "max_along", "torch.max", lambda x, dim, keepdim=False: torch.max(x, dim, keepdim=keepdim)),
    Alternative(A4, "max_along", "(amax, argmax)",
                lambda x, dim, keepdim=False: (x.amax(dim, keepdim=keepdim), x.argmax(dim, keepdim=keepdim))),
    Alternative(A4, "max_along", "stable descending sort",
                lambda x, dim, keepdim=False: tuple(
                    t.narrow(dim, 0, 1) if keepdim else t.select(dim, 0)
                    for t in torch.sort(x, dim=dim, descending=True, stable=True))),
    Alternative(A4, "softmax_channels", "torch.softmax(x, 1)", lambda x: torch.softmax(x, 1)),
    Alternative(A4, "softmax_channels", "nn.Softmax2d", lambda x: nn.Softmax2d()(x)),
    Alternative(A4, "softmax_channels", "exp(x - logsumexp(x, 1))",
                lambda x: torch.exp(x - torch.logsumexp(x, 1, keepdim=True))),
]

# ------------------------------------------------------------------ chapter 5: the losses
REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def _aten_nll_backward(log_probs, target, grad_out, weight=None, ignore_index=-100, reduction="mean"):
    """torch's own NLL backward kernel, with the total weight its forward computes."""
    _, total = torch.ops.aten.nll_loss_forward(log_probs, target, weight, REDUCTION[reduction], ignore_index)
    return torch.ops.aten.nll_loss_backward(grad_out, log_probs, target, weight, REDUCTION[reduction], ignore_index,
                                            total)


def _aten_ce_backward(logits, target, grad_out, weight=None, ignore_index=-100, reduction="mean"):
    """torch's own kernels chained: NLL backward, then log-softmax backward."""
    log_probs = torch.log_softmax(logits, -1)
    d = _aten_nll_backward(log_probs, target, grad_out, weight, ignore_index, reduction)
    return torch._log_softmax_backward_data(d, log_probs, -1, logits.dtype)


def _softmax_minus_onehot(logits, target, grad_out, weight=None, ignore_index=-100, reduction="mean"):
    """c * (softmax - onehot), with c from torch's NLL backward kernel."""
    log_probs = torch.log_softmax(logits, -1)
    coeff = -_aten_nll_backward(log_probs, target, grad_out, weight, ignore_index, reduction).sum(-1, keepdim=True)
    onehot = F.one_hot(torch.where(target == ignore_index, 0, target), logits.shape[-1]).to(logits.dtype)
    return coeff * (torch.softmax(logits, -1) - onehot)


def _keywords(loss):
    """``loss`` (F.nll_loss, F.cross_entropy) with the exercise's signature: torch's own takes
    ``size_average`` third when called positionally, as the solution's cross_entropy calls nll_loss."""
    def call(x, target, weight=None, ignore_index=-100, reduction="mean"):
        return loss(x, target, weight=weight, ignore_index=ignore_index, reduction=reduction)
    return call


LOSSES = [
    Alternative(A5, "nll_loss", "F.nll_loss", _keywords(F.nll_loss)),
    Alternative(A5, "nll_loss_backward", "aten.nll_loss_backward", _aten_nll_backward),
    Alternative(A5, "cross_entropy", "F.cross_entropy", _keywords(F.cross_entropy)),
    Alternative(A5, "cross_entropy", "nll_loss(log_softmax(x))",
                lambda x, t, weight=None, ignore_index=-100, reduction="mean":
                F.nll_loss(F.log_softmax(x, -1), t, weight=weight, ignore_index=ignore_index, reduction=reduction)),
    Alternative(A5, "cross_entropy", "nll_loss(x - logsumexp(x))",
                lambda x, t, weight=None, ignore_index=-100, reduction="mean":
                F.nll_loss(x - torch.logsumexp(x, -1, keepdim=True), t, weight=weight, ignore_index=ignore_index,
                           reduction=reduction)),
    Alternative(A5, "cross_entropy_backward", "aten nll_loss_backward then _log_softmax_backward_data",
                _aten_ce_backward),
    Alternative(A5, "cross_entropy_backward", "c * (softmax - one_hot)", _softmax_minus_onehot),
]


# ------------------------------------------------------------------ chapter 6: layers
class TorchRelu:
    def forward(self, x):
        self.x = x
        return torch.relu(x)

    def backward(self, dout):
        return torch.ops.aten.threshold_backward(dout, self.x, 0)


class ModuleRelu:
    def forward(self, x):
        self.x = x
        return nn.ReLU()(x)

    def backward(self, dout):
        return dout * (self.x > 0)


class TorchSigmoid:
    def forward(self, x):
        self.out = torch.sigmoid(x)
        return self.out

    def backward(self, dout):
        return torch.ops.aten.sigmoid_backward(dout, self.out)


class TorchLinear:
    """nn.Linear's own initialisation; F.linear forward."""

    def __init__(self, in_features, out_features, device=None, dtype=None):
        layer = nn.Linear(in_features, out_features, device=device, dtype=dtype)
        self.weight, self.bias = layer.weight.detach(), layer.bias.detach()

    def forward(self, x):
        self.x = x
        return F.linear(x, self.weight, self.bias)

    def backward(self, dout):
        self.grad_weight = dout.T @ self.x
        self.grad_bias = dout.sum(0)
        return dout @ self.weight


class AddmmLinear(TorchLinear):
    """kaiming_uniform_ as nn.Linear's reset_parameters does it; torch.addmm forward and backward."""

    def __init__(self, in_features, out_features, device=None, dtype=None):
        self.weight = torch.empty(out_features, in_features, device=device, dtype=dtype)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(in_features)
        self.bias = torch.empty(out_features, device=device, dtype=dtype).uniform_(-bound, bound)

    def forward(self, x):
        self.x = x
        return torch.addmm(self.bias, x, self.weight.T)

    def backward(self, dout):
        self.grad_weight = torch.mm(dout.T, self.x)
        self.grad_bias = dout.sum(0)
        return torch.mm(dout, self.weight)


class TorchFlatten:
    def forward(self, x):
        self.shape = x.shape
        return torch.flatten(x, 1)

    def backward(self, dout):
        return dout.unflatten(1, self.shape[1:])


class ModuleFlatten:
    def forward(self, x):
        self.shape = x.shape
        return nn.Flatten()(x)

    def backward(self, dout):
        return dout.view(self.shape)


LAYERS = [
    Alternative(A6, "Relu", "torch.relu, aten.threshold_backward", TorchRelu),
    Alternative(A6, "Relu", "nn.ReLU()", ModuleRelu),
    Alternative(A6, "Sigmoid", "torch.sigmoid, aten.sigmoid_backward", TorchSigmoid),
    Alternative(A6, "Linear", "nn.Linear's init, F.linear", TorchLinear),
    Alternative(A6, "Linear", "kaiming_uniform_, torch.addmm", AddmmLinear),
    Alternative(A6, "Flatten", "torch.flatten, unflatten", TorchFlatten),
    Alternative(A6, "Flatten", "nn.Flatten(), view", ModuleFlatten),
]


# ------------------------------------------------------------------ chapter 7: the network and its training
def sequential_network():
    """The network as a bare nn.Sequential."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def named_network():
    """The network as an nn.Sequential of named layers."""
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc1", nn.Linear(784, 512)), ("relu1", nn.ReLU()),
                                      ("fc2", nn.Linear(512, 512)), ("relu2", nn.ReLU()),
                                      ("fc3", nn.Linear(512, 10))]))


def torch_cross_entropy(logits, y):
    loss = F.cross_entropy(logits, y)
    return loss, (F.softmax(logits, 1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)) / logits.shape[0]


def kernel_cross_entropy(logits, y):
    log_probs = torch.log_softmax(logits, 1)
    loss = F.nll_loss(log_probs, y)
    return loss, _aten_ce_backward(logits, y, torch.ones((), dtype=logits.dtype, device=logits.device))


# The cache is the solution's, (x, a1, h1, a2, h2): the test of mlp_backward pairs each with the other's.
def functional_mlp_forward(params, x):
    x = x.flatten(1)
    a1 = F.linear(x, params["W1"], params["b1"])
    h1 = F.relu(a1)
    a2 = F.linear(h1, params["W2"], params["b2"])
    h2 = F.relu(a2)
    return F.linear(h2, params["W3"], params["b3"]), (x, a1, h1, a2, h2)


def addmm_mlp_forward(params, x):
    x = x.flatten(1)
    a1 = torch.addmm(params["b1"], x, params["W1"].T)
    h1 = torch.relu(a1)
    a2 = torch.addmm(params["b2"], h1, params["W2"].T)
    h2 = torch.relu(a2)
    return torch.addmm(params["b3"], h2, params["W3"].T), (x, a1, h1, a2, h2)


def kernel_mlp_backward(params, cache, dlogits):
    x, a1, h1, a2, h2 = cache
    grads = {"W3": dlogits.T @ h2, "b3": dlogits.sum(0)}
    da2 = torch.ops.aten.threshold_backward(dlogits @ params["W3"], a2, 0)
    grads["W2"], grads["b2"] = da2.T @ h1, da2.sum(0)
    da1 = torch.ops.aten.threshold_backward(da2 @ params["W2"], a1, 0)
    grads["W1"], grads["b1"] = da1.T @ x, da1.sum(0)
    return grads


def set_to_none_epoch(model, batches, loss_fn, optimizer, device):
    model.train(True)
    losses = []
    for X, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(X.to(device)), y.to(device))
        torch.autograd.backward(loss)
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def inference_mode_evaluate(model, batches, loss_fn, device):
    model.eval()
    losses, hits, seen = [], 0, 0
    with torch.inference_mode():
        for X, y in batches:
            X, y = X.to(device), y.to(device)
            logits = model(X)
            losses.append(loss_fn(logits, y).item())
            hits += int((logits.argmax(1) == y).sum())
            seen += y.numel()
    return sum(losses) / len(losses), hits / seen


TRAINING = [
    Alternative(A7, "NeuralNetwork", "a bare nn.Sequential", sequential_network),
    Alternative(A7, "NeuralNetwork", "nn.Sequential of named layers", named_network),
    Alternative(A7, "softmax_cross_entropy", "F.cross_entropy, softmax - one_hot", torch_cross_entropy),
    Alternative(A7, "softmax_cross_entropy", "F.nll_loss(log_softmax), torch's backward kernels", kernel_cross_entropy),
    Alternative(A7, "mlp_forward", "F.linear and F.relu", functional_mlp_forward),
    Alternative(A7, "mlp_forward", "torch.addmm and torch.relu", addmm_mlp_forward),
    Alternative(A7, "mlp_backward", "aten.threshold_backward for the ReLU masks", kernel_mlp_backward),
    Alternative(A7, "train_one_epoch", "zero_grad(set_to_none), torch.autograd.backward", set_to_none_epoch),
    Alternative(A7, "evaluate", "inference_mode", inference_mode_evaluate),
]

ALTERNATIVES = ACTIVATIONS + ALONG_DIM + LOSSES + LAYERS + TRAINING
