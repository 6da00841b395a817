"""Chapter 1 (activations): step, sigmoid, tanh, relu and their derivatives, honestly."""
from ..model import A1, Honest

NOTEBOOKS = [
    Honest(name="a1-methods", assignment=A1, style="tensor methods instead of torch functions; clamp for ReLU",
           answers={
               "step_solution": """
                   def step(x):
                       return x.gt(0).type_as(x)


                   def step_derivative(x):
                       return x.new_zeros(x.shape)
               """,
               "sigmoid_solution": """
                   def sigmoid(x):
                       z = x.abs().neg().exp()
                       return torch.where(x.ge(0), z.add(1).reciprocal(), z.div(z.add(1)))


                   def sigmoid_derivative(x):
                       s = sigmoid(x)
                       return s.mul(s.neg().add(1))
               """,
               "tanh_solution": """
                   def tanh(x):
                       return sigmoid(x.mul(2)).mul(2).sub(1)


                   def tanh_derivative(x):
                       return tanh(x).pow(2).neg().add(1)
               """,
               "relu_solution": """
                   def relu(x):
                       return x.clamp(min=0)


                   def relu_derivative(x):
                       return x.gt(0).to(x.dtype)
               """,
           }),
    Honest(name="a1-sign-abs", assignment=A1, style="sign/abs arithmetic: step as (sign(x) + 1) // 2, relu as (x + |x|) / 2",
           answers={
               "step_solution": """
                   def step(x):
                       # sign is -1, 0 or 1; plus one is 0, 1 or 2; halved and floored: 0, 0, 1 (step(0) = 0)
                       return (torch.sign(x) + 1) // 2


                   def step_derivative(x):
                       return x * 0
               """,
               "sigmoid_solution": """
                   def sigmoid(x):
                       z = torch.exp(-torch.abs(x))
                       # tanh(|x|/2) = (1 - z) / (1 + z), and sigmoid(x) = (1 + tanh(x/2)) / 2
                       return (1 + torch.sign(x) * (1 - z) / (1 + z)) / 2


                   def sigmoid_derivative(x):
                       z = torch.exp(-torch.abs(x))
                       return z / (1 + z) ** 2
               """,
               "tanh_solution": """
                   def tanh(x):
                       e = torch.exp(-2 * torch.abs(x))
                       return torch.sign(x) * -torch.expm1(-2 * torch.abs(x)) / (1 + e)


                   def tanh_derivative(x):
                       return 1 - tanh(x) ** 2
               """,
               "relu_solution": """
                   def relu(x):
                       return (x + torch.abs(x)) / 2


                   def relu_derivative(x):
                       return (torch.sign(x) + torch.abs(torch.sign(x))) / 2
               """,
           }),
    Honest(name="a1-masks", assignment=A1, style="boolean masks written into new tensors; torch.where with scalars",
           answers={
               "step_solution": """
                   def step(x):
                       out = torch.zeros_like(x)
                       out[x > 0] = 1
                       return out


                   def step_derivative(x):
                       return torch.zeros_like(x)
               """,
               "sigmoid_solution": """
                   def sigmoid(x):
                       out = torch.empty_like(x)
                       pos = x >= 0
                       out[pos] = 1 / (1 + torch.exp(-x[pos]))
                       e = torch.exp(x[~pos])
                       out[~pos] = e / (1 + e)
                       return out


                   def sigmoid_derivative(x):
                       s = sigmoid(x)
                       return s - s * s
               """,
               "tanh_solution": """
                   def tanh(x):
                       e = torch.exp(-2 * x.abs())
                       t = (1 - e) / (1 + e)
                       return torch.where(x >= 0, t, -t)


                   def tanh_derivative(x):
                       y = tanh(x)
                       return (1 - y) * (1 + y)
               """,
               "relu_solution": """
                   def relu(x):
                       return torch.where(x > 0, x, 0.0)


                   def relu_derivative(x):
                       return torch.where(x > 0, 1.0, 0.0).to(x.dtype)
               """,
           }),
    Honest(name="a1-typed-helpers", assignment=A1,
           style="type hints, a helper function, isinstance and asserts, getattr(x, 'shape'), torch.maximum",
           answers={
               "step_solution": """
                   from torch import Tensor


                   def _indicator(mask: Tensor, like: Tensor) -> Tensor:
                       \"\"\"1.0 where mask holds, else 0.0, in like's dtype.\"\"\"
                       return mask.to(dtype=like.dtype)


                   def step(x: Tensor) -> Tensor:
                       assert isinstance(x, torch.Tensor), "step takes a tensor"
                       return _indicator(x > 0, x)


                   def step_derivative(x: Tensor) -> Tensor:
                       return torch.zeros(getattr(x, "shape"), dtype=x.dtype, device=x.device)
               """,
               "sigmoid_solution": """
                   def _exp_minus_abs(x: Tensor) -> Tensor:
                       return torch.exp(-x.abs())


                   def sigmoid(x: Tensor) -> Tensor:
                       z = _exp_minus_abs(x)
                       return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


                   def sigmoid_derivative(x: Tensor) -> Tensor:
                       y = sigmoid(x)
                       assert y.shape == x.shape
                       return y * (1 - y)
               """,
               "tanh_solution": """
                   def tanh(x: Tensor) -> Tensor:
                       return 2 * sigmoid(2 * x) - 1


                   def tanh_derivative(x: Tensor) -> Tensor:
                       t = tanh(x)
                       return 1 - t * t
               """,
               "relu_solution": """
                   def relu(x: Tensor) -> Tensor:
                       return torch.maximum(x, torch.zeros_like(x))


                   def relu_derivative(x: Tensor) -> Tensor:
                       return _indicator(x > 0, x)
               """,
           }),
    Honest(name="a1-math-numpy-constants", assignment=A1, style="constants from math and numpy; exp2; x * (x > 0)",
           answers={
               "step_solution": """
                   import math

                   import numpy as np

                   LOG2_E = math.log2(math.e)
                   HALF = float(np.float64(0.5))


                   def step(x):
                       return (x > 0).double().to(x.dtype)


                   def step_derivative(x):
                       return torch.zeros_like(x)
               """,
               "sigmoid_solution": """
                   def sigmoid(x):
                       z = torch.exp2(-x.abs() * LOG2_E)   # e^-|x| as a power of two
                       return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


                   def sigmoid_derivative(x):
                       y = sigmoid(x)
                       return y * (1 - y)
               """,
               "tanh_solution": """
                   def tanh(x):
                       return (sigmoid(2 * x) - HALF) / HALF


                   def tanh_derivative(x):
                       return 1 - tanh(x) ** 2
               """,
               "relu_solution": """
                   def relu(x):
                       return x * (x > 0)


                   def relu_derivative(x):
                       return (x > 0).to(x.dtype)
               """,
           }),
    Honest(name="a1-magics-plot-prints", assignment=A1,
           style="the solution with %matplotlib, %time, %%time, a plot and prints in cells of the student's own",
           added=(
               ("sigmoid_solution", """
                   %matplotlib inline
                   import matplotlib.pyplot as plt

                   xs = torch.linspace(-5, 5, 101)
                   plt.plot(xs, step(xs), label="step")
                   plt.legend()
                   plt.show()
                   print(step(torch.tensor([-1.0, 0.0, 2.0])))
                   %time step(torch.randn(1000))
               """),
               ("tanh_solution", """
                   %%time
                   ys = sigmoid(torch.linspace(-10, 10, 5))
                   print(ys, ys.dtype)
               """),
           )),
    Honest(name="a1-float64-seed-check", assignment=A1,
           style="torch.set_default_dtype(torch.float64) and torch.manual_seed at the top; an extra cell comparing "
                 "with torch.sigmoid",
           added=(
               (None, """
                   torch.set_default_dtype(torch.float64)
                   torch.manual_seed(0)
               """),
               ("tanh_solution", """
                   x = torch.randn(10)
                   assert torch.allclose(sigmoid(x), torch.sigmoid(x))
                   print("my sigmoid agrees with torch's:", torch.allclose(sigmoid(x), torch.sigmoid(x)))
               """),
           )),
    Honest(name="a1-no-grad-inference", assignment=A1, style="no_grad blocks and an inference_mode decorator",
           answers={
               "step_solution": """
                   def step(x):
                       with torch.no_grad():
                           return (x > 0).to(x.dtype)


                   def step_derivative(x):
                       with torch.no_grad():
                           return torch.zeros_like(x)
               """,
               "relu_solution": """
                   @torch.inference_mode()
                   def relu(x):
                       return torch.where(x > 0, x, torch.zeros_like(x))


                   @torch.no_grad()
                   def relu_derivative(x):
                       return (x > 0).to(x.dtype)
               """,
           }),
]
