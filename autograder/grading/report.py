"""The batch's reports: ``grades.csv``, the summary printed at the end, ``summary.html``,
and the hook that also writes the similarity report and the LMS file (:func:`finish_reports`).

``summary.html`` is what an instructor opens first: students per status and pass rate per
test as tables beside their plots, the most common failures (grouped by their ``Hint:``
line, counted in students), the students the static check flagged with the lines it
quoted, the students who could not be graded, and the similarity count with a link.
"""
from __future__ import annotations

import base64
import csv
import io
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .answer import Answer, Status
from .options import ReportOptions

#: How many failure groups ``summary.html`` lists.
TOP_FAILURES = 15
#: One line per status for the summary page.
STATUS_HELP = {
    Status.GRADED: "scored",
    Status.FLAGGED: "scored; the static check quoted lines to review (below)",
    Status.TIMEOUT: "a cell or the notebook ran past its time limit",
    Status.MEMORY_LIMIT: "the kernel ran out of its memory limit",
    Status.CRASHED: "the kernel died or could not be run",
    Status.UNREADABLE: "empty, invalid JSON or not a notebook",
    Status.WRONG_ASSIGNMENT: "none of this assignment's test cells",
    Status.METADATA_STRIPPED: "nbgrader's cell metadata is gone",
    Status.MISSING_NOTEBOOK: "no notebook of this assignment handed in",
}


def write_csv(path: Path, answers: list[Answer], grade_ids: list[str]) -> None:
    """``grades.csv``: ``student, status, <one column per test>, total, max, note``, one row
    per answer sorted by student, points formatted with ``:g``."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["student", "status", *grade_ids, "total", "max", "note"])
        for a in sorted(answers, key=lambda a: a.student):
            scores = [f"{a.tests[g].score:g}" if g in a.tests else "0" for g in grade_ids]
            writer.writerow([a.student, a.status.value, *scores, f"{a.total:g}", f"{a.max_total:g}", a.note])


def status_counts(answers: list[Answer]) -> list[tuple[Status, int]]:
    """``(status, students)`` for every status present, in display order."""
    counts = Counter(a.status for a in answers)
    return [(s, counts[s]) for s in Status.order() if counts[s]]


def pass_counts(answers: list[Answer], grade_ids: list[str]) -> list[tuple[str, int, int]]:
    """``(test, students who passed it, students whose notebook ran)`` per test."""
    ran = [a for a in answers if a.status.ran]
    return [(g, sum(1 for a in ran if g in a.tests and a.tests[g].passed), len(ran)) for g in grade_ids]


def summary_text(answers: list[Answer], grade_ids: list[str]) -> str:
    """The summary printed at the end of a run: students per status, pass rate per test,
    mean total."""
    lines = [f"{'status':<20} students"]
    lines += [f"{status.value:<20} {count}" for status, count in status_counts(answers)]
    ran = sum(1 for a in answers if a.status.ran)
    lines += ["", f"{'test':<28} passed (of {ran} whose notebook ran)"]
    for gid, passed, n in pass_counts(answers, grade_ids):
        lines.append(f"{gid:<28} {passed}/{n} ({100 * passed / max(n, 1):.0f}%)")
    max_total = max((a.max_total for a in answers), default=0.0)
    mean = sum(a.total for a in answers) / max(len(answers), 1)
    lines.append(f"\nmean total {mean:.2f} / {max_total:g} over {len(answers)} students")
    return "\n".join(lines)


@dataclass
class Failure:
    """A kind of failure: its hint (or masked first line), the students it affects, the
    tests it appeared in and one full message as an example."""

    text: str
    students: set[str] = field(default_factory=set)
    tests: list[str] = field(default_factory=list)
    example: str = ""


_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", re.I)


def failure_key(message: str) -> str:
    """What groups failures: the message's line starting with ``Hint:``, else its first
    line with every number masked as ``#``."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    hint = next((line for line in lines if line.startswith("Hint:")), None)
    return hint or _NUMBER.sub("#", lines[0] if lines else message)


def common_failures(answers: list[Answer], grade_ids: list[str], top: int = TOP_FAILURES) -> list[Failure]:
    """The most common failures of notebooks that ran, counted in students (a student
    failing three tests for one reason counts once); each group's tests in ``grade_ids`` order."""
    groups: dict[str, Failure] = {}
    for a in answers:
        if not a.status.ran:
            continue
        for test in a.tests.values():
            if test.passed or not test.message:
                continue
            group = groups.setdefault(failure_key(test.message), Failure(failure_key(test.message), example=test.message))
            group.students.add(a.student)
            if test.grade_id not in group.tests:
                group.tests.append(test.grade_id)
    order = {g: i for i, g in enumerate(grade_ids)}
    for group in groups.values():
        group.tests.sort(key=lambda g: order.get(g, len(order)))
    return sorted(groups.values(), key=lambda g: (-len(g.students), g.text))[:top]


