"""Per-student feedback HTML: scores, each failed test's message, the student's notebook.

Never the hidden tests: test cells are shown as the student received them (hidden
blocks and the grader's guard lines removed), error outputs show only
``ename: evalue`` (a traceback quotes the hidden line that failed), any output line
that equals a hidden line is redacted, and a final check refuses to write a page that
still contains one of :func:`autograder.release.hidden_lines`.
"""
from __future__ import annotations

import html
import re

from ..release import _BLOCK, _source
from .inject import END, PASS
from .verdict import Verdict, error_message

MAX_OUTPUT_CHARS = 10_000
_GUARD_LINE = re.compile(r"^_ag_guard = .*\n?", re.M)


_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def hidden_test_lines(source_nb: dict) -> set[str]:
    """Distinctive lines (12+ characters) of the source's hidden test blocks, found nowhere else in it.

    Solution lines are not in it: a student's own correct code may equal them.
    """
    inside, outside = set(), set()
    for cell in source_nb["cells"]:
        text = _source(cell)
        for block in _HIDDEN.findall(text):
            inside.update(line.strip() for line in block.splitlines() if len(line.strip()) >= 12)
        outside.update(line.strip() for line in _HIDDEN.sub("", text).splitlines())
    return inside - outside


class LeakError(RuntimeError):
    """The page would show hidden test source."""


def visible_source(source: str, imports: str = "") -> str:
    """A test cell's source as the student sees it: no hidden block, no guard lines."""
    source = _GUARD_LINE.sub("", source)
    if imports and source.startswith(imports + "\n"):
        source = source[len(imports) + 1:]
    return _BLOCK.sub("", source).rstrip()


def _clean(text: str, secret: set[str]) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith((PASS, END)):
            continue
        lines.append("[hidden line removed]" if line.strip() in secret else line)
    text = "\n".join(lines)
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n... [{len(text) - MAX_OUTPUT_CHARS} more characters cut]"
    return text


def _outputs(cell, secret: set[str]) -> str:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            text = out.get("text", "")
            text = _clean("".join(text) if isinstance(text, list) else text, secret)
            if text.strip():
                parts.append(f'<pre class="{html.escape(out.get("name", ""))}">{html.escape(text)}</pre>')
        elif kind == "error":
            parts.append(f'<pre class="error">{html.escape(_clean(error_message(out), secret))}</pre>')
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                png = "".join(png) if isinstance(png, list) else png
                parts.append(f'<img alt="plot" src="data:image/png;base64,{html.escape(png.strip())}">')
            elif "text/plain" in data:
                text = data["text/plain"]
                parts.append(f"<pre>{html.escape(_clean(''.join(text) if isinstance(text, list) else text, secret))}</pre>")
    return "\n".join(parts)


STYLE = """body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f6f6f6;padding:.5em;
overflow-x:auto;white-space:pre-wrap}pre.error,pre.stderr{background:#fdd}td,th{padding:.2em .8em;text-align:left}
.fail{color:#a00}.pass{color:#070}.cell{border-left:3px solid #ccc;padding-left:.5em;margin:1em 0}"""


def render(student: str, assignment: str, notebook: str, nb, verdict: Verdict, source_nb: dict, imports: str = "") -> str:
    """The feedback page (HTML text) for one notebook of one student."""
    secret = hidden_test_lines(source_nb)
    total = sum(t.score for t in verdict.tests.values())
    most = sum(t.max_score for t in verdict.tests.values())
    rows = []
    for test in verdict.tests.values():
        cls = "pass" if test.score == test.max_score else "fail"
        rows.append(f'<tr class="{cls}"><td>{html.escape(test.grade_id)}</td><td>{test.score:g} / {test.max_score:g}</td>'
                    f"<td><pre>{html.escape(_clean(test.message, secret)) or 'passed'}</pre></td></tr>")
    body = [f"<h1>{html.escape(assignment)}: {html.escape(notebook)}</h1>",
            f"<p>Student: <b>{html.escape(student)}</b>. Status: <b>{html.escape(verdict.status)}</b>. "
            f"Score: <b>{total:g} / {most:g}</b>.</p>"]
    if verdict.note:
        body.append(f"<p>{html.escape(verdict.note)}</p>")
    body.append("<table><tr><th>test</th><th>points</th><th>message</th></tr>" + "".join(rows) + "</table>")
    body.append("<h2>Your notebook, as graded</h2>")
    for cell in nb.cells if nb is not None else []:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "code" and source.startswith("_ag_guard = ") and END in source:
            continue  # the grader's end cell
        if cell.metadata.get("nbgrader", {}).get("grade"):
            source = visible_source(source, imports)
        source = _clean(source, secret) if not cell.metadata.get("nbgrader", {}).get("solution") else source
        if cell.cell_type == "markdown":
            body.append(f'<div class="cell"><pre class="md">{html.escape(source)}</pre></div>')
        elif cell.cell_type == "code":
            body.append(f'<div class="cell"><pre class="code">{html.escape(source)}</pre>{_outputs(cell, secret)}</div>')
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback: {html.escape(assignment)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    leaked = [line for line in secret if line in html.unescape(page)]
    if leaked:
        raise LeakError(f"feedback for {student} would show {len(leaked)} hidden line(s)")
    return page
