"""A private nbgrader course directory: sources in, submissions in, scores out.

Used by the project's end-to-end tests and as the base of the instructor's grader.
The course folder is never inside the repo: student data stays out of it.

Layout (nbgrader's)::

    root/nbgrader_config.py
    root/source/<assignment>/<notebook>.ipynb        copied from solutions/
    root/submitted/<student>/<assignment>/...        what students handed in
    root/autograded/..., root/feedback/...            written by nbgrader
    root/gradebook.db
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import REPO_ROOT
from .tools import run_tool

CONFIG_TEMPLATE = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///" + {db!r}
c.ExecutePreprocessor.timeout = {timeout}
c.Execute.timeout = {timeout}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
"""


@dataclass(frozen=True)
class CellScore:
    """One graded cell of one submission: its nbgrader id, points earned, points possible."""

    grade_id: str
    score: float
    max_score: float


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds its output."""


class Course:
    """An nbgrader course folder at ``root`` (created if missing)."""

    def __init__(self, root: Path, *, timeout: int = 120):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "nbgrader_config.py").write_text(
            CONFIG_TEMPLATE.format(root=str(self.root), db=str(self.root / "gradebook.db"), timeout=timeout)
        )

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in the course; raise :class:`NbgraderError` on failure."""
        result = run_tool("nbgrader", *args, cwd=self.root)
        if result.returncode != 0:
            raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def add_source(self, assignment: str, repo: Path = REPO_ROOT) -> None:
        """Copy ``solutions/<assignment>`` in and record it in the gradebook (generate_assignment)."""
        dest = self.root / "source" / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(repo / "solutions" / assignment, dest,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self.nbgrader("generate_assignment", assignment, "--force")

    def submit(self, student: str, assignment: str, notebook: Path, name: str | None = None) -> Path:
        """Place ``notebook`` as ``student``'s submission (named ``name``, default its own name)."""
        dest_dir = self.root / "submitted" / student / assignment
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / (name or Path(notebook).name)
        shutil.copyfile(notebook, dest)
        return dest

    def autograde(self, assignment: str, student: str | None = None) -> subprocess.CompletedProcess:
        """Autograde ``assignment`` for one student (or all submitted ones)."""
        args = ["autograde", assignment, "--force"]
        if student:
            args.append(f"--student={student}")
        return self.nbgrader(*args)

    def scores(self, assignment: str, student: str) -> dict[str, CellScore]:
        """``{grade_id: CellScore}`` for every graded cell of ``student``'s submission."""
        from nbgrader.api import Gradebook

        out: dict[str, CellScore] = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            submission = gb.find_submission(assignment, student)
            for nb in submission.notebooks:
                for grade in nb.grades:
                    score = grade.manual_score if grade.manual_score is not None else grade.auto_score
                    out[grade.name] = CellScore(grade.name, float(score or 0.0), float(grade.max_score))
        return out
