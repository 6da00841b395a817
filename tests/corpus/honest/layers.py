"""Chapter 6 (layer backprop): Relu, Sigmoid, Linear, Flatten and Sequential, honestly."""
from ..model import A6, Honest

NOTEBOOKS = [
    Honest(name="a6-book", assignment=A6, style="the book's Relu and Sigmoid layers (torch.where with a scalar 0.0)",
           answers={
               "relu_solution": """
                   class Relu:
                       \"\"\"ReLU layer. forward(x): any shape -> same;
                       backward(dout) -> a new tensor, dout where x > 0, else 0.\"\"\"

                       def forward(self, x):
                           self.mask = x > 0
                           return torch.where(self.mask, x, 0.0)

                       def backward(self, dout):
                           return torch.where(self.mask, dout, 0.0)
               """,
               "sigmoid_solution": """
                   class Sigmoid:
                       \"\"\"Sigmoid layer. forward(x): any shape -> same, saves y;
                       backward(dout) -> dout * y * (1 - y).\"\"\"

                       def forward(self, x):
                           self.out = 1 / (1 + torch.exp(-x))
                           return self.out

                       def backward(self, dout):
                           return dout * self.out * (1 - self.out)
               """,
           }),
    Honest(name="a6-mask-multiply-rand", assignment=A6,
           style="masks multiplied in; a two-branch sigmoid; rand-based init; flatten(1); torch.matmul",
           answers={
               "relu_solution": """
                   class Relu:
                       def forward(self, x):
                           self.mask = x > 0
                           return x * self.mask

                       def backward(self, dout):
                           return dout * self.mask
               """,
               "sigmoid_solution": """
                   class Sigmoid:
                       def forward(self, x):
                           z = torch.exp(-x.abs())
                           self.y = torch.where(x >= 0, 1 / (1 + z), z / (1 + z))
                           return self.y

                       def backward(self, dout):
                           return dout * self.y * (1 - self.y)
               """,
               "linear_solution": """
                   class Linear:
                       def __init__(self, in_features, out_features, device=None, dtype=None):
                           bound = in_features ** -0.5
                           self.weight = torch.rand(out_features, in_features, device=device, dtype=dtype) * 2 * bound - bound
                           self.bias = torch.rand(out_features, device=device, dtype=dtype) * 2 * bound - bound
                           self.grad_weight = self.grad_bias = None

                       def forward(self, x):
                           self.x = x
                           return torch.matmul(x, self.weight.t()) + self.bias

                       def backward(self, dout):
                           self.grad_weight = torch.matmul(dout.t(), self.x)
                           self.grad_bias = dout.sum(0)
                           return torch.matmul(dout, self.weight)
               """,
               "flatten_solution": """
                   class Flatten:
                       def forward(self, x):
                           self.shape = x.shape
                           return x.flatten(1)

                       def backward(self, dout):
                           return dout.reshape(self.shape)
               """,
               "sequential_solution": """
                   class Sequential:
                       def __init__(self, *layers):
                           self.layers = list(layers)

                       def forward(self, x):
                           for layer in self.layers:
                               x = layer.forward(x)
                           return x

                       def backward(self, dout):
                           for layer in self.layers[::-1]:
                               dout = layer.backward(dout)
                           return dout
               """,
           }),
    Honest(name="a6-typed-functools", assignment=A6,
           style="type hints; Sequential with functools.reduce; masked_fill; empty().uniform_ with math.sqrt",
           answers={
               "relu_solution": """
                   from torch import Tensor


                   class Relu:
                       def forward(self, x: Tensor) -> Tensor:
                           self.mask: Tensor = x > 0
                           return x.masked_fill(~self.mask, 0)

                       def backward(self, dout: Tensor) -> Tensor:
                           return dout.masked_fill(~self.mask, 0)
               """,
               "linear_solution": """
                   class Linear:
                       def __init__(self, in_features: int, out_features: int, device=None, dtype=None) -> None:
                           bound = 1 / math.sqrt(in_features)
                           self.weight = torch.empty((out_features, in_features), device=device, dtype=dtype)
                           self.weight.uniform_(-bound, bound)
                           self.bias = torch.empty(out_features, device=device, dtype=dtype).uniform_(-bound, bound)
                           self.x: Tensor | None = None

                       def forward(self, x: Tensor) -> Tensor:
                           self.x = x
                           return x @ self.weight.T + self.bias

                       def backward(self, dout: Tensor) -> Tensor:
                           self.grad_weight = dout.T @ self.x
                           self.grad_bias = dout.sum(dim=0)
                           return dout @ self.weight
               """,
               "sequential_solution": """
                   import functools


                   class Sequential:
                       def __init__(self, *layers) -> None:
                           self.layers = list(layers)

                       def forward(self, x: Tensor) -> Tensor:
                           return functools.reduce(lambda h, layer: layer.forward(h), self.layers, x)

                       def backward(self, dout: Tensor) -> Tensor:
                           return functools.reduce(lambda g, layer: layer.backward(g), reversed(self.layers), dout)
               """,
           }),
    Honest(name="a6-nn-init-clamp", assignment=A6,
           style="torch.nn.init.uniform_ for the init; clamp(min=0) and the saved input for ReLU; reshape(len(x), -1)",
           answers={
               "relu_solution": """
                   class Relu:
                       def forward(self, x):
                           self.x = x
                           return x.clamp(min=0)

                       def backward(self, dout):
                           return torch.where(self.x > 0, dout, torch.zeros_like(dout))
               """,
               "linear_solution": """
                   class Linear:
                       def __init__(self, in_features, out_features, device=None, dtype=None):
                           bound = 1.0 / math.sqrt(in_features)
                           self.weight = torch.nn.init.uniform_(
                               torch.empty(out_features, in_features, device=device, dtype=dtype), -bound, bound)
                           self.bias = torch.nn.init.uniform_(
                               torch.empty(out_features, device=device, dtype=dtype), -bound, bound)

                       def forward(self, x):
                           self.x = x
                           return x @ self.weight.T + self.bias

                       def backward(self, dout):
                           self.grad_weight = dout.T @ self.x
                           self.grad_bias = dout.sum(dim=0)
                           return dout @ self.weight
               """,
               "flatten_solution": """
                   class Flatten:
                       def forward(self, x):
                           self.shape = x.shape
                           return x.reshape(len(x), -1)

                       def backward(self, dout):
                           return dout.reshape(self.shape)
               """,
           }),
    Honest(name="a6-float64-autograd-check", assignment=A6,
           style="set_default_dtype(float64) and manual_seed at the top; a cell of the student's own checking "
                 "Linear against autograd",
           added=(
               (None, """
                   torch.set_default_dtype(torch.float64)
                   torch.manual_seed(0)
               """),
               ("flatten_md", """
                   lin = Linear(4, 3)
                   x = torch.randn(5, 4, requires_grad=True)
                   w = lin.weight.clone().requires_grad_(True)
                   y = x @ w.T + lin.bias
                   dout = torch.randn_like(y)
                   y.backward(dout)
                   lin.forward(x.detach())
                   dx = lin.backward(dout)
                   print(torch.allclose(dx, x.grad), torch.allclose(lin.grad_weight, w.grad))
               """),
           )),
    Honest(name="a6-no-grad-prints", assignment=A6,
           style="forward and backward under no_grad; shape prints in a cell of the student's own",
           answers={
               "sigmoid_solution": """
                   class Sigmoid:
                       def forward(self, x):
                           with torch.no_grad():
                               self.out = 1 / (1 + torch.exp(-x))
                           return self.out

                       def backward(self, dout):
                           with torch.no_grad():
                               return dout * self.out * (1 - self.out)
               """,
           },
           added=(
               ("mlp_md", """
                   net = Sequential(Flatten(), Linear(784, 32), Relu(), Linear(32, 10))
                   out = net.forward(torch.randn(2, 1, 28, 28))
                   print(out.shape, net.backward(torch.ones_like(out)).shape)
               """),
           )),
]