def _figure_png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode()


def plots(answers: list[Answer], grade_ids: list[str]) -> dict[str, str]:
    """Base64 PNGs: ``pass_rate`` (per test, of students whose notebook ran) and ``scores``
    (histogram of totals)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    counts = pass_counts(answers, grade_ids)
    fig, ax = plt.subplots(figsize=(5.6, 0.32 * len(grade_ids) + 1.1))
    ax.barh([g for g, _, _ in counts][::-1], [100 * p / max(n, 1) for _, p, n in counts][::-1], color="#4a7")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (% of those whose notebook ran)")
    fig.tight_layout()
    out["pass_rate"] = _figure_png(fig)
    plt.close(fig)
    max_total = max((a.max_total for a in answers), default=0.0)
    fig, ax = plt.subplots(figsize=(5.6, 2.8))
    ax.hist([a.total for a in answers], bins=max(1, int(max_total) + 1), range=(-0.5, max_total + 0.5), color="#47a")
    ax.set_xlabel(f"total (of {max_total:g})")
    ax.set_ylabel("students")
    fig.tight_layout()
    out["scores"] = _figure_png(fig)
    plt.close(fig)
    return out


def write_summary(path: Path, assignment: str, answers: list[Answer], grade_ids: list[str], sandboxed: bool,
                  similarity=None, similarity_failed: str = "") -> None:
    """``summary.html``: what an instructor opens first (fits a 1280-px window).
    ``similarity``: the :class:`.similarity.SimilarityReport`, or None when it was skipped
    (or failed: ``similarity_failed`` says why)."""
    from .templates import render

    by_name = sorted(answers, key=lambda a: a.student)
    page = render(
        "summary.html.j2", assignment=assignment, students=len(answers), sandboxed=sandboxed,
        statuses=status_counts(answers), status_help=STATUS_HELP, passes=pass_counts(answers, grade_ids),
        plots=plots(answers, grade_ids), failures=common_failures(answers, grade_ids),
        max_total=max((a.max_total for a in answers), default=0.0),
        mean=sum(a.total for a in answers) / max(len(answers), 1), ran=sum(1 for a in answers if a.status.ran),
        flagged=[a for a in by_name if a.status is Status.FLAGGED],
        problems=[a for a in by_name if a.status not in (Status.GRADED, Status.FLAGGED)],
        similarity=similarity, similarity_failed=similarity_failed,
        similarity_link=similarity.html_path.name if similarity else None,
    )
    path.write_text(page, encoding="utf-8")


def finish_reports(options: ReportOptions, out: Path, assignment: str, answers: list[Answer], grade_ids: list[str],
                   codes: dict[str, str], boilerplate: str, sandboxed: bool):
    """Write ``grades.csv``, the similarity report (unless ``options.similarity`` is off),
    ``summary.html`` and the ``options.lms`` file; say on stderr who is missing from the roster.
    Returns the :class:`.lms.LmsExport` (or None without ``lms``)."""
    from .lms import describe, write_lms
    from .similarity import find_similar

    write_csv(out / "grades.csv", answers, grade_ids)
    similarity, failed = None, ""
    if options.similarity:
        try:
            similarity = find_similar(out, assignment, codes, boilerplate, options.similarity_threshold)
            print(f"similarity: {len(similarity.pairs)} pair(s) at or above {similarity.threshold:g} "
                  f"among {similarity.students} students: {similarity.html_path}", file=sys.stderr)
        except Exception as err:  # noqa: BLE001 - evidence for a person; the grades are written regardless
            failed = f"{type(err).__name__}: {err}"
            print(f"!! similarity report failed ({failed}); grades and summary are written", file=sys.stderr)
    write_summary(out / "summary.html", assignment, answers, grade_ids, sandboxed, similarity, failed)
    export = None
    if options.roster and not options.lms:
        print("note: --roster is used only with --lms: no LMS file written", file=sys.stderr)
    if options.lms:
        roster = options.roster
        export = write_lms(options.lms, out, assignment, answers, roster.entries if roster else None)
        for line in describe(export, roster.path if roster else None):
            print(line, file=sys.stderr)
    return export
