"""Chapter 4 (what dim means): normalize, max_along and softmax over channels, honestly."""
from ..model import A4, Honest

NOTEBOOKS = [
    Honest(name="a4-loop-positions", assignment=A4,
           style="max_along by a Python loop over the positions along dim (the last hit written first)",
           answers={
               "max_solution": """
                   def max_along(x, dim, keepdim=False):
                       values = x.amax(dim, keepdim=True)
                       n = x.shape[dim]
                       indices = torch.full_like(values, n, dtype=torch.int64)
                       for i in reversed(range(n)):        # from the last position back: the first one wins
                           hit = x.narrow(dim, i, 1) == values
                           indices = torch.where(hit, i, indices)
                       if not keepdim:
                           values, indices = values.squeeze(dim), indices.squeeze(dim)
                       return values, indices
               """,
               "softmax_solution": """
                   def softmax_channels(x):
                       e = torch.exp(x - x.max(dim=1, keepdim=True).values)
                       return e / e.sum(dim=1, keepdim=True)
               """,
           }),
    Honest(name="a4-gather-cumsum", assignment=A4,
           style="torch functions (torch.div, torch.sum); the first maximum found with cumsum, the values with gather",
           answers={
               "normalize_solution": """
                   def normalize(x, dim):
                       return torch.div(x, torch.sum(x, dim, keepdim=True))
               """,
               "max_solution": """
                   def max_along(x, dim, keepdim=False):
                       hit = (x == torch.amax(x, dim, keepdim=True)).long()
                       first = hit * (torch.cumsum(hit, dim) == 1)     # 1 at the first maximum only
                       n = x.shape[dim]
                       shape = [1] * x.dim()
                       shape[dim] = n
                       positions = torch.arange(n, device=x.device).reshape(shape)
                       indices = torch.sum(first * positions, dim, keepdim=True)
                       values = torch.gather(x, dim, indices)
                       if keepdim:
                           return values, indices
                       return values.squeeze(dim), indices.squeeze(dim)
               """,
               "softmax_solution": """
                   def softmax_channels(x):
                       e = torch.exp(torch.sub(x, torch.amax(x, 1, keepdim=True)))
                       return torch.div(e, torch.sum(e, 1, keepdim=True))
               """,
           }),
    Honest(name="a4-typed-getattr-channel-loop", assignment=A4,
           style="type hints, getattr(x, 'shape'), x.size(dim), reciprocal; a loop over the C channels",
           answers={
               "normalize_solution": """
                   from torch import Tensor


                   def normalize(x: Tensor, dim: int) -> Tensor:
                       return x * x.sum(dim, keepdim=True).reciprocal()
               """,
               "max_solution": """
                   def max_along(x: Tensor, dim: int, keepdim: bool = False) -> tuple[Tensor, Tensor]:
                       values = x.amax(dim, keepdim=True)
                       n = x.size(dim)
                       shape = [1] * len(getattr(x, "shape"))
                       shape[dim] = n
                       positions = torch.arange(n, device=x.device).view(shape)
                       indices = torch.where(x == values, positions, n).amin(dim, keepdim=True)
                       if not keepdim:
                           values, indices = values.squeeze(dim), indices.squeeze(dim)
                       return values, indices
               """,
               "softmax_solution": """
                   def softmax_channels(x: Tensor) -> Tensor:
                       channels = x.shape[1]
                       m = x[:, :1]
                       for c in range(1, channels):
                           m = torch.maximum(m, x[:, c:c + 1])
                       e = torch.exp(x - m)
                       total = e[:, :1]
                       for c in range(1, channels):
                           total = total + e[:, c:c + 1]
                       return e / total
               """,
           }),
    Honest(name="a4-float64-default", assignment=A4,
           style="torch.set_default_dtype(torch.float64) at the top, the solution's code",
           added=((None, "torch.set_default_dtype(torch.float64)"),)),
    Honest(name="a4-arithmetic-mask-prints", assignment=A4,
           style="the first maximum by arithmetic on a mask (positions + n * (x != max)); prints of the chapter's "
                 "example",
           answers={
               "max_solution": """
                   def max_along(x, dim, keepdim=False):
                       values = x.amax(dim=dim, keepdim=True)
                       n = x.shape[dim]
                       shape = [1] * x.dim()
                       shape[dim] = n
                       positions = torch.arange(n, device=x.device).reshape(shape)
                       indices = (positions + n * (x != values).long()).amin(dim=dim, keepdim=True)
                       if not keepdim:
                           return values.squeeze(dim), indices.squeeze(dim)
                       return values, indices


                   print(max_along(a, 0))
                   print(max_along(a, 1, keepdim=True))
               """,
           }),
    Honest(name="a4-masked-fill-magic", assignment=A4, style="masked_fill and expand_as; a %timeit in an extra cell",
           answers={
               "max_solution": """
                   def max_along(x, dim, keepdim=False):
                       values = x.amax(dim, keepdim=True)
                       n = x.shape[dim]
                       shape = [1] * x.dim()
                       shape[dim] = n
                       positions = torch.arange(n, device=x.device).reshape(shape).expand_as(x)
                       indices = positions.masked_fill(x != values, n).amin(dim, keepdim=True)
                       if not keepdim:
                           values, indices = values.squeeze(dim), indices.squeeze(dim)
                       return values, indices
               """,
           },
           added=(("softmax_solution", "%timeit -n 3 -r 1 max_along(torch.rand(64, 128), 1)"),)),
]
