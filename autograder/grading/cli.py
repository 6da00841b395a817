"""``python -m autograder grade SUBMISSIONS --assignment NAME --out DIR [--workers N]``.

Steps: find the submissions (:mod:`.intake`); prepare a private nbgrader course under
``DIR/course`` whose gradebook comes from ``solutions/NAME``; grade every student whose
files or the sources changed since the last run, in N sandboxed workers (:mod:`.pool`);
write ``DIR/grades.csv``, ``DIR/feedback/<student>/<notebook>.html``, ``DIR/summary.html``,
the main gradebook, and nbgrader's own export ``DIR/nbgrader-export.csv``.

``DIR`` layout::

    DIR/grades.csv  DIR/summary.html  DIR/feedback/<student>/<nb>.html
    DIR/course/     the main nbgrader course (gradebook.db)
    DIR/results/    one cached answer per student (reruns reuse them)
    DIR/work/       scratch courses of the workers, worker logs, unpacked zips
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from .. import REPO_ROOT


def add_arguments(parser) -> None:
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder per student, or a folder/zip of LMS-named notebooks")
    parser.add_argument("--assignment", required=True, help="assignment name (a folder of solutions/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (grades.csv, feedback/, summary.html)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel workers (default: cores)")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    parser.add_argument("--notebook-timeout", type=int, default=900, help="wall-clock seconds per submission (default 900)")
    parser.add_argument("--memory-mb", type=int, default=6144, help="address-space limit per kernel in MiB (default 6144)")
    parser.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (not recommended)")
    from .report import add_report_arguments

    add_report_arguments(parser)


class Progress:
    """A one-line progress bar with an ETA, on stderr."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.monotonic()

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                         f"elapsed {elapsed:4.0f}s ETA {eta:4.0f}s  {label[:30]:<30}")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def source_digest(sources: list[Path]) -> str:
    """Hash of the assignment's source notebooks and the course package (a change regrades everyone)."""
    from .merge import digest

    return digest(sources + sorted((REPO_ROOT / "autograder").rglob("*.py")))


def _prepare_course(out: Path, assignment: str, source_hash: str) -> Path:
    """``out/course`` with the assignment's gradebook (regenerated when the sources changed)."""
    from ..course import Course

    course = out / "course"
    stamp = course / ".source-hash"
    if not (stamp.exists() and stamp.read_text() == source_hash and (course / "gradebook.db").exists()):
        shutil.rmtree(course, ignore_errors=True)
        Course(course).add_source(assignment)
        stamp.write_text(source_hash)
    return course


def _max_scores(source_notebooks: list[Path]) -> dict[str, dict[str, float]]:
    out = {}
    for path in source_notebooks:
        nb = json.loads(path.read_text())
        out[path.stem] = {c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"].get("points", 0))
                          for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")
                          and not c["metadata"]["nbgrader"].get("solution") and c["cell_type"] == "code"}
    return out


def _problem_answer(sub, status_reason: str, max_scores) -> dict:
    status, _, reason = status_reason.partition(": ")
    tests = {gid: [0.0, m, f"not graded: {status_reason}"] for per in max_scores.values() for gid, m in per.items()}
    return {"student": sub.student, "status": status, "note": reason or status, "tests": tests}


