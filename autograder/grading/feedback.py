"""Per-student feedback pages: the scores, each failed test's message, the notebook as graded.

Never the hidden tests. A test cell is shown with the source the student received (the
source notebook's test cell, hidden blocks removed), never the restored one; every line
of every cell and output that equals a distinctive hidden-test line
(:func:`autograder.notebook.hidden_test_lines`) is replaced; and a last check over
everything the page shows refuses to let one through. When the notebook cannot be shown (it was not
handed in, or it could not be run), the page says so.
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path
from dataclasses import dataclass, field, replace

from .. import notebook as nbfacts
from .answer import Status, TestResult

MAX_OUTPUT_CHARS = 10_000
REDACTED = "[line removed: it is part of a hidden test]"


class LeakError(RuntimeError):
    """The page would show hidden test source (a bug: redaction should have removed it)."""


@dataclass
class Output:
    kind: str  # "out", "stderr", "error", "image"
    text: str


@dataclass
class Cell:
    kind: str  # "markdown", "code", "test"
    source: str
    label: str = ""
    outputs: list[Output] = field(default_factory=list)
    grade_id: str = ""  # test cells: the page's tests table links to them


def _redact(text: str, secret: set[str]) -> str:
    lines = [REDACTED if line.strip() in secret else line for line in text.splitlines()]
    text = "\n".join(lines)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n... [{len(text) - MAX_OUTPUT_CHARS} more characters cut]"
    return text


def _outputs(cell, secret: set[str]) -> list[Output]:
    out = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            text = _redact(nbfacts.source({"source": o.get("text", "")}), secret)
            if text.strip():
                out.append(Output("stderr" if o.get("name") == "stderr" else "out", text))
        elif kind == "error":
            out.append(Output("error", _redact(f"{o.get('ename', 'Error')}: {o.get('evalue', '')}", secret)))
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            png = data.get("image/png")
            if png:
                png = "".join(png) if isinstance(png, list) else str(png)
                try:
                    base64.b64decode(png, validate=False)
                    out.append(Output("image", png.strip()))
                except (binascii.Error, ValueError):
                    pass
            elif "text/plain" in data:
                out.append(Output("out", _redact(nbfacts.source({"source": data["text/plain"]}), secret)))
    return out


def cells_as_graded(graded_nb, source_nb, secret: set[str] | None = None) -> list[Cell]:
    """The graded notebook's cells as the page shows them (see the module docstring)."""
    secret = nbfacts.hidden_test_lines(source_nb) if secret is None else secret
    known = nbfacts.kinds_by_id(source_nb)
    visible = {gid: nbfacts.without_hidden(nbfacts.source(c)) for gid, c in nbfacts.test_cells(source_nb).items()}
    cells = []
    for cell in graded_nb.cells:
        kind = nbfacts.submitted_kind(cell, known)
        if kind is nbfacts.CellKind.MARKDOWN:
            cells.append(Cell("markdown", _redact(nbfacts.source(cell), secret)))
        elif kind is nbfacts.CellKind.TEST:
            gid = nbfacts.grade_id(cell)
            cells.append(Cell("test", visible.get(gid, ""), f"test cell {gid} (run by the grader)",
                              _outputs(cell, secret), grade_id=gid or ""))
        elif kind is not nbfacts.CellKind.RAW:
            label = "your answer" if kind in (nbfacts.CellKind.ANSWER, nbfacts.CellKind.EXTRA) else ""
            cells.append(Cell("code", _redact(nbfacts.source(cell), secret), label, _outputs(cell, secret)))
    return cells


def _error_types(graded_nb) -> dict[str, str]:
    """``{grade_id: exception type}`` of the test cells that failed in the graded notebook."""
    known = {}
    for cell in graded_nb.cells if graded_nb is not None else []:
        gid = nbfacts.grade_id(cell)
        for o in cell.get("outputs", []) if gid else []:
            if o.get("output_type") == "error" and o.get("ename"):
                known[gid] = str(o["ename"])
    return known


def _shown_message(test: TestResult, error_type: str, secret: set[str]) -> str:
    """A failed test's message as the page shows it: its exception's type first, unless the
    message is a check's own (a CheckFailure says everything in words) or already names it
    ("your step raised IndexError: ..."), hidden lines removed."""
    message = test.message
    first = message.splitlines()[0] if message else ""
    if error_type and error_type != "CheckFailure" and error_type not in first:
        message = f"{error_type}: {message}"
    return _redact(message, secret)


def render(student: str, assignment: str, notebook: str, graded_nb, status: Status, note: str,
           tests: dict[str, TestResult], source_nb, why_hidden: str = "") -> str:
    """The feedback page (HTML text) for one notebook of one student. ``graded_nb`` None: the
    page says why there is no notebook (``why_hidden``, or from the status).

    Everything the page shows goes through redaction first, and the leak check runs over
    exactly that: a hidden-test line anywhere in it is a bug (:class:`LeakError`)."""
    from .templates import render as render_template

    secret = nbfacts.hidden_test_lines(source_nb)
    types = _error_types(graded_nb)
    rows = [replace(t, message="" if t.passed else _shown_message(t, types.get(t.grade_id, ""), secret))
            for t in tests.values()]
    cells = cells_as_graded(graded_nb, source_nb, secret) if graded_nb is not None else None
    missing = "" if cells is not None else why_hidden or (
        f"{notebook}.ipynb was not handed in." if status is Status.MISSING_NOTEBOOK
        else "The notebook could not be run to its end, so there is nothing to show; the note above says why.")
    shown_note = _redact(note, secret)
    shown = [shown_note, *(t.message for t in rows)] + [piece for c in cells or [] for piece in
                                                        (c.source, *(o.text for o in c.outputs if o.kind != "image"))]
    leaked = {line.strip() for text in shown for line in text.splitlines()} & secret
    if leaked:
        raise LeakError(f"feedback for {student} would show {len(leaked)} hidden line(s)")
    return render_template(
        "feedback.html.j2", student=student, assignment=assignment, notebook=notebook, status=status.value,
        note=shown_note, total=sum(t.score for t in rows), most=sum(t.max_score for t in rows),
        tests=rows, cells=cells, missing_notebook=missing, failed={t.grade_id for t in rows if not t.passed})


def write_page(path: Path, student: str, assignment: str, notebook: str, graded_nb, status: Status, note: str,
               tests: dict[str, TestResult], source_nb, why_hidden: str = "") -> None:
    """Write the feedback page (:func:`render`) to ``path``. A page that would leak a hidden
    line is written without the notebook, saying so (and the log says so too), never silently."""
    import sys

    try:
        page = render(student, assignment, notebook, graded_nb, status, note, tests, source_nb, why_hidden)
    except LeakError as err:
        sys.stderr.write(f"--- {student}: {err}; the feedback page leaves the notebook out\n")
        page = render(student, assignment, notebook, None, status, note, tests, source_nb,
                      why_hidden=f"The notebook is left out of this page: {err}. Ask your instructor.")
    path.write_text(page, encoding="utf-8")
