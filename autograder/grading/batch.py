"""One ``grade`` run, stage by stage: intake -> course -> workers -> merge -> reports.

* intake (:mod:`.intake`): who handed in what; unreadable or foreign files get their
  status here and are never run;
* course (:mod:`.prepared`): a private nbgrader course under ``OUT/course`` whose gradebook
  comes from ``solutions/<assignment>`` (remade when the sources or the grader change,
  copied from the per-user cache when another batch prepared it already);
* workers (:mod:`.pool`, :mod:`.worker`; with ``--dask``, the same workers on a Dask cluster,
  :mod:`.cluster`): every student whose files, the sources or the settings changed since
  the last run, graded in parallel, each kernel sandboxed;
* merge (:mod:`.merge`): the result cache and the main gradebook, nbgrader's own export;
* reports (:mod:`.report`): ``grades.csv``, ``summary.html``, the similarity report, the
  LMS file; feedback pages come from the workers.

Layout of ``OUT``::

    OUT/grades.csv  OUT/summary.html  OUT/similarity.{csv,html}  OUT/feedback/<student>/<nb>.html
    OUT/course/     the main nbgrader course (gradebook.db)
    OUT/results/    one cached answer per student (reruns reuse them)
    OUT/work/       scratch courses of the workers, worker logs, unpacked zips
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import REPO_ROOT
from .answer import Answer, Status
from .intake import Submission
from .options import Options
from .prepared import prepare_course, source_digest
from .worker import Task


def _sandbox(sandbox: bool) -> str | None:
    from .sandbox import bwrap_path, find_parent

    bwrap = bwrap_path() if sandbox else None
    if bwrap is None:
        print("!" * 78 + "\n!! WARNING: NO SANDBOX. Student code runs as you, with your files and network."
              "\n!! Install bubblewrap (Debian: apt-get install bubblewrap) to grade safely.\n" + "!" * 78,
              file=sys.stderr)
    cgroups, why = find_parent()
    if cgroups is None:
        print(f"!! no cgroup for the kernels ({why}): --memory-mb bounds each process, not a notebook's "
              "processes together (see the README's sandbox paragraph)", file=sys.stderr)
    return bwrap


def _settings(opts: Options, sources: list[Path], bwrap: str | None):
    """What every grading process of the batch shares; its folders are filled in per process."""
    from .worker import WorkerSettings

    return WorkerSettings(assignment=opts.assignment, work="", run_dir="", source_notebooks=[str(p) for p in sources],
                          bwrap=bwrap, own_user=bool(bwrap and os.geteuid() == 0), memory_mb=opts.memory_mb,
                          cell_timeout=opts.cell_timeout, cpu_seconds=max(opts.notebook_timeout, 60))


def _workers(template, course: Path, work: Path, n: int, run: Path):
    from dataclasses import replace

    copy = work / "template"
    shutil.rmtree(copy, ignore_errors=True)
    (copy / "course").mkdir(parents=True)
    shutil.copytree(course / "source", copy / "course" / "source")
    shutil.copytree(course / "release", copy / "course" / "release")
    shutil.copyfile(course / "gradebook.db", copy / "course" / "gradebook.db")
    settings = []
    for i in range(n):
        w = work / f"worker{i}"
        shutil.rmtree(w, ignore_errors=True)
        shutil.copytree(copy, w)
        settings.append(replace(template, work=str(w), run_dir=str(run / f"w{i}")))
    return settings


@dataclass
class Batch:
    """The batch as intake left it: who handed in what, each student's cache key, the answers
    already known (cached, or not runnable), and the tasks still to grade."""

    assignment: str
    out: Path
    sources: list[Path]
    #: ``{grade_id: max points}`` over every notebook of the assignment, in notebook order.
    max_scores: dict[str, float]
    subs: list[Submission]
    keys: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._notes = {s.student: s.notes for s in self.subs}

    def record(self, answer: Answer) -> None:
        """Keep ``answer`` (the intake's notes added, every test present) and cache it."""
        from . import merge

        for note in self._notes.get(answer.student, []):
            answer.add_note(note)
        for gid, m in self.max_scores.items():
            answer.tests.setdefault(gid, Answer.not_run(answer.student, answer.status, "", {gid: m}).tests[gid])
        self.answers[answer.student] = answer
        merge.save(self.out / "results", answer.student, self.keys[answer.student], answer)


def grade(opts: Options) -> int:
    """Grade every submission under ``opts.submissions``; write the outputs under ``opts.out``.
    Returns the exit status: 0, 2 (no such assignment), 3 (the Dask cluster was lost)."""
    from .cluster import ClusterError

    started = time.monotonic()
    sources = sorted((REPO_ROOT / "solutions" / opts.assignment).glob("*.ipynb"))
    if not sources:
        print(f"no assignment {opts.assignment!r} in {REPO_ROOT / 'solutions'}", file=sys.stderr)
        return 2
    # on a Dask cluster each worker finds its own bubblewrap, and is refused without one
    bwrap = None if opts.dask and opts.sandbox else _sandbox(opts.sandbox)
    sandboxed = opts.sandbox if opts.dask else bool(bwrap)
    batch, course = _intake(opts, sources, sandboxed)
    workers = (f"workers: the Dask cluster at {opts.dask}" if opts.dask
               else f"{min(opts.workers, len(batch.tasks))} workers")
    print(f"{len(batch.subs)} students; {len(batch.tasks)} to grade, {len(batch.subs) - len(batch.tasks)} unchanged "
          f"or ungradable; {workers}; sandbox: {'bubblewrap' if sandboxed else 'NONE'}", file=sys.stderr)

    prepared = time.monotonic()
    try:
        _grade(opts, batch, _settings(opts, sources, bwrap), course)
    except ClusterError as err:
        print(f"\n!! {err}", file=sys.stderr)
        return 3
    graded = time.monotonic()
    _reports(opts, batch, course, sandboxed)
    print(f"time: {prepared - started:.1f} s preparing, {graded - prepared:.1f} s grading, "
          f"{time.monotonic() - graded:.1f} s gradebook, export and reports", file=sys.stderr)
    print(f"\nwrote {batch.out / 'grades.csv'}, {batch.out / 'summary.html'}, feedback in {batch.out / 'feedback'}")
    return 0


def _intake(opts: Options, sources: list[Path], sandboxed: bool) -> tuple[Batch, Path]:
    """Stage 1: find the hand-ins, prepare the course, and sort each student into cached,
    not runnable (its status) or to grade. Returns the batch and the course folder."""
    from .. import notebook as nbfacts
    from . import intake, merge

    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = intake.unpack(opts.submissions.resolve(), out / "work" / "unpacked")
    per_notebook = {p.stem: nbfacts.max_scores(nbfacts.read(p)) for p in sources}
    every = {g: m for per in per_notebook.values() for g, m in per.items()}
    source_hash = source_digest(sources)
    settings_key = f"{opts.cell_timeout}|{opts.notebook_timeout}|{opts.memory_mb}|{sandboxed}"
    course = prepare_course(out, opts.assignment, source_hash)
    batch = Batch(opts.assignment, out, sources, every, intake.find(root, list(per_notebook)))
    for sub in batch.subs:
        for path in sub.notebooks.values():
            problem = intake.check_notebook(path, set(every))
            if problem and sub.problem is None:
                sub.problem = problem
        key = batch.keys[sub.student] = merge.cache_key(
            source_hash, settings_key, sub.notebooks, f"{sub.problem[0].value}: {sub.problem[1]}" if sub.problem else None)
        cached = merge.load(out / "results", sub.student, key)
        if cached is not None:
            batch.answers[sub.student] = cached
        elif sub.problem:
            batch.record(Answer.not_run(sub.student, sub.problem[0], sub.problem[1], every))
        else:
            batch.tasks.append(Task(sub.student, {k: str(v) for k, v in sub.notebooks.items()},
                                    str(out / "feedback" / sub.student)))
    return batch, course


def _grade(opts: Options, batch: Batch, template, course: Path) -> None:
    """Stage 2: grade the batch's tasks (locally or on the cluster), with a progress bar; a
    task no worker could start gets a crashed row."""
    from tqdm import tqdm

    progress = tqdm(total=len(batch.tasks), unit="student", file=sys.stderr, disable=not batch.tasks,
                    dynamic_ncols=True)

    def done(answer: Answer) -> None:
        batch.record(answer)
        progress.set_postfix_str(f"{answer.student}: {answer.status.value}", refresh=False)
        progress.update(1)

    try:
        _grade_tasks(opts, batch.tasks, template, course, batch.out / "work", done, batch.max_scores)
    finally:
        progress.close()
    for task in batch.tasks:  # a worker that could not even start
        if task.student not in batch.answers:
            done(Answer.not_run(task.student, Status.CRASHED, "no grading worker could start", batch.max_scores))


def _reports(opts: Options, batch: Batch, course: Path, sandboxed: bool) -> None:
    """Stage 3: feedback pages for students not run, the main gradebook and nbgrader's export,
    then the reports (:func:`.report.finish_reports`) and the summary on stdout."""
    from . import merge, report

    final = [batch.answers[s.student] for s in batch.subs]
    for answer in final:
        if not (batch.out / "feedback" / answer.student).exists():
            _problem_feedback(batch.out, batch.assignment, answer, batch.sources)
    merge.to_gradebook(course / "gradebook.db", batch.assignment, final)
    _export(course, batch.out)
    codes = _answer_codes(batch.subs, batch.sources, {a.student for a in final if a.status.ran})
    report.finish_reports(opts.reports, batch.out, batch.assignment, final, list(batch.max_scores), codes,
                          _boilerplate(batch.assignment, batch.sources), sandboxed)
    print(report.summary_text(final, list(batch.max_scores)))


def _grade_tasks(opts: Options, tasks: list[Task], template, course: Path, work: Path, on_done,
                 max_scores: dict[str, float]) -> None:
    """Grade ``tasks`` with local worker processes (:mod:`.pool`, at most ``opts.workers``), or
    on the Dask cluster at ``opts.dask`` (:mod:`.cluster`); ``on_done(answer)`` once per task
    either way."""
    if not tasks:
        return
    if opts.dask:
        from .cluster import run
        from .cluster_wire import CourseBundle, Job, Version

        job = Job(CourseBundle.pack(course), template, opts.sandbox, opts.notebook_timeout, max_scores,
                  Version.here())
        run(opts.dask, tasks, job, on_done)
        return
    from . import pool

    n = min(opts.workers, len(tasks))
    run_dir = Path(tempfile.mkdtemp(prefix="autograder-"))  # kernels' sockets: a short path, private to the grader
    try:
        settings = _workers(template, course, work, n, run_dir)
        pool.run(tasks, settings, [work / f"worker{i}.log" for i in range(n)], opts.notebook_timeout, on_done,
                 max_scores)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _problem_feedback(out: Path, assignment: str, answer: Answer, sources: list[Path]) -> None:
    """A page for a student whose notebook was not run (unreadable, wrong assignment...)."""
    from .. import notebook as nbfacts
    from .feedback import write_page

    folder = out / "feedback" / answer.student
    folder.mkdir(parents=True, exist_ok=True)
    for path in sources:
        source_nb = nbfacts.read(path)
        tests = {g: answer.tests[g] for g in nbfacts.max_scores(source_nb) if g in answer.tests}
        write_page(folder / f"{path.stem}.html", answer.student, assignment, path.stem, None, answer.status,
                   answer.note, tests, source_nb,
                   why_hidden=f"Your notebook was not run: {answer.status.value} ({answer.note}).")


def _export(course: Path, out: Path) -> None:
    """nbgrader's own CSV export of the main gradebook (what ``nbgrader export`` writes)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    try:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            CsvExportPlugin(to=str(out / "nbgrader-export.csv")).export(gb)
    except Exception as err:  # noqa: BLE001 - grades.csv is written already; this export is extra
        print(f"note: nbgrader export failed: {err!r}", file=sys.stderr)


def _answer_codes(subs, sources: list[Path], students: set[str]) -> dict[str, str]:
    """``{student: answer code}`` (answer cells and added cells of every notebook), for the
    similarity report; only students whose notebook ran."""
    from ..notebook import answer_sources, read

    source_nbs = {p.stem: read(p) for p in sources}
    codes = {}
    for sub in subs:
        if sub.student in students:
            codes[sub.student] = "\n\n".join(src for name, path in sorted(sub.notebooks.items()) if name in source_nbs
                                              for src in answer_sources(read(path), source_nbs[name]))
    return codes


def _boilerplate(assignment: str, sources: list[Path]) -> str:
    """The released exercise's own answer-cell code (stubs, docstrings): never counts as shared."""
    from ..notebook import answer_sources, read

    released = REPO_ROOT / "exercises" / assignment
    return "\n\n".join(src for p in sources if (released / p.name).exists()
                        for src in answer_sources(read(released / p.name), read(p)))
