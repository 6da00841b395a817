"""The static check: the authority on shortcuts, run in the referee on the answer cells' text.

For every graded function of the exercise's rule table
(:class:`~autograder.checks.rules.Exercise`), it follows what the function reaches
(:class:`.program.Program`: through the student's own helpers, aliases, ``getattr`` with a
constant name, classes and their methods) and

* a forbidden shortcut it reaches (any of torch's names for it, or a method call of that
  name) fails the tests of that function, with the line quoted (:class:`Violation`);
* a required call it lacks (``torch.no_grad()`` in an evaluation loop) fails them too;
* code the check cannot see through, anywhere in the answer cells, flags the row
  (:mod:`.opaque`), for the instructor to read.

The student's code is read, never run. The recorder in the student's kernel stays as a
second line, for what the text of the code does not name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..checks.rules import MODULES, Exercise, Requirement, Rule, Shortcut
from .opaque import Flag, opaque
from .program import Program, Ref, parse_cell


@dataclass(frozen=True)
class Violation:
    """A broken rule: the test ``grade_id`` fails with ``message`` (which quotes the line)."""

    grade_id: str
    function: str
    message: str


@dataclass
class Report:
    """What the static check found: ``flags`` for the row, ``violations`` by test grade_id."""

    flags: list[Flag] = field(default_factory=list)
    violations: dict[str, Violation] = field(default_factory=dict)
    #: The notebook index of every cell that binds each top-level name.
    defined_in: dict[str, list[int]] = field(default_factory=dict)


def _shortcut_in(ref: Ref, shortcut: Shortcut) -> bool:
    if ref.kind == "path":
        parts = ref.target.split(".")
        return parts[0] == "torch" and any(p in shortcut.names for p in parts[1:])
    return ref.kind == "method" and ref.target in shortcut.names


def _meets(ref: Ref, requirement: Requirement) -> bool:
    if ref.kind == "path":
        parts = ref.target.split(".")
        return parts[0] == "torch" and any(p in requirement.names for p in parts[1:])
    return ref.kind == "method" and ref.target in requirement.names


def _route(chain: tuple[str, ...]) -> str:
    return "" if len(chain) < 2 else " through " + " -> ".join(f"`{n}`" for n in chain[1:])


def _shortcut_message(rule: Rule, shortcut: Shortcut, ref: Ref, chain: tuple[str, ...]) -> str:
    names = ", ".join(f"`{n}`" for n in shortcut.shown)
    return (f"`{rule.function}` uses {shortcut.label}{_route(chain)}: {ref.where.quote()}.\n"
            f"Hint: this exercise is to write it yourself; {shortcut.label} ({names}) does not count, under any name "
            f"(the rules cell at the top of the notebook lists what each function may use).")


def _requirement_message(rule: Rule, requirement: Requirement, where: str) -> str:
    return (f"`{rule.function}` ({where}) does not {requirement.label}: nothing in its code, or in the helpers it "
            f"calls, does.\nHint: {requirement.advice}")


def _judge(program: Program, rule: Rule, before: int | None) -> str | None:
    """The message of the first rule ``rule.function`` breaks for code run from cell ``before``."""
    if not program.defines(rule.function):
        return None  # the test fails on its own: the name is missing
    reached = list(program.reach(rule.function, before))
    for ref, chain in reached:
        for shortcut in rule.forbidden:
            if _shortcut_in(ref, shortcut):
                return _shortcut_message(rule, shortcut, ref, chain)
    for requirement in rule.requires:
        if not any(_meets(ref, requirement) for ref, _ in reached):
            where = program.visible(rule.function, before)[0].where.quote()
            return _requirement_message(rule, requirement, where)
    return None


def check(cells: list[tuple[int, str]], exercise: Exercise | None, tests: dict[str, int] | None = None,
          setup: str = "") -> Report:
    """The static check of the answer cells ``cells`` (``(index in the notebook, source)``).

    ``tests``: the notebook index of each test cell, by grade_id (a test judges the
    definitions in effect when it runs; None: every definition). ``setup``: the import
    lines of the source notebook's locked set-up cells (:func:`autograder.notebook.setup_imports`),
    which run before any answer: ``torch`` in an answer is the module they bound. Without an
    ``exercise`` (an assignment with no rule table) only the flags are computed.
    """
    parsed = [parse_cell(index, source) for index, source in cells]
    program = Program(parsed, preamble=setup)
    modules = exercise.modules if exercise is not None else MODULES
    defined_in = {name: sorted({d.where.cell for d in found}) for name, found in program.definitions.items()}
    report = Report(flags=opaque(parsed, modules, program.modules), defined_in=defined_in)
    if exercise is None:
        return report
    tests = tests or {}
    for rule in exercise.rules:
        for grade_id in rule.tests:
            if grade_id in report.violations:
                continue
            message = _judge(program, rule, tests.get(grade_id))
            if message:
                report.violations[grade_id] = Violation(grade_id, rule.function, message)
    return report
