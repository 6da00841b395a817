"""An exercise's rules as data: what each graded function may use, and what it may not.

One :class:`Exercise` per assignment (``autograder.chapters.<chapter>.EXERCISE``) is the
single source of three things that must agree:

* the **rules paragraph** of the released notebook (:meth:`Exercise.markdown`, written by
  ``python -m autograder release``), so the text a student reads is the grader's rule;
* the **static check** in the referee (:mod:`autograder.referee.static`): a forbidden
  shortcut that a graded function reaches loses that function's tests, a required call it
  lacks too, and code the check cannot read (:data:`MODULES` lists what answer cells may
  import) makes the row ``flagged``;
* the **operator allow-list** the recorder in the student's kernel enforces at each call
  (:meth:`Rule.allowed_ops`, given to the checks as ``allowed=``): a second line.

Anything the text allows is allowed: the allow-list is :data:`~.ops.BASIC` plus what a
rule adds, less what its shortcuts run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ops import BASIC


@dataclass(frozen=True)
class Shortcut:
    """torch's own version of (part of) an answer.

    ``names``: every name torch gives it, wherever it lives (a function of ``torch``,
    ``torch.special`` or ``torch.nn.functional``, a ``Tensor`` method, an ``nn`` module
    class): the static check refuses a reference to any of them under ``torch``, and a
    method call of that name. ``ops``: the aten operators it runs (refused by the
    recorder). ``shown``: how the rules paragraph spells it.
    """

    label: str
    names: frozenset[str]
    ops: frozenset[str]
    shown: tuple[str, ...]


@dataclass(frozen=True)
class Requirement:
    """Something a graded function must do, seen in its code: one of ``names`` (under
    ``torch``) must be reached. ``label`` reads after "must" (``"turn gradient tracking
    off"``); ``advice``: what to write, for the message and the text."""

    label: str
    names: frozenset[str]
    advice: str


@dataclass(frozen=True)
class Rule:
    """The rules for one graded function or class (``function``: its name in the notebook).

    ``tests``: the grade_ids of the test cells that grade it. ``forbidden``: the shortcuts it
    may not take. ``any_op``: it may use any torch operation not forbidden (a network, a
    training loop); otherwise only the basic operations plus ``plus`` (normalised aten
    names). ``requires``: what its code must do. ``tolerance``: ``(rtol, atol)`` for float32
    where the default is too tight for an honest answer (long sums), else None.
    """

    function: str
    tests: tuple[str, ...]
    forbidden: tuple[Shortcut, ...] = ()
    plus: frozenset[str] = frozenset()
    any_op: bool = False
    requires: tuple[Requirement, ...] = ()
    tolerance: tuple[float, float] | None = None
    uses: str = ""

    def allowed_ops(self) -> frozenset[str] | None:
        """The aten operators the recorder lets this function run (None: any)."""
        if self.any_op:
            return None
        return (BASIC | self.plus) - self.refused_ops()

    def refused_ops(self) -> frozenset[str]:
        """The aten operators of this rule's shortcuts."""
        return frozenset().union(*(s.ops for s in self.forbidden))

    def rtol_atol(self, dtype) -> dict:
        """``{"rtol": ..., "atol": ...}`` for a float32 comparison when this rule widens it."""
        import torch

        if self.tolerance is None or dtype != torch.float32:
            return {}
        return {"rtol": self.tolerance[0], "atol": self.tolerance[1]}


#: What answer cells may import (top-level module names), besides the exercise's own
#: additions. Anything else is code the static check cannot vouch for: the row is flagged.
MODULES = frozenset({
    "torch", "math", "cmath", "numpy", "matplotlib", "typing", "typing_extensions", "functools", "itertools",
    "collections", "dataclasses", "time", "timeit", "random", "warnings", "string", "abc", "enum", "copy",
    "statistics", "fractions", "decimal", "numbers", "pprint", "textwrap", "__future__", "operator", "tqdm",
    "PIL", "IPython", "os", "sys", "json", "re", "pathlib",
})


@dataclass(frozen=True)
class Exercise:
    """Every rule of one assignment (``assignment``: its folder name in ``solutions/``)."""

    assignment: str
    rules: tuple[Rule, ...]
    modules: frozenset[str] = MODULES
    #: Extra sentences for the rules paragraph (what the whole exercise shares).
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        names = [r.function for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.assignment}: a function has two rules: {names}")

    def __getitem__(self, function: str) -> Rule:
        for rule in self.rules:
            if rule.function == function:
                return rule
        raise KeyError(f"{self.assignment} has no rule for {function!r}")

    def allowed(self) -> dict[str, frozenset[str] | None]:
        """``{function: allowed aten operators}`` (what test cells pass to the checks)."""
        return {r.function: r.allowed_ops() for r in self.rules}

    def rules_for_test(self, grade_id: str) -> list[Rule]:
        """The rules of the functions the test cell ``grade_id`` grades."""
        return [r for r in self.rules if grade_id in r.tests]

    def markdown(self) -> str:
        """The rules paragraph of the released notebook (see :mod:`autograder.release`)."""
        from .rules_text import render

        return render(self)


__all__ = ["Exercise", "MODULES", "Requirement", "Rule", "Shortcut"]
