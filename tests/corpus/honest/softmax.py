"""Chapter 3 (softmax): softmax and log-softmax along any dim, and their backwards, honestly."""
from ..model import A3, Honest

NOTEBOOKS = [
    Honest(name="a3-book", assignment=A3, style="the book's stable_softmax and stable_log_softmax, and its backwards",
           answers={
               "softmax_solution": """
                   def softmax(x, dim):
                       \"\"\"softmax along dim. x: float tensor -> same shape and dtype.\"\"\"
                       e = torch.exp(x - x.amax(dim=dim, keepdim=True))
                       return e / e.sum(dim=dim, keepdim=True)
               """,
               "log_softmax_solution": """
                   def log_softmax(x, dim):
                       \"\"\"log(softmax(x)) along dim. x: float tensor -> same shape, dtype.\"\"\"
                       shifted = x - x.amax(dim=dim, keepdim=True)
                       total = torch.exp(shifted).sum(dim=dim, keepdim=True)
                       return shifted - torch.log(total)
               """,
               "softmax_backward_solution": """
                   def softmax_backward(s, grad_out, dim):
                       return s * (grad_out - (grad_out * s).sum(dim, keepdim=True))
               """,
               "log_softmax_backward_solution": """
                   def log_softmax_backward(ls, grad_out, dim):
                       return grad_out - ls.exp() * grad_out.sum(dim, keepdim=True)
               """,
           }),
    Honest(name="a3-logsumexp-helper", assignment=A3,
           style="a hand-written logsumexp (m + log(sum(exp(x - m)))); log-softmax as x - logsumexp(x), the form "
                 "the chapter calls log-softmax; softmax as its exp",
           answers={
               "softmax_solution": """
                   def logsumexp(x, dim):
                       m = x.amax(dim=dim, keepdim=True)
                       return m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))


                   def softmax(x, dim):
                       return torch.exp(x - logsumexp(x, dim))
               """,
               "log_softmax_solution": """
                   def log_softmax(x, dim):
                       return x - logsumexp(x, dim)
               """,
               "softmax_backward_solution": """
                   def softmax_backward(s, grad_out, dim):
                       return s * grad_out - s * (s * grad_out).sum(dim=dim, keepdim=True)
               """,
           }),
    Honest(name="a3-max-values-methods", assignment=A3, style="x.max(dim, keepdim=True).values and tensor methods",
           answers={
               "softmax_solution": """
                   def softmax(x, dim):
                       e = x.sub(x.max(dim=dim, keepdim=True).values).exp()
                       return e.div(e.sum(dim=dim, keepdim=True))
               """,
               "log_softmax_solution": """
                   def log_softmax(x, dim):
                       shifted = x.sub(x.max(dim=dim, keepdim=True).values)
                       return shifted.sub(shifted.exp().sum(dim=dim, keepdim=True).log())
               """,
               "softmax_backward_solution": """
                   def softmax_backward(s, grad_out, dim):
                       inner = grad_out.mul(s).sum(dim=dim, keepdim=True)
                       return s.mul(grad_out.sub(inner))
               """,
               "log_softmax_backward_solution": """
                   def log_softmax_backward(ls, grad_out, dim):
                       return grad_out.sub(ls.exp().mul(grad_out.sum(dim=dim, keepdim=True)))
               """,
           }),
    Honest(name="a3-loop-over-dim", assignment=A3,
           style="Python loops over the (small) dim with narrow: a hand-made max and sum",
           answers={
               "softmax_solution": """
                   def max_along(t, dim):
                       best = t.narrow(dim, 0, 1)
                       for i in range(1, t.shape[dim]):
                           best = torch.maximum(best, t.narrow(dim, i, 1))
                       return best


                   def sum_along(t, dim):
                       total = torch.zeros_like(t.narrow(dim, 0, 1))
                       for i in range(t.shape[dim]):
                           total = total + t.narrow(dim, i, 1)
                       return total


                   def softmax(x, dim):
                       e = torch.exp(x - max_along(x, dim))
                       return e / sum_along(e, dim)
               """,
               "log_softmax_solution": """
                   def log_softmax(x, dim):
                       shifted = x - max_along(x, dim)
                       return shifted - torch.log(sum_along(torch.exp(shifted), dim))
               """,
               "softmax_backward_solution": """
                   def softmax_backward(s, grad_out, dim):
                       return s * (grad_out - sum_along(grad_out * s, dim))
               """,
               "log_softmax_backward_solution": """
                   def log_softmax_backward(ls, grad_out, dim):
                       return grad_out - torch.exp(ls) * sum_along(grad_out, dim)
               """,
           }),
    Honest(name="a3-typed-asserts-unsqueeze", assignment=A3,
           style="type hints, asserts and isinstance on dim; reductions without keepdim, then unsqueeze",
           answers={
               "softmax_solution": """
                   from torch import Tensor


                   def _check(x: Tensor, dim: int) -> int:
                       assert isinstance(dim, int), "dim is an int"
                       assert x.dim() >= 1, "softmax needs at least one dimension"
                       return dim if dim >= 0 else dim + x.dim()


                   def softmax(x: Tensor, dim: int) -> Tensor:
                       d = _check(x, dim)
                       e = torch.exp(x - x.amax(dim=d).unsqueeze(d))
                       return e / e.sum(dim=d).unsqueeze(d)
               """,
               "log_softmax_solution": """
                   def log_softmax(x: Tensor, dim: int) -> Tensor:
                       d = _check(x, dim)
                       shifted = x - x.amax(dim=d).unsqueeze(d)
                       return shifted - torch.log(torch.exp(shifted).sum(dim=d)).unsqueeze(d)
               """,
               "softmax_backward_solution": """
                   def softmax_backward(s: Tensor, grad_out: Tensor, dim: int) -> Tensor:
                       d = _check(s, dim)
                       return s * (grad_out - (grad_out * s).sum(dim=d).unsqueeze(d))
               """,
               "log_softmax_backward_solution": """
                   def log_softmax_backward(ls: Tensor, grad_out: Tensor, dim: int) -> Tensor:
                       d = _check(ls, dim)
                       return grad_out - torch.exp(ls) * grad_out.sum(dim=d).unsqueeze(d)
               """,
           }),
    Honest(name="a3-float64-movedim-magic", assignment=A3,
           style="set_default_dtype(float64) at the top; the work done along the last dim after movedim; %time",
           added=(
               (None, "torch.set_default_dtype(torch.float64)"),
               ("softmax_backward_solution", "%time softmax(torch.randn(1000, 10), 1).sum(1)"),
           ),
           answers={
               "softmax_solution": """
                   def softmax(x, dim):
                       last = torch.movedim(x, dim, -1)
                       e = torch.exp(last - torch.max(last, dim=-1, keepdim=True).values)
                       return torch.movedim(e / torch.sum(e, dim=-1, keepdim=True), -1, dim)
               """,
               "log_softmax_solution": """
                   def log_softmax(x, dim):
                       last = torch.movedim(x, dim, -1)
                       shifted = last - torch.max(last, dim=-1, keepdim=True).values
                       out = shifted - torch.log(torch.sum(torch.exp(shifted), dim=-1, keepdim=True))
                       return torch.movedim(out, -1, dim)
               """,
           }),
]
