"""Chapter 2 (sigmoid): a stable sigmoid, its backward, log-sigmoid and its backward, honestly."""
from ..model import A2, Honest

NOTEBOOKS = [
    Honest(name="a2-book", assignment=A2, style="the book's own stable_sigmoid and stable_log_sigmoid, wrapped",
           answers={
               "sigmoid_solution": """
                   def stable_sigmoid(x):
                       \"\"\"Sigmoid that never overflows. x: float tensor -> same shape.\"\"\"
                       z = torch.exp(-x.abs())
                       return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


                   def sigmoid(x):
                       return stable_sigmoid(x)
               """,
               "log_sigmoid_solution": """
                   def stable_log_sigmoid(x):
                       \"\"\"log(sigmoid(x)) for every finite x. x: float tensor -> same shape.\"\"\"
                       return torch.clamp(x, max=0) - torch.log1p(torch.exp(-x.abs()))


                   def log_sigmoid(x):
                       return stable_log_sigmoid(x)


                   def log_sigmoid_backward(x, grad_out):
                       return grad_out * sigmoid(-x)
               """,
           }),
    Honest(name="a2-simple-form", assignment=A2,
           style="1 / (1 + exp(-x)), which the notebook says passes; backward as grad_out * (1 - sigmoid(x))",
           answers={
               "sigmoid_solution": """
                   def sigmoid(x):
                       return 1 / (1 + torch.exp(-x))
               """,
               "sigmoid_backward_solution": """
                   def sigmoid_backward(y, grad_out):
                       return grad_out * (y - y ** 2)
               """,
               "log_sigmoid_solution": """
                   def log_sigmoid(x):
                       return -(torch.log1p(torch.exp(-x.abs())) + torch.clamp(-x, min=0))


                   def log_sigmoid_backward(x, grad_out):
                       return grad_out * (1 - sigmoid(x))
               """,
           }),
    Honest(name="a2-masks", assignment=A2, style="boolean masks written into a new tensor; minimum and log(1 + ...)",
           answers={
               "sigmoid_solution": """
                   def sigmoid(x):
                       out = torch.empty_like(x)
                       pos = x >= 0
                       out[pos] = 1 / (1 + torch.exp(-x[pos]))
                       e = torch.exp(x[~pos])
                       out[~pos] = e / (1 + e)
                       return out
               """,
               "log_sigmoid_solution": """
                   def log_sigmoid(x):
                       return torch.minimum(x, torch.zeros_like(x)) - torch.log(1 + torch.exp(-torch.abs(x)))


                   def log_sigmoid_backward(x, grad_out):
                       e = torch.exp(-torch.abs(x))
                       sigmoid_of_minus_x = torch.where(x >= 0, e / (1 + e), 1 / (1 + e))
                       return grad_out * sigmoid_of_minus_x
               """,
           }),
    Honest(name="a2-methods-typed", assignment=A2, style="tensor methods and type hints throughout",
           answers={
               "sigmoid_solution": """
                   from torch import Tensor


                   def sigmoid(x: Tensor) -> Tensor:
                       z = x.abs().neg().exp()
                       return torch.where(x >= 0, z.add(1).reciprocal(), z.div(z.add(1)))
               """,
               "sigmoid_backward_solution": """
                   def sigmoid_backward(y: Tensor, grad_out: Tensor) -> Tensor:
                       return grad_out.mul(y).mul(y.neg().add(1))
               """,
               "log_sigmoid_solution": """
                   def log_sigmoid(x: Tensor) -> Tensor:
                       return x.clamp(max=0).sub(x.abs().neg().exp().log1p())


                   def log_sigmoid_backward(x: Tensor, grad_out: Tensor) -> Tensor:
                       return grad_out.mul(sigmoid(x.neg()))
               """,
           }),
    Honest(name="a2-both-branches-numpy-check", assignment=A2,
           style="torch.where over both textbook forms; log-sigmoid as x - softplus(x) by hand; numpy and %%time "
                 "in a cell of the student's own",
           answers={
               "sigmoid_solution": """
                   def sigmoid(x):
                       # each form only where its exponential cannot overflow; the other branch is discarded
                       return torch.where(x >= 0, 1 / (1 + torch.exp(-x)), torch.exp(x) / (1 + torch.exp(x)))
               """,
               "sigmoid_backward_solution": """
                   def sigmoid_backward(y, grad_out):
                       return grad_out * y * (1.0 - y)
               """,
               "log_sigmoid_solution": """
                   def softplus(x):
                       return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


                   def log_sigmoid(x):
                       return x - softplus(x)


                   def log_sigmoid_backward(x, grad_out):
                       return grad_out / (1 + torch.exp(x))
               """,
           },
           added=(
               ("sigmoid_backward_solution", """
                   %%time
                   import numpy as np

                   xs = np.linspace(-10, 10, 5)
                   print(np.allclose(sigmoid(torch.from_numpy(xs)).numpy(), 1 / (1 + np.exp(-xs))))
               """),
           )),
    Honest(name="a2-float64-seed-prints", assignment=A2,
           style="set_default_dtype(float64) and manual_seed at the top, prints, a cell comparing with torch",
           added=(
               (None, """
                   torch.set_default_dtype(torch.float64)
                   torch.manual_seed(1)
               """),
               ("sigmoid_backward_solution", """
                   print(sigmoid(torch.tensor([-1000.0, 0.0, 1000.0])))
                   x = torch.randn(20) * 50
                   print("max difference to torch.sigmoid:", (sigmoid(x) - torch.sigmoid(x)).abs().max().item())
               """),
           )),
    Honest(name="a2-no-grad-helpers", assignment=A2, style="no_grad blocks and small helpers",
           answers={
               "sigmoid_solution": """
                   def _z(x):
                       \"\"\"exp(-|x|), in (0, 1]: never overflows.\"\"\"
                       return torch.exp(-torch.abs(x))


                   def sigmoid(x):
                       with torch.no_grad():
                           z = _z(x)
                           return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))
               """,
               "log_sigmoid_solution": """
                   def log_sigmoid(x):
                       with torch.no_grad():
                           return torch.clamp(x, max=0) - torch.log1p(_z(x))


                   def log_sigmoid_backward(x, grad_out):
                       with torch.no_grad():
                           return grad_out * sigmoid(-x)
               """,
           }),
]
