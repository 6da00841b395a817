"""Shared helpers for end-to-end tests with real nbgrader, through the instructor's command.

A simulated student starts from the released exercise notebook (what students get) and
fills every solution cell with the solution's code (markers stripped), optionally with a
deliberate bug: ``bugs={"relu_solution": ("x > 0", "x >= 0")}`` replaces text in the
cell with that grade_id, ``answers`` gives a cell's whole code, :func:`add_cell` adds a
cell of the student's own. :func:`grade_batch` grades submissions with ``python -m
autograder grade`` (nbgrader as the engine, answer cells in the sandboxed kernel, tests in
the referee) and returns each row (status, note, per-cell scores, messages);
:func:`assert_grading` checks a chapter's classic mistakes in the batch of its corpora.
:func:`validate_batch` runs ``nbgrader validate``'s own Validator over many notebooks.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import os

import pytest

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.course import CellScore


def _sandbox_missing() -> str:
    from autograder.grading.sandbox import bwrap_path

    if bwrap_path() is None:
        return "bubblewrap is missing (scripts/system-packages.sh installs it as root)"
    if os.geteuid() != 0:
        return "the kernels' own user (and so the per-sandbox process limit) needs the grader to run as root"
    return ""


#: For tests of what the sandbox guarantees: skipped, with the reason, where it cannot run.
needs_sandbox = pytest.mark.skipif(bool(_sandbox_missing()), reason=_sandbox_missing() or "sandbox available")



def _cells_by_id(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c.get("metadata", {})}


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def apply_edits(code: str, edits: tuple[str, str] | list[tuple[str, str]], grade_id: str) -> str:
    """``code`` with each ``(old, new)`` replacement applied in order; raises if ``old`` is absent."""
    for old, new in [edits] if isinstance(edits, tuple) else edits:
        if old not in code:
            raise ValueError(f"bug text {old!r} not found in cell {grade_id}")
        code = code.replace(old, new)
    return code


def student_notebook(
    assignment: str, notebook: str, out: Path, *, bugs: dict[str, tuple[str, str] | list[tuple[str, str]]] | None = None,
    blank: bool = False, answers: dict[str, str] | None = None,
) -> Path:
    """Write a student's submission for ``exercises/<assignment>/<notebook>`` to ``out``.

    ``blank``: hand in the exercise untouched. Otherwise every solution cell holds the
    solution code, or the code ``answers`` gives for its grade_id (the student's own);
    ``bugs`` maps a solution cell's grade_id to an ``(old, new)`` text replacement, or a
    list of them, applied in order to that code (each must happen, or this raises).
    """
    exercise = json.loads((REPO_ROOT / "exercises" / assignment / notebook).read_text())
    if not blank:
        solved = nbfacts.solutions(nbfacts.read(REPO_ROOT / "solutions" / assignment / notebook))
        for grade_id, cell in _cells_by_id(exercise).items():
            if not cell["metadata"]["nbgrader"].get("solution"):
                continue
            code = (answers or {}).get(grade_id, solved[grade_id])
            if bugs and grade_id in bugs:
                code = apply_edits(code, bugs[grade_id], grade_id)
            cell["source"] = code
        unknown = (set(bugs or {}) | set(answers or {})) - set(_cells_by_id(exercise))
        if unknown:
            raise ValueError(f"no such cells: {sorted(unknown)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(exercise, indent=1))
    return out


#: Chapter 1's classic ReLU mistake (its derivative at exactly 0): loses ``test_relu_derivative`` only.
RELU_AT_ZERO = {"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")}


def solution_class(folder: Path, n: int) -> list[Path]:
    """``n`` chapter 1 submissions in nbgrader's layout under ``folder`` (students ``s000``,
    ``s001``...): the solution, every tenth with :data:`RELU_AT_ZERO`. What the grading
    benchmarks grade."""
    return [student_notebook("01-activations", "activations.ipynb", folder / f"s{i:03d}" / "activations.ipynb",
                             bugs=RELU_AT_ZERO if i % 10 == 9 else None) for i in range(n)]


def add_cell(path: Path, code: str, before: str | None = None) -> None:
    """Add a code cell of the student's own (no nbgrader metadata) to the notebook at ``path``,
    before the cell with grade_id ``before`` (None: before the first solution cell)."""
    nb = json.loads(path.read_text())
    at = next(i for i, c in enumerate(nb["cells"]) if (c["metadata"].get("nbgrader", {}).get("grade_id") == before
                                                       if before else c["metadata"].get("nbgrader", {}).get("solution")))
    cell = {"cell_type": "code", "metadata": {}, "source": code, "outputs": [], "execution_count": None}
    if (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5):
        cell["id"] = uuid.uuid4().hex[:8]  # what Jupyter gives a new cell
    nb["cells"].insert(at, cell)
    path.write_text(json.dumps(nb))


@dataclass
class Graded:
    """One student's row as ``grade`` wrote it: status, note, per-cell scores, and the message
    of each test that did not earn full points (from ``results/<student>.json``)."""

    status: str
    note: str
    scores: dict[str, CellScore]
    messages: dict[str, str]


def grade_batch(root: Path, assignment: str, submissions: dict[str, Path], *extra: str) -> dict[str, Graded]:
    """Grade ``{student: notebook path}`` for ``assignment`` with ``python -m autograder grade``
    (output under ``root/out``); return each student's row (:class:`Graded`)."""
    from autograder.grading.answer import Answer

    inbox = root / "inbox"
    for student, path in submissions.items():
        dest = inbox / student / assignment / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
    out = root / "out"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(inbox), "--assignment", assignment,
                           "--out", str(out), "--workers", "2", "--no-similarity", *extra],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    max_scores = {g: m for p in sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))
                  for g, m in nbfacts.max_scores(nbfacts.read(p)).items()}
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    graded = {}
    for s in submissions:
        result = out / "results" / f"{s}.json"
        tests = Answer.from_json(json.loads(result.read_text())["answer"]).tests if result.exists() else {}
        graded[s] = Graded(rows[s]["status"], rows[s]["note"],
                           {g: CellScore(g, float(rows[s][g]), m) for g, m in max_scores.items()},
                           {g: t.message for g, t in tests.items() if t.score < t.max_score})
    return graded


