"""Recording which torch operations a call ran: best effort, never the basis of a point alone.

:class:`Recording` is a context manager around one call of student code. It records

* every aten operator that ran (a ``TorchDispatchMode`` sees the operator itself, whatever
  Python name reached it), normalised by :func:`normalise` so that in-place (``sigmoid_``)
  and ``out=`` variants count as their base operator;
* calls into autograd (``backward``, ``torch.autograd.grad``...) and into torch's own
  versions of what the exercises compute (``sigmoid``, ``softmax``...), through a
  ``TorchFunctionMode``: a second record, so that switching off the first does not hide them;
* whether recording stayed switched on: after the call a canary operation must still be
  seen by both modes, which are still the innermost ones.

It runs in the student's process (in the grader, inside the sandboxed kernel; in
JupyterLab, in the student's own kernel), so code in that process can get around it:
the referee treats what it reports as a first line of defence only. In the grader each
operator is also reported the moment it is first seen (``on_new``), before the student's
code gets control back, so clearing the record afterwards hides nothing.
"""
from __future__ import annotations

import warnings

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

#: Python-level names of the ways into autograd.
AUTOGRAD_ENTRY_POINTS = frozenset({"backward", "grad", "vjp", "jvp", "jacobian", "hessian"})
#: Python-level torch functions that compute an exercise's answer: recorded as operators too,
#: so that switching off only the operator-level recording does not hide them.
ANSWER_FUNCTIONS = frozenset({
    "sigmoid", "special_expit", "log_sigmoid", "logsigmoid", "softplus", "tanh", "relu", "relu6", "leaky_relu",
    "elu", "gelu", "silu", "hardtanh", "_threshold", "threshold", "heaviside", "softmax", "log_softmax",
    "special_softmax", "special_log_softmax", "softmin", "logsumexp", "special_logsumexp", "logaddexp", "logaddexp2",
    "nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "glu",
    "_masked_softmax", "linear", "addmm", "normalize", "mish", "selu", "celu", "hardsigmoid", "hardswish",
    "softsign", "tanhshrink", "logit", "special_logit", "prelu", "rrelu",
})


def normalise(op_name: str) -> str:
    """``aten.sigmoid_`` -> ``sigmoid``, ``aten.__iand__`` -> ``__and__``, ``aten.add`` -> ``add``."""
    name = op_name.split(".", 1)[1] if op_name.startswith("aten.") else op_name
    if name.startswith("__i") and name.endswith("__") and len(name) > 5:
        return "__" + name[3:]
    if name.endswith("_") and not name.endswith("__"):
        return name.rstrip("_")
    return name


class _Ops(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's handler in dynamo's "disable" by default, whose first call
        # imports torch._dynamo (1.5 s in a fresh kernel); nothing is compiled here.
        return False

    def __init__(self, recording: "Recording"):
        super().__init__()
        self.recording = recording

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name == "aten.empty" and self.recording._canary_armed:
            self.recording._canary_ops = True
        else:
            self.recording.saw(normalise(name))
        return func(*args, **(kwargs or {}))


class _Functions(TorchFunctionMode):
    def __init__(self, recording: "Recording"):
        super().__init__()
        self.recording = recording

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if self.recording._canary_armed and name == "empty":
            self.recording._canary_functions = True
        elif name in AUTOGRAD_ENTRY_POINTS:
            self.recording.autograd.add(name)
        elif name.rstrip("_") in ANSWER_FUNCTIONS:
            self.recording.saw(name.rstrip("_"))
        return func(*args, **(kwargs or {}))


class Recording:
    """``with Recording() as rec: fn(...)``; then read :attr:`ops`, :attr:`autograd`, :attr:`intact`.
    ``on_new(op)`` is called the first time each operator is seen.

    Warnings raised inside are caught, never printed.
    """

    def __init__(self, on_new=None):
        self.ops: set[str] = set()
        self.autograd: set[str] = set()
        self.intact = False
        self.on_new = on_new
        self._canary_armed = self._canary_ops = self._canary_functions = False

    def saw(self, op: str) -> None:
        if op not in self.ops:
            self.ops.add(op)
            if self.on_new is not None:
                self.on_new(op)

    def __enter__(self) -> "Recording":
        self._warn = warnings.catch_warnings(record=True)
        self._warn.__enter__()
        warnings.simplefilter("always")
        self._functions, self._ops = _Functions(self), _Ops(self)
        self._depth = (torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack())
        self._functions.__enter__()
        self._ops.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        try:
            self._canary_armed = True
            torch.empty(0)
            self._canary_armed = False
            still_on_top = (torch._C._len_torch_function_stack() == self._depth[0] + 1
                            and torch._C._len_torch_dispatch_stack() == self._depth[1] + 1)
            self.intact = self._canary_ops and self._canary_functions and still_on_top
        finally:
            for mode in (self._ops, self._functions):
                try:
                    mode.__exit__(None, None, None)
                except Exception:  # noqa: BLE001 - the student's code popped it already
                    self.intact = False
            self._warn.__exit__(None, None, None)
        return False
