"""Calling a student's code: here (JupyterLab) or in the student's kernel (the referee).

A check never needs to know where the student's code lives. :func:`run` calls a function
or method that is either a local callable or a :class:`~.side.Handle` on an object of
another :class:`~.side.Side`, and gives back a :class:`~.side.CallRecord`: the result, the state of every tensor
argument after the call, and the operators the call ran (recorded by
:mod:`autograder_kernel.recorder`, in whatever process ran the call: best effort).
:func:`watched_call` adds the rules every check shares: only allowed operators, no
autograd inside a hand-written backward, inputs unmodified.

:func:`side_of` gives the place a student object lives, to build torch objects there
(:meth:`LocalSide.lib`), read an object's current state (:meth:`LocalSide.fetch`) or seed
its random generator.
"""
from __future__ import annotations

import textwrap
from typing import Any, Callable

import torch

from .ops import not_allowed
from .side import CallRecord, StudentError, is_remote, side_of, tensors_in


class CheckFailure(AssertionError):
    """A check failed; the message says which function, which output, which case, what was
    expected and what came back, and (when the mistake is a known one) a hint."""

    #: ``nbgrader validate`` cuts every line of an error at 83 characters (its 90-character
    #: width, less its indent and "..."), so what IPython shows is wrapped narrower than that.
    WIDTH = 80

    def _render_traceback_(self) -> list[str]:
        """What IPython (JupyterLab, ``nbgrader validate``) shows for this error: the
        message, not the checks' stack, every line wrapped to :attr:`WIDTH` characters."""
        name = type(self).__name__
        lines = (f"{name}: {self}").splitlines()
        shown = [piece for line in lines for piece in _wrap(line, self.WIDTH)]
        return [f"\x1b[0;31m{name}\x1b[0m{shown[0][len(name):]}", *shown[1:]]


def _wrap(line: str, width: int) -> list[str]:
    """``line`` cut at spaces into lines of at most ``width`` characters; continuation lines
    keep its indent plus two spaces."""
    if len(line) <= width:
        return [line]
    indent = line[:len(line) - len(line.lstrip())]
    return textwrap.wrap(line, width=width, subsequent_indent=indent + "  ", break_on_hyphens=False,
                         break_long_words=True, drop_whitespace=True) or [line]


def type_name(obj: Any) -> str:
    """``obj``'s type as a student reads it: ``numpy.ndarray``, ``Relu``, ``NoneType``, ``tuple``..."""
    if is_remote(obj):
        module, name = str(obj._info.get("module", "")), obj.type_name
    else:
        module, name = type(obj).__module__, type(obj).__qualname__
    name = name.rsplit(".", 1)[-1]
    top = module.split(".")[0]
    return name if top in ("", "__main__", "builtins") else f"{top}.{name}"


def is_a(obj: Any, qualified: str) -> bool:
    """Whether ``obj``'s class derives from ``qualified`` (``"torch.nn.modules.module.Module"``)."""
    if is_remote(obj):
        return obj.type_is(qualified)
    return any(f"{c.__module__}.{c.__qualname__}" == qualified for c in type(obj).__mro__)


def display_name(fn: Any, default: str = "function") -> str:
    if is_remote(fn):
        return fn.display_name
    return getattr(fn, "__name__", default)


def pair(name: str, result: object, what: str, like: str = "") -> tuple:
    """``result`` when it is a pair; else a :class:`CheckFailure` saying ``name`` must return
    ``what`` (``"(values, indices)"``), ``like`` an example (``"torch.max(x, dim)"``)."""
    if not isinstance(result, tuple) or len(result) != 2:
        got = f"a {type_name(result)}" + (f" of length {len(result)}" if isinstance(result, tuple) else "")
        raise CheckFailure(f"{name} returned {got}; expected a pair {what}" + (f", like {like}" if like else "")
                           + f".\nHint: end with `return {what[1:-1]}`.")
    return result


class Part:
    """``fn`` seen as a function returning ``pick(result)``: one output of a function that
    returns several (``max_along``'s values). :func:`run` calls ``fn`` wherever it lives and
    applies ``pick`` to the result here, so the call's record is kept."""

    def __init__(self, fn: Callable, pick: Callable[[Any], Any], name: str):
        self.fn, self.pick, self.__name__ = fn, pick, name

    def __call__(self, *args, **kwargs):
        return self.pick(self.fn(*args, **kwargs))


