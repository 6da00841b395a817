"""One rule table per exercise: the notebook's rules cell, the static check and the recorder's
allow-list all come from it, and it names what the notebooks really grade."""
from __future__ import annotations

import re
import shutil

import pytest

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.chapters import MODULES as ASSIGNMENTS
from autograder.chapters import exercise
from autograder.checks import ops, rules_text
from autograder.checks.shortcuts import AUTOGRAD, MAX, SIGMOID
from autograder.release import write_rules

SOURCES = {a: sorted((REPO_ROOT / "solutions" / a).glob("*.ipynb")) for a in ASSIGNMENTS}


def test_every_assignment_of_the_course_has_a_rule_table():
    found = sorted(p.name for p in (REPO_ROOT / "solutions").iterdir() if p.is_dir())
    assert sorted(ASSIGNMENTS) == found
    assert all(exercise(a).assignment == a for a in ASSIGNMENTS)
    assert exercise("no-such-assignment") is None


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_the_notebooks_rules_cell_is_the_table_written_out(assignment):
    for kind, folder in (("source", "solutions"), ("released", "exercises")):
        for path in sorted((REPO_ROOT / folder / assignment).glob("*.ipynb")):
            cells = [c for c in nbfacts.read(path).cells if nbfacts.grade_id(c) == rules_text.CELL_ID]
            assert len(cells) == 1, f"{kind} {path.name}: run `make exercises`"
            assert cells[0].source == exercise(assignment).markdown(), f"{kind} {path.name} is stale: run `make exercises`"
            assert cells[0].metadata["nbgrader"]["locked"] is True


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_each_rule_names_a_function_the_notebook_defines_and_tests_it_has(assignment):
    table = exercise(assignment)
    for path in SOURCES[assignment]:
        nb = nbfacts.read(path)
        answers = "\n".join(nbfacts.source(c) for c in nb.cells if nbfacts.kind(c) is nbfacts.CellKind.ANSWER)
        defined = set(re.findall(r"^(?:def|class) (\w+)", answers, re.M))
        tests = set(nbfacts.test_cells(nb))
        for rule in table.rules:
            assert rule.function in defined, f"{assignment}: no answer cell defines {rule.function}"
            assert set(rule.tests) <= tests, f"{assignment}: {rule.function} names tests the notebook lacks"


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_the_recorders_allow_list_is_the_tables(assignment):
    from importlib import import_module

    module = import_module(f"autograder.chapters.{ASSIGNMENTS[assignment]}")
    table = exercise(assignment)
    assert module.ALLOWED == {r.function: r.allowed_ops() for r in table.rules}
    for rule in table.rules:
        allowed = rule.allowed_ops()
        if allowed is not None:
            assert not allowed & rule.refused_ops(), rule.function
            assert allowed >= ops.BASIC - rule.refused_ops(), f"{rule.function}: a basic operation the text allows is refused"


def test_what_the_text_allows_is_allowed():
    ch1 = exercise("01-activations")
    assert {"sign", "abs", "clamp", "floor_divide"} <= ch1["step"].allowed_ops()  # (sign(x) + 1) // 2 is a step
    assert "sigmoid" not in ch1["sigmoid"].allowed_ops() and SIGMOID in ch1["tanh"].forbidden
    assert AUTOGRAD in ch1["relu_derivative"].forbidden and AUTOGRAD not in ch1["relu"].forbidden
    dim = exercise("04-dim")
    assert MAX in dim["max_along"].forbidden and {"amax", "amin"} <= dim["max_along"].allowed_ops()
    assert "max" not in dim["max_along"].allowed_ops() and "max" in dim["normalize"].allowed_ops()
    assert exercise("07-fashion-mnist")["train_one_epoch"].allowed_ops() is None


def test_the_rules_text_names_every_shortcut_requirement_and_tolerance():
    text = exercise("07-fashion-mnist").markdown()
    assert text.startswith(rules_text.HEADING)
    assert "`evaluate` must turn gradient tracking off" in text
    assert "`mlp_backward`: float32 results may differ by rtol 0.0001" in text
    for rule in exercise("02-sigmoid").rules:
        for shortcut in rule.forbidden:
            assert all(f"`{name}`" in exercise("02-sigmoid").markdown() for name in shortcut.shown)


def test_release_writes_the_rules_cell_into_a_source_once(tmp_path):
    path = tmp_path / "activations.ipynb"
    shutil.copyfile(SOURCES["01-activations"][0], path)
    nb = nbfacts.read(path)
    nb.cells = [c for c in nb.cells if nbfacts.grade_id(c) != rules_text.CELL_ID]
    import nbformat

    nbformat.write(nb, str(path))
    assert write_rules(path, exercise("01-activations")) is True
    cells = nbfacts.read(path).cells
    assert nbfacts.grade_id(cells[1]) == rules_text.CELL_ID and cells[1].source == exercise("01-activations").markdown()
    assert write_rules(path, exercise("01-activations")) is False


def test_no_check_or_chapter_module_imports_the_referee_or_the_grader():
    """The checks talk to the student's side through checks.side.Side; the referee implements it."""
    import ast

    found = []
    for folder in ("checks", "chapters"):
        for path in sorted((REPO_ROOT / "autograder" / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names] if isinstance(node, ast.Import) else []
                found += [f"{folder}/{path.name}: {n}" for n in names if "referee" in n or "grading" in n]
    assert found == []