_VALIDATE = (
    "import json, sys\n"
    "from nbgrader.validator import Validator\n"
    "validator = Validator()\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n"
    "        found = validator.validate(path)\n"
    "    except Exception as err:\n"
    "        found = {'error': f'{type(err).__name__}: {err}'}\n"
    "    print(json.dumps([path, found]), flush=True)\n"
)


def validate_batch(paths: list[Path], workers: int = 2) -> dict[Path, dict]:
    """What ``nbgrader validate`` finds in each notebook (its own Validator, the same code path):
    ``{path: {}}`` when it passes, else ``{"failed": [...]}`` (or ``"changed"``, ``"type_changed"``)
    with each cell's ``source`` and ``raw_error``, or ``{"error": ...}`` when validate raised.
    ``workers`` processes share the notebooks, each validating its share one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    def run(share: list[str]) -> str:
        done = subprocess.run([sys.executable, "-c", _VALIDATE, *share], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=1800)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    shares = [share for share in ([str(p) for p in paths[i::workers]] for i in range(workers)) if share]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outputs = list(pool.map(run, shares))
    found: dict[Path, dict] = {}
    for line in "\n".join(outputs).splitlines():
        if line.startswith('["'):
            path, result = json.loads(line)
            found[Path(path)] = result
    return found


@dataclass
class FeedbackPage:
    """What one feedback page shows: the failed tests' messages (as the page prints them) and
    whether the graded notebook is there (its cells, not a note saying it was left out)."""

    failures: dict[str, str]
    cells: list[str]
    notebook_shown: bool
    text: str


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.row: list[str] | None = None
        self.row_class = ""
        self.cell_text: list[str] = []
        self.in_td = False
        self.failures: dict[str, str] = {}
        self.cells: list[str] = []
        self.warning = False
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.row, self.row_class = [], attrs.get("class", "")
        elif tag == "td" and self.row is not None:
            self.in_td, self.cell_text = True, []
        elif tag == "div" and "cell" in (attrs.get("class") or "").split():
            self.cells.append(attrs.get("id", ""))
        elif tag == "p" and "warning" in (attrs.get("class") or ""):
            self.warning = True

    def handle_endtag(self, tag):
        if tag == "td" and self.row is not None:
            self.row.append("".join(self.cell_text))
            self.in_td = False
        elif tag == "tr" and self.row is not None:
            if self.row_class == "fail" and len(self.row) == 3:
                self.failures[self.row[0].strip()] = self.row[2]
            self.row = None

    def handle_data(self, data):
        self.texts.append(data)
        if self.in_td:
            self.cell_text.append(data)


def feedback_page(out: Path, student: str, notebook: str) -> FeedbackPage:
    """The feedback page ``grade`` wrote for ``student``'s ``notebook`` (``activations.ipynb``)."""
    parser = _PageParser()
    parser.feed((out / "feedback" / student / f"{Path(notebook).stem}.html").read_text(encoding="utf-8"))
    return FeedbackPage(parser.failures, parser.cells, bool(parser.cells) and not parser.warning,
                        "".join(parser.texts))