# ------------------------------------------------------------------------------- calls

def run(fn: Callable, args: tuple = (), kwargs: dict | None = None, allowed: frozenset[str] | None = None) -> CallRecord:
    """Call ``fn(*args, **kwargs)`` wherever ``fn`` lives; see :class:`CallRecord`. The
    student's exception propagates (from another side: as a :class:`~.side.StudentError`
    deriving from the same builtin)."""
    kwargs = kwargs or {}
    if isinstance(fn, Part):
        record = run(fn.fn, args, kwargs, allowed)
        record.value = fn.pick(record.value)
        return record
    return side_of(fn).call(fn, tuple(args), kwargs, allowed)


def _labels(args: tuple, kwargs: dict, arg_names: tuple[str, ...]) -> list[tuple[str, torch.Tensor]]:
    out = []
    for i, arg in enumerate(args):
        out += list(tensors_in(arg, arg_names[i] if i < len(arg_names) else f"argument {i}"))
    for key, arg in kwargs.items():
        out += list(tensors_in(arg, key))
    return out


def same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shape, dtype and values (NaN equal to NaN)."""
    return (a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)))
            and bool(torch.equal(a.isnan(), b.isnan())))


def raised(name: str, err: BaseException) -> str:
    """``"nll_loss raised IndexError: index 3 is out of bounds"``: the student's exception in
    one line, whether it was raised here or in their kernel (where the referee's message
    already reads "your nll_loss raised IndexError: ...")."""
    kind = getattr(err, "student_type", None) or type(err).__name__
    text = err.student_message if isinstance(err, StudentError) else str(err)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{name} raised {kind}" + (f": {first}" if first else "")


def inplace_advice(label: str) -> str:
    """Why and how not to modify ``label`` in place (true for any function)."""
    return (f"the caller still needs `{label}` after your function returns (it may be shared with other code). "
            f"Compute a new tensor from it instead of writing into it: no `{label}[...] = ...`, no `{label} += ...`, "
            f"no methods ending in `_` such as `{label}.mul_(...)`.")


def watched_call(
    fn: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    name: str,
    where: str,
    allowed: frozenset[str] | None = None,
    allow_autograd: bool = True,
    arg_names: tuple[str, ...] = (),
    inplace_hint: Callable[[str], str] = inplace_advice,
) -> Any:
    """Call ``fn(*args, **kwargs)`` under the shared rules; return its result.

    ``allowed``: the aten operators ``fn`` may run (None: any); ``allow_autograd=False``
    refuses ``backward()`` / ``torch.autograd.grad`` inside; no tensor argument may come
    back changed. ``where`` describes the case and ``arg_names`` names the positional
    arguments, for messages. Raises :class:`CheckFailure` when a rule is broken; the
    student's own exception propagates with a note naming the case.
    """
    kwargs = kwargs or {}
    labelled = _labels(tuple(args), kwargs, arg_names)
    before = [(label, t.detach().clone()) for label, t in labelled]
    try:
        record = run(fn, args, kwargs, allowed)
    except CheckFailure:
        raise
    except Exception as err:
        err.add_note(f"(raised by {name} on {where})")
        raise
    if not record.intact:
        raise CheckFailure(f"{name} switched off the recording of torch operations on {where}, so the grader cannot "
                           f"tell which operations it used.")
    if allowed is not None:
        extra = not_allowed(record.ops, allowed)
        if extra:
            ops = ", ".join(f"aten.{op}" for op in extra)
            raise CheckFailure(
                f"{name} runs {ops} on {where}.\n"
                f"Hint: this exercise is to compute the result yourself from basic operations (arithmetic, exp, log, "
                f"comparisons, where, sum, max, indexing); {ops} is torch doing that work for you, under whatever name "
                f"you called it.")
    if not allow_autograd and record.autograd:
        raise CheckFailure(
            f"{name} uses autograd ({', '.join(sorted(record.autograd))}) on {where}.\n"
            f"Hint: a hand-written backward computes the gradient from the formula; it must not call .backward() "
            f"or torch.autograd.grad.")
    for (label, saved), after in zip(before, record.after):
        if not same_tensor(saved, after.detach()):
            raise CheckFailure(f"{name} modified its input `{label}` in place on {where}.\nHint: {inplace_hint(label)}")
    return record.value
