"""Torch's own formulations of every answer pass every check (issue 17, point 4).

Each alternative (:mod:`corpus.alternatives`) replaces one name of the solution notebook;
every test cell that uses that name then runs here, as the referee runs it (its hidden tests
included, the inputs drawn from a grading secret), with every operator allowed: only the
values are judged. A failure names the alternative, the test cell
and the check's message (which case, got, expected). No grading, no kernel.
"""
from __future__ import annotations

import ast

import pytest

from autograder import notebook as nbfacts
from autograder.referee.names import free_names
from autograder.release import assignments
from corpus import local
from corpus.alternatives import ALTERNATIVES

#: A fixed grading secret: the random cases are those a grading run could draw, and the same every run.
SECRET = 17
#: Graded names torch has no formulation of its own for.
NO_TORCH_ALTERNATIVE = {"Sequential": "torch has no layer container with a backward method to call instead"}


def _graded_names(assignment: str) -> set[str]:
    """The names the assignment's test cells take from the solution's answer cells (its functions and classes)."""
    defined = {node.name for cell in local.source_notebook(assignment).cells
               if nbfacts.kind(cell) is nbfacts.CellKind.ANSWER
               for node in ast.parse(nbfacts.solution_code(nbfacts.source(cell))).body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    return defined & set().union(*(free_names(src) for src in local.test_sources(assignment).values()))


def test_every_graded_name_has_a_torch_alternative():
    missing = {}
    for assignment in assignments():
        have = {alt.name for alt in ALTERNATIVES if alt.assignment == assignment}
        lacking = _graded_names(assignment) - have - set(NO_TORCH_ALTERNATIVE)
        if lacking:
            missing[assignment] = sorted(lacking)
    assert not missing, f"graded names without a torch alternative: {missing}"
    assert len({alt.id for alt in ALTERNATIVES}) == len(ALTERNATIVES), "two alternatives share an id"


def _cells(alt) -> tuple[list[str], dict[str, str]]:
    """The test cells that judge ``alt`` and their text: its own ``calls``, or every test cell using its name."""
    if alt.calls is not None:
        text = f"from autograder.checks import check_forward\n{local.chapter_import(alt.assignment)}\n{alt.calls}\n"
        return ["calls"], {"calls": text}
    using = [gid for gid, src in local.test_sources(alt.assignment).items() if alt.name in free_names(src)]
    return using, {}


@pytest.mark.slow  # about a minute of CPU in all: chapter 5's and 7's hidden tests are many cases
@pytest.mark.parametrize("alt", ALTERNATIVES, ids=lambda alt: alt.id)
def test_torch_alternative_passes_every_case(alt):
    cells, sources = _cells(alt)
    assert cells, f"no test cell uses {alt.name}"
    results = local.run_cells(alt.assignment, local.notebook_code(None, alt.assignment), cells,
                              overrides={alt.name: alt.value}, sources=sources, allow_all=True, secret=SECRET)
    failed = {gid: message for gid, (passed, message) in results.items() if not passed}
    assert not failed, (f"{alt.assignment}: {alt.name} written as {alt.label} should pass every case of "
                        f"{sorted(cells)}; failed:\n"
                        + "\n".join(f"- {gid}: {message}" for gid, message in failed.items()))
