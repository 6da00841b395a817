"""torch's own versions of what the exercises ask students to write: the shortcuts.

Each :class:`~.rules.Shortcut` lists every name torch gives the function (the static check
refuses any of them reached under ``torch``, and a method call of that name) and the aten
operators it runs (the recorder refuses them). The chapters' rule tables pick from here.
"""
from __future__ import annotations

from .rules import Requirement, Shortcut


def _shortcut(label: str, names: str, ops: str, shown: str) -> Shortcut:
    return Shortcut(label, frozenset(names.split()), frozenset(ops.split()), tuple(shown.split()))


STEP = _shortcut("torch's step function", "heaviside", "heaviside", "torch.heaviside")
SIGMOID = _shortcut("torch's sigmoid", "sigmoid sigmoid_ expit Sigmoid silu SiLU", "sigmoid silu",
                    "torch.sigmoid torch.special.expit F.sigmoid nn.Sigmoid x.sigmoid()")
TANH = _shortcut("torch's tanh", "tanh tanh_ Tanh", "tanh", "torch.tanh F.tanh nn.Tanh x.tanh()")
RELU = _shortcut("torch's ReLU", "relu relu_ ReLU relu6 ReLU6 threshold threshold_ Threshold hardtanh hardtanh_ "
                 "Hardtanh leaky_relu leaky_relu_ LeakyReLU rrelu RReLU elu ELU celu CELU prelu PReLU",
                 "relu relu6 threshold hardtanh leaky_relu rrelu elu celu prelu _prelu_kernel",
                 "torch.relu F.relu nn.ReLU x.relu() F.threshold F.hardtanh F.leaky_relu")
LOG_SIGMOID = _shortcut("torch's log-sigmoid and softplus", "logsigmoid log_sigmoid LogSigmoid softplus Softplus",
                        "log_sigmoid log_sigmoid_forward softplus",
                        "F.logsigmoid nn.LogSigmoid F.softplus nn.Softplus")
SOFTMAX = _shortcut("torch's softmax", "softmax Softmax Softmax2d softmin Softmin _softmax gumbel_softmax",
                    "softmax _softmax softmin _masked_softmax",
                    "torch.softmax F.softmax nn.Softmax x.softmax() torch.special.softmax F.softmin")
LOG_SOFTMAX = _shortcut("torch's log-softmax and logsumexp",
                        "log_softmax LogSoftmax _log_softmax logsumexp logaddexp logaddexp2",
                        "log_softmax _log_softmax logsumexp logaddexp logaddexp2",
                        "torch.log_softmax F.log_softmax nn.LogSoftmax torch.logsumexp torch.logaddexp")
NLL = _shortcut("torch's losses", "nll_loss NLLLoss nll_loss2d nll_loss_nd cross_entropy CrossEntropyLoss "
                "cross_entropy_loss", "nll_loss nll_loss2d nll_loss_nd nll_loss_forward cross_entropy_loss",
                "F.nll_loss nn.NLLLoss F.cross_entropy nn.CrossEntropyLoss")
BCE = _shortcut("torch's binary cross-entropy", "binary_cross_entropy binary_cross_entropy_with_logits BCELoss "
                "BCEWithLogitsLoss", "binary_cross_entropy binary_cross_entropy_with_logits",
                "F.binary_cross_entropy F.binary_cross_entropy_with_logits nn.BCEWithLogitsLoss")
LINEAR = _shortcut("torch's linear layer", "linear Linear LazyLinear bilinear Bilinear addmm addmm_",
                   "linear addmm addmv addbmm baddbmm bilinear", "F.linear nn.Linear torch.addmm")
NORMALIZE = _shortcut("torch's normalisations and norms",
                      "normalize norm vector_norm matrix_norm renorm renorm_ nuclear_norm",
                      "norm linalg_vector_norm renorm", "F.normalize torch.norm torch.linalg.vector_norm x.norm()")
MAX = _shortcut("torch's max and argmax (and min, sorting)",
                "max argmax min argmin aminmax sort argsort msort topk kthvalue cummax cummin mode median nanmedian",
                "max argmax min argmin aminmax sort argsort topk kthvalue cummax cummin mode median nanmedian",
                "torch.max x.max(dim) torch.argmax torch.sort torch.topk")
AUTOGRAD = _shortcut("autograd", "backward grad vjp jvp jacobian hessian vhp hvp run_backward _execution_engine "
                     "grad_fn next_functions", "",
                     "x.backward() torch.autograd.grad torch.autograd.functional.vjp x.grad_fn(...)")

NO_GRAD = Requirement(
    "turn gradient tracking off", frozenset({"no_grad", "inference_mode", "set_grad_enabled"}),
    "wrap the loop in `with torch.no_grad():` (or `torch.inference_mode()`): evaluation needs no gradients, "
    "and building the graph for every batch wastes memory and time.")
