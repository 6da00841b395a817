"""Where the student's code lives, as the checks see it: the interface the checks own.

A check calls student code without knowing where it runs. In JupyterLab, the book and the
project's tests it runs here (:class:`LocalSide`); when grading, it runs in the student's
sandboxed kernel, reached by the referee (:mod:`autograder.referee.session`), which
implements the same :class:`Side` and hands the checks :class:`Handle` objects. Nothing in
``checks/`` or ``chapters/`` imports the referee.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from autograder_kernel import library
from autograder_kernel.recorder import Recording


class StudentError(Exception):
    """An exception the student's code raised on another side, rebuilt there from its
    description. Subclasses also derive from the builtin exception the student's one derives
    from (``except IndexError`` works); ``student_type`` is the original class's name and
    ``student_message`` its own message."""

    student_type = "Exception"
    student_message = ""


@dataclass
class CallRecord:
    """What one call of student code gave back.

    ``after``: the state of every tensor argument after the call, in the order they were
    sent; ``ops``: the aten operators it ran (normalised, best effort); ``autograd``: the
    autograd entry points it called; ``intact``: whether recording stayed on.
    """

    value: Any
    after: list[torch.Tensor] = field(default_factory=list)
    ops: frozenset[str] = frozenset()
    autograd: frozenset[str] = frozenset()
    intact: bool = True
    seconds: float = 0.0


class Side(Protocol):
    """The place a student's objects live: call them, build torch objects there, read state."""

    def call(self, fn: Any, args: tuple, kwargs: dict, allowed: frozenset[str] | None = None) -> CallRecord: ...

    def lib(self, name: str, *args, **kwargs) -> Any: ...

    def fetch(self, value: Any) -> Any: ...

    def manual_seed(self, seed: int) -> None: ...

    def default_dtype(self) -> torch.dtype: ...


class Handle:
    """An object that lives on another :class:`Side`: the referee's proxies derive from this.

    ``_session`` is its side; ``display_name`` and ``type_name`` name it for messages;
    ``type_is(qualified)`` tells whether ``module.qualname`` is in its class hierarchy."""

    __slots__ = ()


def tensors_in(value: Any, label: str = "", depth: int = 0):
    """``(label, tensor)`` for every tensor inside ``value`` (lists, tuples, dicts), in the
    order the channel sends them."""
    if depth > 20:
        return
    if isinstance(value, torch.Tensor):
        yield label, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from tensors_in(item, f"{label}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors_in(item, f"{label}[{key!r}]", depth + 1)


class LocalSide:
    """The student's objects live in this process (JupyterLab, the book, the project's tests)."""

    def call(self, fn: Any, args: tuple, kwargs: dict, allowed: frozenset[str] | None = None) -> CallRecord:
        found = [t for _, t in tensors_in((list(args), kwargs))]
        recording = Recording()
        with recording:
            value = fn(*args, **kwargs)
        return CallRecord(value, found, frozenset(recording.ops), frozenset(recording.autograd), recording.intact)

    def lib(self, name: str, *args, **kwargs) -> Any:
        return library.resolve(name)(*args, **kwargs)

    def fetch(self, value: Any) -> Any:
        return value

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def default_dtype(self) -> torch.dtype:
        return torch.get_default_dtype()


def is_remote(obj: Any) -> bool:
    return isinstance(obj, Handle)


def side_of(obj: Any) -> Side:
    """Where ``obj`` (a student's function, class or object) lives: this process, or the side
    its handle came from."""
    return obj._session if is_remote(obj) else LocalSide()
