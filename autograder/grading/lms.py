"""Grades as a file the LMS's gradebook import accepts: ``grade --lms canvas|moodle``.

One row per graded student, whatever the status, with the total ``grades.csv`` shows.
The LMS needs its own id for each student: a roster (``--roster FILE``, CSV with the
columns ``identifier, name, email, lms_id``) maps the grader's student id (the folder
name, or the text before the first ``_`` of an LMS-export file name, made safe as
:func:`.intake.student_id` does) to it. A student missing from the roster keeps a row,
with the grader's id in the LMS id column, and is listed loudly. Without a roster the
grader's ids are the LMS ids.

Formats, from each LMS's own importer:

* Canvas (``canvas-grades.csv``): the gradebook CSV as Canvas exports it, header
  ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>`` and a
  ``Points Possible`` row under it. Canvas's ``GradebookImporter``
  (instructure/canvas-lms, ``app/models/gradebook_importer.rb``) requires the first two
  headers to name the student and the ID, the last student column to be ``Section``,
  finds each student by ``ID`` (the Canvas user id) first, then SIS ids, then name, and
  reads the assignment's points from the ``Points Possible`` row; an assignment column
  whose title matches no assignment creates one.
* Moodle (``moodle-grades.csv``): Moodle's CSV grade import (Grades > Import > CSV file;
  docs.moodle.org "Grade import"): any columns, one of which the teacher maps to a user
  field (``useridnumber``, ``useremail``, ``username`` or ``userid``), the others to grade
  items. We write ``ID number`` (the roster's LMS id), ``Email address``, ``Full name`` and
  the assignment's points. Moodle aborts the whole import on a row whose user it cannot
  find (``grade/import/csv/classes/load_data.php``), so fix the roster first.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .answer import Answer

KINDS = ("canvas", "moodle")
ROSTER_COLUMNS = ("identifier", "name", "email", "lms_id")
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_STUDENT_COLUMNS = ["ID number", "Email address", "Full name"]


class RosterError(ValueError):
    """The roster file cannot be used (the message says where and why)."""


@dataclass(frozen=True)
class RosterEntry:
    """One roster line: the grader's student id, and what the LMS knows the student by."""

    identifier: str
    name: str
    email: str
    lms_id: str


@dataclass
class LmsExport:
    """What :func:`write_lms` wrote: the file, the students it found no roster entry for
    (their rows carry the grader's id), and roster students who handed in nothing (no row)."""

    kind: str
    path: Path
    missing: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def points(answer: Answer) -> str:
    """The total as ``grades.csv`` writes it."""
    return f"{answer.total:g}"


def _header(row: list[str], path: Path) -> dict[str, int]:
    names = [h.strip().lower().replace(" ", "_") for h in row]
    found = {col: names.index(col) for col in ROSTER_COLUMNS if col in names}
    if len(found) != len(ROSTER_COLUMNS):
        raise RosterError(f"{path}: the first row must name the columns {', '.join(ROSTER_COLUMNS)} "
                          f"(in any order); it has {', '.join(row) or 'nothing'}")
    return found


def read_roster(path: Path) -> dict[str, RosterEntry]:
    """``{grader's student id: entry}`` from a roster CSV (a header row naming
    ``identifier, name, email, lms_id``, any order; UTF-8, a BOM allowed)."""
    from .intake import student_id

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RosterError(f"{path}: cannot read the roster ({err})") from err
    if not rows:
        raise RosterError(f"{path}: the roster is empty")
    cols, roster, owners = _header(rows[0], path), {}, {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(rows[0]):
            raise RosterError(f"{path}, line {line}: {len(row)} columns, the header has {len(rows[0])}")
        cell = {col: row[i].strip() for col, i in cols.items()}
        if not cell["identifier"]:
            raise RosterError(f"{path}, line {line}: no identifier")
        if not (cell["lms_id"] or cell["email"]):
            raise RosterError(f"{path}, line {line}: neither an LMS id nor an email for {cell['identifier']!r}")
        key = student_id(cell["identifier"])
        if key in roster:
            raise RosterError(f"{path}, line {line}: identifier {cell['identifier']!r} is on the roster twice")
        if cell["lms_id"] and cell["lms_id"] in owners:
            raise RosterError(f"{path}, line {line}: LMS id {cell['lms_id']!r} is also the id of {owners[cell['lms_id']]!r}")
        owners[cell["lms_id"]] = cell["identifier"]
        roster[key] = RosterEntry(key, cell["name"], cell["email"], cell["lms_id"])
    return roster


def _entry(student: str, roster: dict[str, RosterEntry] | None) -> RosterEntry | None:
    if roster is None:
        return RosterEntry(student, student, "", student)
    return roster.get(student)


def _rows(kind: str, answers: list[Answer], roster) -> tuple[list[list[str]], list[str]]:
    rows, missing = [], []
    for answer in sorted(answers, key=lambda a: a.student):
        entry = _entry(answer.student, roster)
        if entry is None:
            missing.append(answer.student)
            entry = RosterEntry(answer.student, answer.student, "", answer.student)
        if kind == "canvas":
            rows.append([entry.name or entry.identifier, entry.lms_id, "", "", "", points(answer)])
        else:
            rows.append([entry.lms_id, entry.email, entry.name or entry.identifier, points(answer)])
    return rows, missing


def write_lms(kind: str, out: Path, assignment: str, answers: list[Answer],
              roster: dict[str, RosterEntry] | None) -> LmsExport:
    """Write ``out/canvas-grades.csv`` or ``out/moodle-grades.csv``: one row per answer,
    the assignment's column holding its total (``grades.csv``'s)."""
    if kind not in KINDS:
        raise ValueError(f"unknown LMS {kind!r}: one of {', '.join(KINDS)}")
    rows, missing = _rows(kind, answers, roster)
    path = out / f"{kind}-grades.csv"
    max_total = max((a.max_total for a in answers), default=0.0)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if kind == "canvas":
            writer.writerow([*CANVAS_STUDENT_COLUMNS, assignment])
            writer.writerow(["Points Possible", "", "", "", "", f"{max_total:g}"])
        else:
            writer.writerow([*MOODLE_STUDENT_COLUMNS, assignment])
        writer.writerows(rows)
    handed_in = {a.student for a in answers}
    absent = sorted(set(roster or {}) - handed_in)
    return LmsExport(kind, path, missing, absent)


def describe(export: LmsExport, roster_path: Path | None) -> list[str]:
    """What to tell the instructor (stderr) about an export: missing students loudly."""
    lines = [f"wrote {export.path} ({export.kind} gradebook import)"]
    if roster_path is None:
        lines.append(f"note: no --roster: the grader's student ids were written as {export.kind} ids")
    if export.missing:
        lines.append(f"!! {len(export.missing)} student(s) have no entry in {roster_path}: "
                     f"{', '.join(export.missing)}")
        lines.append("!! their rows carry the grader's id in the LMS id column: add them to the roster and rerun"
                     + (" (Moodle refuses the whole file while any row's user is unknown)" if export.kind == "moodle" else ""))
    if export.absent:
        lines.append(f"note: {len(export.absent)} roster student(s) handed in nothing (no row): {', '.join(export.absent)}")
    return lines