def lost(scores: dict[str, CellScore]) -> set[str]:
    """The grade_ids of cells that did not earn full points."""
    return {gid for gid, s in scores.items() if s.score < s.max_score}


def assert_grading(grades, assignment: str, notebook: str, all_cells: set[str],
                   bugs: dict[str, tuple[dict, set[str] | dict[str, tuple[str, ...]]]]) -> None:
    """One nbgrader run over a solution, a blank exercise and one submission per classic
    mistake: the solution earns every point of exactly ``all_cells``, the blank earns none
    (and grading does not crash), and each mistake ``name: (cell edits, targeted cells)``
    loses exactly its targeted cells. ``grades``: the session's ``corpus_grades``
    (:class:`corpus.batches.CorpusGrades`), which grades these with the assignment's corpora
    in one batch.

    The feedback pages of that same run: every mistake's page shows the graded notebook
    (its answer cells as handed in, every test cell), and when ``targeted`` maps each cell to
    words, the message of that failed test holds every one of them (the function or method,
    the output at fault, the error...)."""
    def builder(edits=None, blank=False):
        return lambda name: lambda folder: student_notebook(assignment, notebook, folder / name / notebook,
                                                            bugs=edits, blank=blank)

    named = {"solution": builder(), "blank": builder(blank=True)} | {n: builder(e) for n, (e, _) in bugs.items()}
    rows = grades.graded(assignment, {f"mistake-{n}": make(f"mistake-{n}") for n, make in named.items()})
    scores = {n: rows[f"mistake-{n}"].scores for n in named}

    assert set(scores["solution"]) == all_cells
    assert lost(scores["solution"]) == set(), scores["solution"]
    assert all(s.score == 0 for s in scores["blank"].values()), scores["blank"]
    problems = []
    for name, (edits, targeted) in bugs.items():
        if lost(scores[name]) != set(targeted):
            problems.append(f"{name}: lost {sorted(lost(scores[name]))}, expected {sorted(targeted)}")
        page = feedback_page(grades.out(assignment, f"mistake-{name}"), f"mistake-{name}", notebook)
        if not page.notebook_shown or {f"cell-{g}" for g in all_cells} - set(page.cells):
            problems.append(f"{name}: the feedback page does not show the graded notebook")
        for old, new in [e for cell_edits in edits.values() for e in ([cell_edits] if isinstance(cell_edits, tuple)
                                                                        else cell_edits)]:
            if new.strip() and new.strip().splitlines()[0].strip() not in page.text:
                problems.append(f"{name}: the page does not show the answer as handed in ({new.strip()[:40]!r})")
        for cell, words in (targeted.items() if isinstance(targeted, dict) else []):
            message = page.failures.get(cell, "")
            missing = [w for w in words if w not in message]
            if missing:
                problems.append(f"{name}: the message of {cell} lacks {missing}:\n{message}")
    assert not problems, "\n".join(problems)
