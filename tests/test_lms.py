"""The LMS gradebook files, parsed back the way each LMS's importer reads them: one row
per student whatever the status, the total ``grades.csv`` shows, each student under the
roster's LMS id; a student missing from the roster keeps a row and is named loudly; a bad
roster is refused, by the command before any grading."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from autograder.grading.answer import Answer, Status
from autograder.grading.answer import TestResult as CellResult
from autograder.grading.lms import RosterError, describe, read_roster, write_lms
from autograder.grading.report import write_csv

A = "01-activations"
MAX = {"test_step": 1.0, "test_sigmoid": 2.0, "test_tanh": 2.0, "test_relu": 1.5}


def answer(student: str, status: Status, lost: tuple[str, ...] = ()) -> Answer:
    if not status.ran:
        return Answer.not_run(student, status, "invalid JSON", MAX)
    return Answer(student, status, {g: CellResult(g, passed=g not in lost, score=0.0 if g in lost else m, max_score=m,
                                             message="failed" if g in lost else "")
                                    for g, m in MAX.items()})


@pytest.fixture
def answers() -> list[Answer]:
    return [answer("doejane", Status.GRADED), answer("Jane-Roe", Status.FLAGGED, ("test_relu",)),
            answer("kim", Status.TIMEOUT, ("test_tanh", "test_relu")), answer("lee", Status.UNREADABLE),
            answer("max", Status.CRASHED, tuple(MAX))]


EXPECTED = {"doejane": "6.5", "Jane-Roe": "5", "kim": "3", "lee": "0", "max": "0"}


@pytest.fixture
def roster(tmp_path) -> Path:
    path = tmp_path / "roster.csv"
    # Excel writes a BOM; the identifier "Jane Roe" is made safe as the grader makes folder names.
    path.write_text("\ufeffIdentifier,Name,Email,LMS id\n"
                    "doejane,Jane Doe,jdoe@uni.example,1001\n"
                    "Jane Roe,Jane Roe,jroe@uni.example,1002\n"
                    "kim,Kim Park,kpark@uni.example,1003\n"
                    "lee,Lee Chan,lchan@uni.example,1004\n"
                    "max,Max Mold,mmold@uni.example,1005\n"
                    "nia,Nia Obi,nobi@uni.example,1006\n", encoding="utf-8")
    return path


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def grades_csv_totals(tmp_path: Path, answers: list[Answer]) -> dict[str, str]:
    write_csv(tmp_path / "grades.csv", answers, list(MAX))
    with open(tmp_path / "grades.csv", newline="") as f:
        return {r["student"]: r["total"] for r in csv.DictReader(f)}


def test_canvas_file_has_canvas_headers_points_possible_and_one_row_per_student(tmp_path, answers, roster):
    export = write_lms("canvas", tmp_path, A, answers, read_roster(roster))
    rows = rows_of(export.path)
    # Canvas's GradebookImporter: "Student" then "ID", SIS columns, "Section" last, then assignments.
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "6.5"
    by_id = {r[1]: r for r in rows[2:]}
    assert len(rows[2:]) == len(by_id) == len(answers)
    ids = {"doejane": "1001", "Jane-Roe": "1002", "kim": "1003", "lee": "1004", "max": "1005"}
    assert {by_id[ids[s]][-1] for s in ids} == set(EXPECTED.values())
    for student, lms_id in ids.items():
        assert by_id[lms_id][-1] == EXPECTED[student] == grades_csv_totals(tmp_path, answers)[student]
    assert by_id["1002"][0] == "Jane Roe"
    assert export.missing == [] and export.absent == ["nia"]


def test_moodle_file_is_keyed_by_id_number_with_one_row_per_student(tmp_path, answers, roster):
    export = write_lms("moodle", tmp_path, A, answers, read_roster(roster))
    rows = rows_of(export.path)
    assert rows[0] == ["ID number", "Email address", "Full name", A]
    table = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert len(rows) - 1 == len(table) == len(answers)
    assert table["1003"] == {"ID number": "1003", "Email address": "kpark@uni.example", "Full name": "Kim Park", A: "3"}
    totals = grades_csv_totals(tmp_path, answers)
    emails = {"doejane": "jdoe@uni.example", "Jane-Roe": "jroe@uni.example", "kim": "kpark@uni.example",
              "lee": "lchan@uni.example", "max": "mmold@uni.example"}
    by_email = {r["Email address"]: r[A] for r in table.values()}
    assert {s: by_email[e] for s, e in emails.items()} == EXPECTED == totals


def test_a_student_missing_from_the_roster_keeps_a_row_and_is_named(tmp_path, answers, roster):
    entries = read_roster(roster)
    del entries["kim"]
    for kind in ("canvas", "moodle"):
        export = write_lms(kind, tmp_path, A, answers, entries)
        assert export.missing == ["kim"]
        rows = rows_of(export.path)
        assert any("kim" in r and r[-1] == "3" for r in rows), rows
        message = "\n".join(describe(export, roster))
        assert "1 student(s) have no entry in" in message and "kim" in message


def test_without_a_roster_the_grader_ids_are_the_lms_ids(tmp_path, answers):
    export = write_lms("moodle", tmp_path, A, answers, None)
    assert [r[0] for r in rows_of(export.path)[1:]] == sorted(EXPECTED)
    assert export.missing == []
    assert "no --roster" in "\n".join(describe(export, None))


@pytest.mark.parametrize("text, problem", [
    ("student,name,email,lms_id\nkim,Kim,k@x,1\n", "must name the columns identifier, name, email, lms_id"),
    ("identifier,name,email,lms_id\nkim,Kim,k@x,1\nkim,Kim P,k2@x,2\n", "line 3: identifier 'kim' is on the roster twice"),
    ("identifier,name,email,lms_id\nkim,Kim,k@x,1\nlee,Lee,l@x,1\n", "line 3: LMS id '1' is also the id of 'kim'"),
    ("identifier,name,email,lms_id\n,Kim,k@x,1\n", "line 2: no identifier"),
    ("identifier,name,email,lms_id\nkim,Kim,,\n", "line 2: neither an LMS id nor an email"),
    ("", "the roster is empty"),
])
def test_a_bad_roster_is_refused_with_where_and_why(tmp_path, text, problem):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=problem.replace("(", r"\(")):
        read_roster(path)


def test_the_grade_command_refuses_a_bad_roster_before_grading(tmp_path, capsys):
    from autograder.__main__ import main

    (tmp_path / "subs").mkdir()
    bad = tmp_path / "roster.csv"
    bad.write_text("who,what\n")
    with pytest.raises(SystemExit) as stop:
        main(["grade", str(tmp_path / "subs"), "--assignment", A, "--out", str(tmp_path / "out"),
              "--lms", "canvas", "--roster", str(bad)])
    assert stop.value.code == 2
    assert "--roster" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
