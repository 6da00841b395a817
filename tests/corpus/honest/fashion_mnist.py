"""Chapter 7 (the FashionMNIST network): the module, the loss, the MLP by hand, the loops, honestly."""
from ..model import A7, Honest

NOTEBOOKS = [
    Honest(name="a7-book", assignment=A7,
           style="the book's own code: its cross_entropy (F.one_hot), its layer classes for the MLP by hand, its "
                 "train_one_epoch and @torch.no_grad() evaluate",
           answers={
               "ce_solution": """
                   import torch.nn.functional as F


                   def softmax_cross_entropy(logits, y):
                       \"\"\"logits (N, C), y (N,) -> (mean loss, dlogits (N, C)); stable.\"\"\"
                       shifted = logits - logits.max(dim=1, keepdim=True).values
                       log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
                       n = len(y)
                       loss = -log_probs[torch.arange(n), y].mean()
                       onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
                       return loss, (log_probs.exp() - onehot) / n
               """,
               "mlp_solution": """
                   class Linear:
                       \"\"\"x: (N, in) -> x @ W.T + b: (N, out); W: (out, in), b: (out,).\"\"\"

                       def __init__(self, W, b):
                           self.W, self.b = W, b

                       def forward(self, x):
                           self.x = x
                           return x @ self.W.T + self.b

                       def backward(self, dout):
                           self.dW, self.db = dout.T @ self.x, dout.sum(0)
                           return dout @ self.W


                   class ReLU:
                       \"\"\"Element-wise max(0, x); gradient 0 where x <= 0 (as in torch).\"\"\"

                       def forward(self, x):
                           self.mask = x > 0
                           return torch.where(self.mask, x, 0.0)

                       def backward(self, dout):
                           return torch.where(self.mask, dout, 0.0)


                   class Flatten:
                       \"\"\"(N, 28, 28) -> (N, 784).\"\"\"

                       def forward(self, x):
                           self.shape = x.shape
                           return x.reshape(x.shape[0], -1)

                       def backward(self, dout):
                           return dout.reshape(self.shape)


                   def mlp_forward(params, x):
                       layers = [Flatten(), Linear(params["W1"], params["b1"]), ReLU(),
                                 Linear(params["W2"], params["b2"]), ReLU(), Linear(params["W3"], params["b3"])]
                       h = x
                       for layer in layers:
                           h = layer.forward(h)
                       return h, layers


                   def mlp_backward(params, cache, dlogits):
                       grad = dlogits
                       for layer in reversed(cache):
                           grad = layer.backward(grad)
                       linears = [cache[1], cache[3], cache[5]]
                       grads = {}
                       for i, layer in enumerate(linears, start=1):
                           grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
                       return grads
               """,
               "train_solution": """
                   def train_one_epoch(model, batches, loss_fn, optimizer, device):
                       \"\"\"One pass over (X, y) batches; returns the mean batch loss.\"\"\"
                       model.train()
                       total, count = 0.0, 0
                       for X, y in batches:
                           X, y = X.to(device), y.to(device)
                           loss = loss_fn(model(X), y)
                           optimizer.zero_grad()
                           loss.backward()
                           optimizer.step()
                           total, count = total + loss.item(), count + 1
                       return total / count


                   @torch.no_grad()
                   def evaluate(model, batches, loss_fn, device):
                       \"\"\"(mean batch loss, accuracy in [0, 1]) without training.\"\"\"
                       model.eval()
                       total, correct, seen, count = 0.0, 0, 0, 0
                       for X, y in batches:
                           X, y = X.to(device), y.to(device)
                           logits = model(X)
                           total += loss_fn(logits, y).item()
                           correct += (logits.argmax(1) == y).sum().item()
                           seen, count = seen + len(y), count + 1
                       return total / count, correct / seen
               """,
           }),
    Honest(name="a7-sequential-index-minus-one", assignment=A7,
           style="nn.Sequential as one attribute; dlogits with d[torch.arange(n, device=logits.device), y] -= 1; "
                 "zero_grad(set_to_none=True); inference_mode",
           answers={
               "network_solution": """
                   class NeuralNetwork(nn.Module):
                       def __init__(self):
                           super().__init__()
                           self.net = nn.Sequential(
                               nn.Flatten(),
                               nn.Linear(784, 512), nn.ReLU(),
                               nn.Linear(512, 512), nn.ReLU(),
                               nn.Linear(512, 10),
                           )

                       def forward(self, x):
                           return self.net(x)
               """,
               "ce_solution": """
                   def softmax_cross_entropy(logits, y):
                       n = logits.shape[0]
                       m = logits.amax(dim=1, keepdim=True)
                       e = torch.exp(logits - m)
                       s = e.sum(dim=1, keepdim=True)
                       log_probs = logits - m - torch.log(s)
                       loss = -log_probs[torch.arange(n, device=logits.device), y].sum() / n
                       d = e / s
                       d[torch.arange(n, device=logits.device), y] -= 1
                       return loss, d / n
               """,
               "train_solution": """
                   def train_one_epoch(model, batches, loss_fn, optimizer, device):
                       model.train()
                       losses = []
                       for X, y in batches:
                           X, y = X.to(device), y.to(device)
                           optimizer.zero_grad(set_to_none=True)
                           loss = loss_fn(model(X), y)
                           loss.backward()
                           optimizer.step()
                           losses.append(loss.item())
                       return sum(losses) / len(losses)


                   def evaluate(model, batches, loss_fn, device):
                       model.eval()
                       losses, correct, seen = [], 0, 0
                       with torch.inference_mode():
                           for X, y in batches:
                               X, y = X.to(device), y.to(device)
                               logits = model(X)
                               losses.append(loss_fn(logits, y).item())
                               correct += int((logits.argmax(dim=1) == y).sum())
                               seen += y.numel()
                       return sum(losses) / len(losses), correct / seen
               """,
           }),
    Honest(name="a7-modulelist-helpers", assignment=A7,
           style="nn.ModuleList and torch.relu in forward; helper functions and a Python loop over the three layers "
                 "for the MLP by hand; set_grad_enabled(False) and train(False); progress prints",
           answers={
               "network_solution": """
                   class NeuralNetwork(nn.Module):
                       def __init__(self):
                           super().__init__()
                           sizes = [784, 512, 512, 10]
                           self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

                       def forward(self, x):
                           h = x.flatten(1)
                           for i, layer in enumerate(self.layers):
                               h = layer(h)
                               if i < len(self.layers) - 1:
                                   h = torch.relu(h)
                           return h
               """,
               "mlp_solution": """
                   def linear(x, W, b):
                       return x @ W.T + b


                   def relu(a):
                       return torch.where(a > 0, a, torch.zeros_like(a))


                   def mlp_forward(params, x):
                       h = x.reshape(len(x), -1)
                       inputs, pre = [], []
                       for i in (1, 2, 3):
                           inputs.append(h)
                           a = linear(h, params[f"W{i}"], params[f"b{i}"])
                           pre.append(a)
                           h = relu(a) if i < 3 else a
                       return h, (inputs, pre)


                   def mlp_backward(params, cache, dlogits):
                       inputs, pre = cache
                       grads = {}
                       g = dlogits
                       for i in (3, 2, 1):
                           if i < 3:
                               g = g * (pre[i - 1] > 0)
                           grads[f"W{i}"] = g.T @ inputs[i - 1]
                           grads[f"b{i}"] = g.sum(dim=0)
                           g = g @ params[f"W{i}"]
                       return grads
               """,
               "train_solution": """
                   def train_one_epoch(model, batches, loss_fn, optimizer, device):
                       model.train()
                       total, count = 0.0, 0
                       for i, (X, y) in enumerate(batches):
                           X, y = X.to(device), y.to(device)
                           loss = loss_fn(model(X), y)
                           optimizer.zero_grad()
                           loss.backward()
                           optimizer.step()
                           total += loss.item()
                           count += 1
                           if i % 10 == 0:
                               print(f"batch {i}: loss {loss.item():.3f}")
                       return total / count


                   def evaluate(model, batches, loss_fn, device):
                       model.train(False)
                       total, correct, seen, count = 0.0, 0, 0, 0
                       with torch.set_grad_enabled(False):
                           for X, y in batches:
                               X, y = X.to(device), y.to(device)
                               logits = model(X)
                               total += loss_fn(logits, y).item()
                               correct += (logits.argmax(1) == y).sum().item()
                               seen += len(y)
                               count += 1
                       return total / count, correct / seen
               """,
           }),
    Honest(name="a7-book-batches", assignment=A7,
           style="the book's chapter 7 batches generator in the loop's cell, to try the loop on random images",
           edits={"train_solution": ("def train_one_epoch(",
                                     "def make_batches(images, labels, batch_size=64, *, shuffle=False, generator=None):\n"
                                     "    n = len(images)\n"
                                     "    order = (torch.randperm(n, generator=generator).to(images.device) if shuffle\n"
                                     "             else torch.arange(n, device=images.device))\n"
                                     "    for start in range(0, n, batch_size):\n"
                                     "        idx = order[start:start + batch_size]\n"
                                     "        yield images[idx], labels[idx]\n\n\n"
                                     "def train_one_epoch(")},
           added=(
               ("test_train_one_epoch", """
                   images, labels = torch.rand(256, 28, 28), torch.randint(0, 10, (256,))
                   model = NeuralNetwork()
                   optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                   print(train_one_epoch(model, make_batches(images, labels, 64), nn.CrossEntropyLoss(), optimizer,
                                         "cpu"))
                   print(evaluate(model, make_batches(images, labels, 64), nn.CrossEntropyLoss(), "cpu"))
               """),
           )),
    Honest(name="a7-seed-magics-plot", assignment=A7,
           style="torch.manual_seed at the top; %time and a matplotlib plot of the losses in cells of the student's "
                 "own",
           added=(
               (None, "torch.manual_seed(0)"),
               ("test_train_one_epoch", """
                   %matplotlib inline
                   import matplotlib.pyplot as plt

                   images, labels = torch.rand(192, 28, 28), torch.randint(0, 10, (192,))
                   data = [(images[i:i + 64], labels[i:i + 64]) for i in range(0, 192, 64)]
                   model = NeuralNetwork().to(device)
                   optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                   losses = [train_one_epoch(model, data, nn.CrossEntropyLoss(), optimizer, device) for _ in range(3)]
                   %time evaluate(model, data, nn.CrossEntropyLoss(), device)
                   plt.plot(losses)
                   plt.xlabel("epoch")
                   plt.show()
               """),
           )),
    Honest(name="a7-typed-decorator-logsumexp", assignment=A7,
           style="type hints; a hand-written logsumexp and gather in the loss; clamp for ReLU by hand; "
                 "@torch.no_grad() on evaluate",
           answers={
               "ce_solution": """
                   from torch import Tensor


                   def softmax_cross_entropy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
                       m = logits.amax(dim=1, keepdim=True)
                       lse = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))
                       loss = (lse - logits.gather(1, y.unsqueeze(1))).mean()
                       probs = torch.exp(logits - lse)
                       onehot = torch.zeros_like(probs).scatter(1, y.unsqueeze(1), 1.0)
                       return loss, (probs - onehot) / logits.shape[0]
               """,
               "mlp_solution": """
                   def mlp_forward(params: dict, x: Tensor) -> tuple[Tensor, tuple]:
                       x = x.reshape(x.shape[0], -1)
                       a1 = x @ params["W1"].T + params["b1"]
                       h1 = torch.clamp(a1, min=0)
                       a2 = h1 @ params["W2"].T + params["b2"]
                       h2 = torch.clamp(a2, min=0)
                       return h2 @ params["W3"].T + params["b3"], (x, a1, h1, a2, h2)


                   def mlp_backward(params: dict, cache: tuple, dlogits: Tensor) -> dict:
                       x, a1, h1, a2, h2 = cache
                       dh2 = dlogits @ params["W3"]
                       da2 = dh2 * (a2 > 0).to(a2.dtype)
                       dh1 = da2 @ params["W2"]
                       da1 = dh1 * (a1 > 0).to(a1.dtype)
                       return {"W3": dlogits.T @ h2, "b3": dlogits.sum(0), "W2": da2.T @ h1, "b2": da2.sum(0),
                               "W1": da1.T @ x, "b1": da1.sum(0)}
               """,
               "train_solution": """
                   def train_one_epoch(model: nn.Module, batches, loss_fn, optimizer, device: str) -> float:
                       model.train()
                       total, count = 0.0, 0
                       for X, y in batches:
                           X, y = X.to(device), y.to(device)
                           loss = loss_fn(model(X), y)
                           optimizer.zero_grad()
                           loss.backward()
                           optimizer.step()
                           total += float(loss)
                           count += 1
                       return total / count


                   @torch.no_grad()
                   def evaluate(model: nn.Module, batches, loss_fn, device: str) -> tuple[float, float]:
                       model.eval()
                       total, correct, seen, count = 0.0, 0.0, 0, 0
                       for X, y in batches:
                           X, y = X.to(device), y.to(device)
                           logits = model(X)
                           total += loss_fn(logits, y).item()
                           correct += (logits.argmax(1) == y).float().sum().item()
                           seen += len(y)
                           count += 1
                       return total / count, correct / seen
               """,
           }),
]
