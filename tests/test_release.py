"""Release pipeline: exercises/ is exactly what solutions/ generates, and leaks nothing."""
import json
import shutil

import pytest

from autograder import REPO_ROOT
from autograder.notebook import secret_lines as hidden_lines
from autograder.release import ReleaseError, assignments, leaks, lint_notebook, release

NAMES = assignments()


def test_every_assignment_has_a_released_notebook():
    assert NAMES, "no assignments in solutions/"
    for name in NAMES:
        sources = sorted(p.name for p in (REPO_ROOT / "solutions" / name).glob("*.ipynb"))
        released = sorted(p.name for p in (REPO_ROOT / "exercises" / name).glob("*.ipynb"))
        assert sources == released, name
    assert sorted(p.name for p in (REPO_ROOT / "exercises").iterdir() if p.is_dir()) == NAMES


@pytest.mark.slow
def test_committed_exercises_equal_a_fresh_generation(tmp_path):
    release(target=tmp_path)
    for name in NAMES:
        for fresh in sorted((tmp_path / name).rglob("*")):
            committed = REPO_ROOT / "exercises" / name / fresh.relative_to(tmp_path / name)
            if fresh.is_file():
                assert committed.exists(), f"{committed} missing: run `make exercises`"
                assert committed.read_bytes() == fresh.read_bytes(), f"{committed} is stale: run `make exercises`"


@pytest.mark.parametrize("name", NAMES)
def test_released_notebooks_contain_no_solution_or_hidden_test(name):
    for nb in sorted((REPO_ROOT / "solutions" / name).glob("*.ipynb")):
        source = _json(nb)
        assert hidden_lines(source), f"{nb} has no solution or hidden-test lines to protect"
        released = (REPO_ROOT / "exercises" / name / nb.name).read_text()
        assert "BEGIN SOLUTION" not in released and "BEGIN HIDDEN TESTS" not in released
        assert leaks(source, json.loads(released)) == []


@pytest.mark.parametrize("name", NAMES)
def test_solution_notebooks_pass_lint(name):
    for nb in sorted((REPO_ROOT / "solutions" / name).glob("*.ipynb")):
        assert lint_notebook(nb) == []


def _json(path) -> dict:
    """A notebook file as the plain JSON an editor would change."""
    return json.loads(path.read_text(encoding="utf-8"))


def _broken_copy(tmp_path, edit) -> str:
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "solutions" / "01-activations", repo / "solutions" / "01-activations")
    path = repo / "solutions" / "01-activations" / "activations.ipynb"
    nb = _json(path)
    edit(nb)
    path.write_text(json.dumps(nb))
    return "\n".join(lint_notebook(path))


def _test_cell(nb):
    return next(c for c in nb["cells"] if c["metadata"]["nbgrader"].get("grade"))


def test_lint_catches_outputs_unlocked_tests_and_tests_without_points(tmp_path):
    def add_output(nb):
        _test_cell(nb)["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]

    def unlock(nb):
        _test_cell(nb)["metadata"]["nbgrader"]["locked"] = False

    def no_points(nb):
        _test_cell(nb)["metadata"]["nbgrader"]["points"] = 0

    assert "has outputs" in _broken_copy(tmp_path / "a", add_output)
    assert "not locked" in _broken_copy(tmp_path / "b", unlock)
    assert "no points" in _broken_copy(tmp_path / "c", no_points)


def test_release_refuses_a_source_that_fails_lint(tmp_path):
    def unlock(nb):
        _test_cell(nb)["metadata"]["nbgrader"]["locked"] = False

    _broken_copy(tmp_path, unlock)
    with pytest.raises(ReleaseError, match="not locked"):
        release(repo=tmp_path / "repo", target=tmp_path / "out")


def test_leak_detection_finds_solution_lines_and_markers():
    source = _json(REPO_ROOT / "solutions" / "01-activations" / "activations.ipynb")
    leaked = json.loads(json.dumps(source))  # the source itself "released" unchanged
    found = leaks(source, leaked)
    assert any("BEGIN SOLUTION" in f for f in found)
    assert any("z = torch.exp(-x.abs())" in f for f in found)
    assert any("check_forward(sigmoid, torch.sigmoid" in f for f in found)


def test_release_rejects_unknown_assignment(tmp_path):
    with pytest.raises(ReleaseError, match="no such assignment"):
        release(names=["99-nothing"], target=tmp_path)
