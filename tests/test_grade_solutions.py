"""Every assignment's solution earns full marks through the instructor's `grade` command
(sandbox, kernel guard and limits included), and its blank exercise earns zero: the
guard must not mistake a chapter's own checks for tampering."""
import csv
import subprocess
import sys

import pytest

from autograder import REPO_ROOT
from autograder.release import assignments
from nbgrader_e2e import student_notebook


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_solution_full_marks_and_blank_zero_through_the_grade_command(tmp_path, assignment):
    notebook = sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))[0].name
    inbox = tmp_path / "in"
    student_notebook(assignment, notebook, inbox / "alice" / assignment / notebook)
    student_notebook(assignment, notebook, inbox / "bob" / assignment / notebook, blank=True)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(inbox), "--assignment", assignment, "--out", str(out),
         "--workers", "2"], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["alice"]["status"] == "graded", rows["alice"]["note"]
    assert float(rows["alice"]["total"]) == float(rows["alice"]["max"]) > 0
    assert rows["bob"]["status"] == "graded" and float(rows["bob"]["total"]) == 0
