"""One grading process: grades one submission at a time in its own scratch nbgrader course.

Started by :mod:`.pool` as ``python -m autograder.grading.worker CONFIG_JSON``; reads one
task per line on stdin (JSON: student, notebooks ``{name: path}``, feedback folder) and
answers one JSON line per task on its real stdout (nbgrader's log goes to stderr). Any
failure becomes a status in the answer, never an exception that stops the batch.

Scratch course (``work``)::

    work/course/    nbgrader_config-less course: source/, gradebook.db (a copy of the
                    prepared one), submitted/<student>/, autograded/<student>/
    work/run/       kernel connection files and sockets (bound into the sandbox)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from traitlets.config import Config


def nbgrader_config(course: Path, cell_timeout: int) -> Config:
    """Config for nbgrader's autograde with the guard injected and the sandboxed Execute."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                        SaveAutoGrades)

    from .inject import InjectGuard, KeepOutputs, SandboxExecute

    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    c.Execute.timeout = cell_timeout
    # after a timeout the kernel is interrupted; give it time to answer (a loaded machine is slow)
    c.Execute.iopub_timeout = 30
    c.Execute.raise_on_iopub_timeout = False
    c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
    # every output is in once the last cell finished; a graceful shutdown only waits (about 1 s)
    c.Execute.shutdown_kernel = "immediate"
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata, InjectGuard]
    c.Autograde.autograde_preprocessors = [SandboxExecute, KeepOutputs, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties]
    return c


class Worker:
    """Grades tasks in the scratch course ``work/course`` (see the module docstring)."""

    def __init__(self, settings: dict):
        import nbformat

        from .inject import course_modules
        from .sandbox import Policy, SandboxKernelManager, startup_arguments

        self.settings = settings
        self.assignment = settings["assignment"]
        self.work = Path(settings["work"])
        self.course = self.work / "course"
        run = self.work / "run"
        run.mkdir(parents=True, exist_ok=True)
        SandboxKernelManager.runtime_root = run
        SandboxKernelManager.policy = Policy(hidden=[Path(p) for p in settings["hidden"]], writable=[],
                                             memory_mb=settings["memory_mb"], bwrap=settings["bwrap"])
        self.source = {Path(p).stem: json.loads(Path(p).read_text()) for p in settings["source_notebooks"]}
        modules = [m for nb in self.source.values() for m in course_modules(nbformat.from_dict(nb))]
        SandboxKernelManager.startup = startup_arguments(list(dict.fromkeys(modules)))
        self.max_scores = settings["max_scores"]

    def grade(self, task: dict) -> dict:
        """Grade one student's notebooks; the answer always has ``status`` and ``tests``, and
        ``seconds``: the wall time this worker spent on the task."""
        started = time.perf_counter()
        try:
            answer = self._grade(task)
        except Exception as err:  # noqa: BLE001 - any failure is a status
            answer = {"student": task["student"], "status": "crashed", "note": f"grader error: {err!r}"[:500], "tests": {}}
        answer["seconds"] = round(time.perf_counter() - started, 3)
        return answer

    def _grade(self, task: dict) -> dict:
        import nbformat
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        from . import inject
        from .feedback import LeakError, render
        from .verdict import Verdict, judge

        student, assignment = task["student"], self.assignment
        for sub in ("submitted", "autograded"):
            shutil.rmtree(self.course / sub / student, ignore_errors=True)
        dest = self.course / "submitted" / student / assignment
        dest.mkdir(parents=True)
        for name, path in task["notebooks"].items():
            shutil.copyfile(path, dest / f"{name}.ipynb")
        inject.TOKENS.clear()
        inject.EXECUTED.clear()
        config = nbgrader_config(self.course, self.settings["cell_timeout"])
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        result = api.autograde(assignment, student, force=True, create=True)
        if not result.get("success"):
            sys.stderr.write(f"--- {student}: nbgrader autograde failed\n{result.get('log', '')}\n{result.get('error', '')}\n")
        answer = {"student": student, "status": "graded", "note": "", "tests": {}, "notebooks": {}}
        feedback_dir = Path(task["feedback"])
        feedback_dir.mkdir(parents=True, exist_ok=True)
        statuses = []
        for name in self.max_scores:
            max_scores = self.max_scores[name]
            nb = inject.EXECUTED.get(name)
            if name not in task["notebooks"]:
                verdict = Verdict(status="missing notebook", note=f"no {name}.ipynb")
                verdict.tests = judge(nbformat.v4.new_notebook(), {}, max_scores).tests
                for test in verdict.tests.values():
                    test.message = f"{name}.ipynb was not handed in"
            elif nb is None:
                log = (result.get("log") or "") + (result.get("error") or "")
                status = "timeout" if "Timeout" in log or "timed out" in log else "crashed"
                verdict = Verdict(status=status, note=_last_error(log))
                verdict.tests = judge(nbformat.v4.new_notebook(), {}, max_scores).tests
                for test in verdict.tests.values():
                    test.message = f"the notebook could not be run to its end ({status}): {verdict.note}"
            else:
                verdict = judge(nb, inject.TOKENS.get(name, {}), max_scores)
            statuses.append(verdict.status)
            if verdict.note:
                answer["note"] = (answer["note"] + "; " if answer["note"] else "") + verdict.note
            answer["tests"].update({gid: [t.score, t.max_score, t.message] for gid, t in verdict.tests.items()})
            imports = inject.locked_imports(nbformat.from_dict(self.source[name]))
            try:
                page = render(student, assignment, name, nb, verdict, self.source[name], imports)
            except LeakError:
                page = render(student, assignment, name, None, verdict, self.source[name], imports)
            (feedback_dir / f"{name}.html").write_text(page, encoding="utf-8")
        answer["status"] = next((s for s in statuses if s != "graded"), "graded")
        return answer


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "died" in line:
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


def main() -> int:
    settings = json.loads(sys.argv[1])
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by nbgrader or jupyter goes to the log, not the answers
    worker = Worker(settings)
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(worker.grade(json.loads(line))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
