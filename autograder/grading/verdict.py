"""Scores and a status from an executed (autograded) notebook.

A test cell earns its points only when it has no error output and printed its own
pass token (:mod:`.inject`): an output a student could forge (no error shown because
tracebacks were silenced, a printed number read as partial credit) earns nothing, and
stderr output (a torch warning) costs nothing. Scores are all or nothing, so never above
the maximum.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .inject import END, PASS

TIMEOUT_ERRORS = {"CellTimeoutError", "TimeoutError"}
MEMORY_MARKS = ("MemoryError", "can't allocate memory", "DefaultCPUAllocator", "std::bad_alloc", "out of memory")


@dataclass
class TestResult:
    """One graded test cell: points earned of ``max_score``, and the failure message if any."""

    grade_id: str
    score: float
    max_score: float
    message: str = ""


@dataclass
class Verdict:
    """Every test cell's result, the notebook's status and a note for the instructor."""

    tests: dict[str, TestResult] = field(default_factory=dict)
    status: str = "graded"
    note: str = ""


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def error_message(output) -> str:
    """``ename: evalue`` of an error output (never its traceback: that quotes hidden test source)."""
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()


def judge(nb, tokens: dict, max_scores: dict[str, float]) -> Verdict:
    """Score ``nb`` (executed) given the tokens injected into it and ``{grade_id: max}``."""
    verdict = Verdict()
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells if c.cell_type == "code"}
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    for grade_id, max_score in max_scores.items():
        cell = cells.get(grade_id)
        if cell is None:
            verdict.tests[grade_id] = TestResult(grade_id, 0.0, max_score, "this test cell is missing from the notebook")
            continue
        outputs = cell.get("outputs", [])
        failed = [o for o in outputs if o.output_type == "error"]
        stdout = "".join(_text(o) for o in outputs if o.output_type == "stream" and o.get("name") == "stdout")
        token_line = f"{PASS} {grade_id} {tokens.get('tokens', {}).get(grade_id, '-')}"
        if failed:
            verdict.tests[grade_id] = TestResult(grade_id, 0.0, max_score, error_message(failed[0]))
        elif stdout.splitlines().count(token_line) != 1:
            verdict.tests[grade_id] = TestResult(grade_id, 0.0, max_score, "the test did not run to its end")
        else:
            verdict.tests[grade_id] = TestResult(grade_id, float(max_score), max_score)
    names = {o.get("ename") for o in errors}
    end_seen = any(f"{END} {tokens.get('end')}" in _text(o) for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.output_type == "stream")
    if "TamperingError" in names or not end_seen:
        verdict.status = "tampered"
        verdict.note = "the grading environment was changed by the notebook's code; no test counts"
        for test in verdict.tests.values():
            if test.score:
                test.score, test.message = 0.0, "not counted: the grading environment was changed by the notebook's code"
    elif names & TIMEOUT_ERRORS:
        verdict.status = "timeout"
        verdict.note = "a cell ran past the per-cell time limit"
    elif any(mark in error_message(o) for o in errors for mark in MEMORY_MARKS):
        verdict.status = "memory limit"
        verdict.note = "a cell ran out of memory (the per-kernel memory limit)"
    return verdict