def grade(args) -> int:
    from . import intake, merge, pool, report
    from .sandbox import bwrap_path

    started = time.monotonic()
    assignment, out = args.assignment, args.out.resolve()
    sources = sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))
    if not sources:
        print(f"no assignment {assignment!r} in {REPO_ROOT / 'solutions'}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    submissions_root = intake.unpack(args.submissions.resolve(), work / "unpacked")
    max_scores = _max_scores(sources)
    grade_ids = [gid for per in max_scores.values() for gid in per]
    bwrap = None if args.no_sandbox else bwrap_path()
    if bwrap is None:
        print("!" * 78 + "\n!! WARNING: NO SANDBOX. Student code runs as you, with your files and network."
              "\n!! Install bubblewrap (Debian: apt-get install bubblewrap) to grade safely.\n" + "!" * 78, file=sys.stderr)
    source_hash = source_digest(sources)
    settings_key = json.dumps([args.cell_timeout, args.notebook_timeout, args.memory_mb, bool(bwrap)])
    course = _prepare_course(out, assignment, source_hash)

    subs = intake.find(submissions_root, list(max_scores))
    answers, tasks, keys = {}, [], {}
    ids = set(grade_ids)
    for sub in subs:
        for name, path in sub.notebooks.items():
            problem = intake.check_notebook(path, ids)
            if problem and sub.problem is None:
                sub.problem = problem
        key = merge.cache_key(source_hash, settings_key, sub.notebooks, sub.problem)
        keys[sub.student] = key
        cached = merge.load(out / "results", sub.student, key)
        if cached is not None:
            answers[sub.student] = cached
        elif sub.problem:
            answers[sub.student] = _problem_answer(sub, sub.problem, max_scores)
        else:
            tasks.append({"student": sub.student, "notebooks": {k: str(v) for k, v in sub.notebooks.items()},
                          "feedback": str(out / "feedback" / sub.student)})
        if cached is None and sub.student in answers and sub.notes:
            answers[sub.student]["note"] = "; ".join(filter(None, [answers[sub.student].get("note"), *sub.notes]))
    notes = {s.student: s.notes for s in subs}
    print(f"{len(subs)} students; {len(tasks)} to grade, {len(subs) - len(tasks)} unchanged or ungradable; "
          f"{args.workers} workers; sandbox: {'bubblewrap' if bwrap else 'NONE'}", file=sys.stderr)

    n_workers = max(1, min(args.workers, len(tasks)))
    template = work / "template"
    settings = []
    if tasks:
        shutil.rmtree(template, ignore_errors=True)
        (template / "course").mkdir(parents=True)
        shutil.copytree(course / "source", template / "course" / "source")
        shutil.copyfile(course / "gradebook.db", template / "course" / "gradebook.db")
        hidden = [str(out), str(submissions_root), str(args.submissions.resolve()), str(REPO_ROOT / "solutions"),
                  *_git_dirs()]
        for i in range(n_workers):
            w = work / f"worker{i}"
            shutil.rmtree(w, ignore_errors=True)
            shutil.copytree(template, w)
            settings.append({"assignment": assignment, "work": str(w), "hidden": hidden, "bwrap": bwrap,
                             "memory_mb": args.memory_mb, "cell_timeout": args.cell_timeout,
                             "source_notebooks": [str(p) for p in sources], "max_scores": max_scores})
    progress = Progress(len(tasks))

    def done(answer: dict) -> None:
        student = answer["student"]
        if notes.get(student):
            answer["note"] = "; ".join(filter(None, [answer.get("note"), *notes[student]]))
        for gid, m in ((g, m) for per in max_scores.values() for g, m in per.items()):
            answer["tests"].setdefault(gid, [0.0, m, f"not graded ({answer['status']})"])
        answers[student] = answer
        merge.save(out / "results", student, keys[student], answer)
        progress.step(f"{student}: {answer['status']}")

    prepared = time.monotonic()
    pool.run(tasks, settings, [work / f"worker{i}.log" for i in range(n_workers)], args.notebook_timeout, done)
    for task in tasks:  # a worker that could not even start
        if task["student"] not in answers:
            done({"student": task["student"], "status": "crashed", "note": "no grading worker could start", "tests": {}})

    graded = time.monotonic()
    final = [answers[s.student] for s in subs]
    for answer in final:
        if not (out / "feedback" / answer["student"]).exists():
            _write_problem_feedback(out, assignment, answer)
    merge.to_gradebook(course / "gradebook.db", assignment, final)
    _export(course, out)
    typed = [_typed(a) for a in final]
    codes = _answer_codes(subs, sources, {a.student for a in typed if a.status.ran})
    report.finish_reports(args, out, assignment, typed, grade_ids, codes, _boilerplate(assignment, sources), bool(bwrap))
    print(report.summary_text(typed, grade_ids))
    print(f"time: {prepared - started:.1f} s preparing, {graded - prepared:.1f} s grading, "
          f"{time.monotonic() - graded:.1f} s gradebook, export and reports", file=sys.stderr)
    print(f"\nwrote {out / 'grades.csv'}, {out / 'summary.html'}, feedback in {out / 'feedback'}")
    return 0


def _typed(answer: dict):
    """The old dict answer as the new :class:`.answer.Answer` (a bridge until the new
    pipeline produces them; a status the new enum lacks, such as ``tampered``, reads
    ``crashed`` with the old status in the note)."""
    from .answer import Answer, Status, TestResult

    tests = {gid: TestResult(gid, float(t[0]), float(t[1]), t[2] if len(t) > 2 else "") for gid, t in answer["tests"].items()}
    try:
        status, note = Status(answer["status"]), answer.get("note", "")
    except ValueError:
        status, note = Status.CRASHED, f"{answer['status']}: {answer.get('note', '')}"
    return Answer(answer["student"], status, tests, note)


def _answer_codes(subs, sources: list[Path], students: set[str]) -> dict[str, str]:
    """``{student: answer code}`` (answer cells and added cells of every notebook) for the
    similarity report."""
    from ..notebook import answer_sources, read

    source_nbs = {p.stem: read(p) for p in sources}
    codes = {}
    for sub in subs:
        if sub.student in students:
            codes[sub.student] = "\n\n".join(src for name, path in sorted(sub.notebooks.items()) if name in source_nbs
                                              for src in answer_sources(read(path), source_nbs[name]))
    return codes


def _boilerplate(assignment: str, sources: list[Path]) -> str:
    """The released exercise's own answer-cell code (stubs, docstrings)."""
    from ..notebook import answer_sources, read

    return "\n\n".join(src for p in sources if (REPO_ROOT / "exercises" / assignment / p.name).exists()
                        for src in answer_sources(read(REPO_ROOT / "exercises" / assignment / p.name), read(p)))


def _git_dirs() -> list[str]:
    """The repository's git folders (their history holds every version of the hidden tests)."""
    import subprocess

    found = []
    for flag in ("--absolute-git-dir", "--git-common-dir"):
        result = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", flag], capture_output=True, text=True)
        path = (REPO_ROOT / result.stdout.strip()).resolve() if result.returncode == 0 and result.stdout.strip() else None
        if path and path.is_dir() and str(path) not in found:
            found.append(str(path))
    return found


def _write_problem_feedback(out: Path, assignment: str, answer: dict) -> None:
    import html

    folder = out / "feedback" / answer["student"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback: {html.escape(assignment)}</title></head><body>"
        f"<h1>{html.escape(assignment)}</h1><p>Status: <b>{html.escape(answer['status'])}</b>. "
        f"{html.escape(answer.get('note', ''))}</p></body></html>", encoding="utf-8")


def _export(course: Path, out: Path) -> None:
    """nbgrader's own CSV export of the main gradebook (what ``nbgrader export`` writes)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    try:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            CsvExportPlugin(to=str(out / "nbgrader-export.csv")).export(gb)
    except Exception as err:  # noqa: BLE001 - grades.csv is written already; this export is extra
        print(f"note: nbgrader export failed: {err!r}", file=sys.stderr)
