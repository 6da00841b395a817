"""Chapter 5 (NLL and cross-entropy): the losses and their backwards, honestly.

Several notebooks write a gradient by indexing, ``grad[torch.arange(n, device=...), t] = ...``:
the line the chapter's page itself shows (issue 17 found it flagged as "rebinding a library").
"""
from ..model import A5, Honest, code

#: The target checks and 2-d views three notebooks share (students who worked from the same
#: page of the chapter write the same helper).
PREPARE = code("""
    def prepare(x, target, weight, ignore_index):
        \"\"\"(x as (N, C), target as (N,), kept rows, safe targets, weight per row or 0).\"\"\"
        if target.dtype != torch.int64:
            raise RuntimeError(f"expected target dtype Long, got {target.dtype}")
        x2, t2 = (x.unsqueeze(0), target.unsqueeze(0)) if x.dim() == 1 else (x, target)
        classes = x2.shape[1]
        kept = t2 != ignore_index
        if bool((((t2 < 0) | (t2 >= classes)) & kept).any()):
            raise IndexError(f"Target out of bounds for {classes} classes")
        safe = torch.where(kept, t2, 0)
        w = torch.ones(classes, dtype=x.dtype, device=x.device) if weight is None else weight
        return x2, t2, kept, safe, torch.where(kept, w[safe], 0.0)
""")

INDEX_NLL = PREPARE + "\n\n" + code("""
    def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
        lp, _, kept, safe, w_t = prepare(log_probs, target, weight, ignore_index)
        n = lp.shape[0]
        losses = torch.where(kept, -w_t * lp[torch.arange(n, device=lp.device), safe], 0.0)
        if reduction == "none":
            return losses if log_probs.dim() == 2 else losses[0]
        if reduction == "sum":
            return losses.sum()
        return losses.sum() / w_t.sum()
""")

INDEX_NLL_BACKWARD = code("""
    def nll_loss_backward(log_probs, target, grad_out, weight=None, ignore_index=-100, reduction="mean"):
        lp, _, kept, safe, w_t = prepare(log_probs, target, weight, ignore_index)
        n = lp.shape[0]
        if reduction == "mean":
            c = grad_out / w_t.sum()
        else:
            c = grad_out.reshape(-1) if reduction == "none" else grad_out
        grad = torch.zeros_like(lp)
        grad[torch.arange(n, device=lp.device), safe] = torch.where(kept, -c * w_t, 0.0)
        return grad if log_probs.dim() == 2 else grad[0]
""")

NOTEBOOKS = [
    Honest(name="a5-book-index", assignment=A5,
           style="the chapter's nll_backward: grad[torch.arange(n, device=lp.device), safe] = ...; the book's "
                 "cross_entropy_backward with F.one_hot",
           answers={
               "nll_solution": INDEX_NLL,
               "nll_backward_solution": INDEX_NLL_BACKWARD,
               "ce_solution": """
                   def log_softmax(x):
                       m = x.amax(dim=-1, keepdim=True)
                       return x - m - torch.log(torch.exp(x - m).sum(dim=-1, keepdim=True))


                   def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
                       return nll_loss(log_softmax(logits), target, weight, ignore_index, reduction)
               """,
               "ce_backward_solution": """
                   def cross_entropy_backward(logits, target, grad_out, weight=None, ignore_index=-100,
                                              reduction="mean"):
                       log_p = log_softmax(logits)
                       d_log_p = nll_loss_backward(log_p, target, grad_out, weight, ignore_index, reduction)
                       coeff = -d_log_p.sum(dim=-1, keepdim=True)
                       onehot = F.one_hot(torch.where(target == ignore_index, 0, target), logits.shape[-1])
                       return coeff * (log_p.exp() - onehot)
               """,
           }),
    Honest(name="a5-gather-scatter-logsumexp", assignment=A5,
           style="gather for the loss, scatter for its gradient; log-softmax as x - (m + log(sum(exp(x - m))))",
           answers={
               "nll_solution": PREPARE + "\n\n" + code("""
                   def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
                       lp, _, kept, safe, w_t = prepare(log_probs, target, weight, ignore_index)
                       picked = lp.gather(1, safe.unsqueeze(1)).squeeze(1)
                       losses = torch.where(kept, -w_t * picked, torch.zeros_like(picked))
                       if reduction == "none":
                           return losses.reshape(target.shape)
                       total = losses.sum()
                       return total if reduction == "sum" else total / w_t.sum()
               """),
               "nll_backward_solution": """
                   def nll_loss_backward(log_probs, target, grad_out, weight=None, ignore_index=-100,
                                         reduction="mean"):
                       lp, _, kept, safe, w_t = prepare(log_probs, target, weight, ignore_index)
                       scale = grad_out / w_t.sum() if reduction == "mean" else grad_out.reshape(-1)
                       values = torch.where(kept, -scale * w_t, torch.zeros_like(w_t))
                       grad = torch.zeros_like(lp).scatter(1, safe.unsqueeze(1), values.unsqueeze(1))
                       return grad.reshape(log_probs.shape)
               """,
               "ce_solution": """
                   def log_softmax(x):
                       m = x.amax(dim=-1, keepdim=True)
                       return x - (m + torch.log(torch.sum(torch.exp(x - m), dim=-1, keepdim=True)))


                   def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
                       return nll_loss(log_softmax(logits), target, weight, ignore_index, reduction)
               """,
               "ce_backward_solution": """
                   def cross_entropy_backward(logits, target, grad_out, weight=None, ignore_index=-100,
                                              reduction="mean"):
                       x, _, kept, safe, w_t = prepare(logits, target, weight, ignore_index)
                       p = torch.exp(log_softmax(x))
                       onehot = torch.zeros_like(p).scatter(1, safe.unsqueeze(1), 1.0)
                       scale = grad_out / w_t.sum() if reduction == "mean" else grad_out.reshape(-1)
                       coeff = torch.where(kept, scale * w_t, torch.zeros_like(w_t)).unsqueeze(1)
                       return (coeff * (p - onehot)).reshape(logits.shape)
               """,
           }),
    Honest(name="a5-one-hot-class-loop", assignment=A5,
           style="F.one_hot masks instead of indexing; the weight of each row found by a loop over the C classes",
           answers={
               "nll_solution": """
                   def check(x, target, ignore_index):
                       if target.dtype != torch.int64:
                           raise RuntimeError("target must be int64 (Long)")
                       classes = x.shape[-1]
                       wrong = (target != ignore_index) & ((target < 0) | (target >= classes))
                       if wrong.any():
                           raise IndexError(f"a target is out of bounds for {classes} classes")


                   def row_weights(x, safe, kept, weight):
                       classes = x.shape[-1]
                       w_t = torch.zeros(safe.shape, dtype=x.dtype, device=x.device)
                       for c in range(classes):
                           w_c = 1.0 if weight is None else weight[c]
                           w_t = torch.where(safe == c, w_c, w_t)
                       return torch.where(kept, w_t, 0.0)


                   def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
                       check(log_probs, target, ignore_index)
                       kept = target != ignore_index
                       safe = torch.where(kept, target, 0)
                       onehot = F.one_hot(safe, log_probs.shape[-1]).to(log_probs.dtype)
                       picked = (log_probs * onehot).sum(-1)
                       w_t = row_weights(log_probs, safe, kept, weight)
                       losses = -w_t * picked
                       if reduction == "none":
                           return losses
                       if reduction == "sum":
                           return losses.sum()
                       return losses.sum() / w_t.sum()
               """,
               "nll_backward_solution": """
                   def nll_loss_backward(log_probs, target, grad_out, weight=None, ignore_index=-100,
                                         reduction="mean"):
                       check(log_probs, target, ignore_index)
                       kept = target != ignore_index
                       safe = torch.where(kept, target, 0)
                       w_t = row_weights(log_probs, safe, kept, weight)
                       scale = grad_out / w_t.sum() if reduction == "mean" else grad_out
                       at_target = torch.where(kept, -w_t * scale, 0.0)
                       onehot = F.one_hot(safe, log_probs.shape[-1]).to(log_probs.dtype)
                       return onehot * at_target.unsqueeze(-1)
               """,
               "ce_backward_solution": """
                   def cross_entropy_backward(logits, target, grad_out, weight=None, ignore_index=-100,
                                              reduction="mean"):
                       check(logits, target, ignore_index)
                       kept = target != ignore_index
                       safe = torch.where(kept, target, 0)
                       w_t = row_weights(logits, safe, kept, weight)
                       scale = grad_out / w_t.sum() if reduction == "mean" else grad_out
                       coeff = torch.where(kept, w_t * scale, 0.0).unsqueeze(-1)
                       onehot = F.one_hot(safe, logits.shape[-1]).to(logits.dtype)
                       return coeff * (torch.exp(log_softmax(logits)) - onehot)
               """,
           }),
    Honest(name="a5-index-minus-one", assignment=A5,
           style="the cross-entropy gradient as softmax with d[torch.arange(n, device=logits.device), t] -= 1",
           answers={
               "nll_solution": INDEX_NLL,
               "nll_backward_solution": INDEX_NLL_BACKWARD,
               "ce_backward_solution": """
                   def cross_entropy_backward(logits, target, grad_out, weight=None, ignore_index=-100,
                                              reduction="mean"):
                       x, _, kept, safe, w_t = prepare(logits, target, weight, ignore_index)
                       n = x.shape[0]
                       d = torch.exp(log_softmax(x))
                       d[torch.arange(n, device=logits.device), safe] -= 1
                       if reduction == "mean":
                           c = grad_out / w_t.sum()
                       else:
                           c = grad_out.reshape(-1) if reduction == "none" else grad_out
                       d = d * torch.where(kept, c * w_t, 0.0).unsqueeze(1)
                       return d if logits.dim() == 2 else d[0]
               """,
           }),
    Honest(name="a5-isinstance-getattr-helpers", assignment=A5,
           style="isinstance and getattr(x, 'shape') checks, asserts, typed helpers; the 1-d case by recursion",
           answers={
               "nll_solution": """
                   from torch import Tensor


                   def validated(x: Tensor, target: Tensor, ignore_index: int) -> None:
                       assert isinstance(x, torch.Tensor) and isinstance(target, torch.Tensor)
                       if target.dtype != torch.int64:
                           raise RuntimeError(f"expected target dtype to be Long, but got {target.dtype}")
                       classes = getattr(x, "shape")[-1]
                       counted = target[target != ignore_index]
                       if counted.numel() and (counted.min() < 0 or counted.max() >= classes):
                           raise IndexError(f"Target is out of bounds for {classes} classes.")


                   def nll_loss(log_probs: Tensor, target: Tensor, weight=None, ignore_index: int = -100,
                                reduction: str = "mean") -> Tensor:
                       validated(log_probs, target, ignore_index)
                       if log_probs.dim() == 1:
                           out = nll_loss(log_probs.unsqueeze(0), target.unsqueeze(0), weight, ignore_index,
                                          reduction)
                           return out[0] if reduction == "none" else out
                       n, classes = log_probs.shape
                       kept = target != ignore_index
                       safe = torch.where(kept, target, 0)
                       w = weight if weight is not None else log_probs.new_ones(classes)
                       w_t = w[safe] * kept
                       losses = -w_t * log_probs[torch.arange(n, device=log_probs.device), safe]
                       if reduction == "none":
                           return losses
                       return losses.sum() if reduction == "sum" else losses.sum() / w_t.sum()
               """,
               "nll_backward_solution": """
                   def nll_loss_backward(log_probs: Tensor, target: Tensor, grad_out: Tensor, weight=None,
                                         ignore_index: int = -100, reduction: str = "mean") -> Tensor:
                       validated(log_probs, target, ignore_index)
                       if log_probs.dim() == 1:
                           g = grad_out.unsqueeze(0) if reduction == "none" else grad_out
                           return nll_loss_backward(log_probs.unsqueeze(0), target.unsqueeze(0), g, weight,
                                                    ignore_index, reduction)[0]
                       n, classes = log_probs.shape
                       kept = target != ignore_index
                       safe = torch.where(kept, target, 0)
                       w = weight if weight is not None else log_probs.new_ones(classes)
                       w_t = w[safe] * kept
                       scale = grad_out / w_t.sum() if reduction == "mean" else grad_out
                       grad = torch.zeros_like(log_probs)
                       grad[torch.arange(n, device=log_probs.device), safe] = torch.where(kept, -w_t * scale, 0.0)
                       return grad
               """,
           }),
    Honest(name="a5-float64-prints-compare", assignment=A5,
           style="set_default_dtype(float64) and manual_seed at the top; a cell comparing with F.nll_loss and "
                 "F.cross_entropy; prints",
           added=(
               (None, """
                   torch.set_default_dtype(torch.float64)
                   torch.manual_seed(0)
               """),
               ("ce_backward_md", """
                   logits = torch.randn(6, 4)
                   target = torch.tensor([0, 3, 1, -100, 2, 2])
                   print(cross_entropy(logits, target), F.cross_entropy(logits, target))
                   assert torch.allclose(cross_entropy(logits, target), F.cross_entropy(logits, target))
                   assert torch.allclose(nll_loss(logits.log_softmax(1), target, reduction="none"),
                                         F.nll_loss(logits.log_softmax(1), target, reduction="none"))
               """),
           )),
]
