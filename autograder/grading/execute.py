"""nbgrader's Execute with two sides: answer cells in the student's kernel, tests in the referee.

:class:`TwoSidedExecute` replaces nbgrader's ``Execute`` in autograde. It walks the
notebook as nbgrader restored it (locked cells and hidden tests back from the
gradebook). What kind a cell is comes from the assignment's *source* notebook, by
grade_id, never from the student's metadata:

* answer cells, the cells a student added, and the locked set-up cells run in the
  student's kernel, sandboxed (:mod:`.sandbox`), as nbgrader would run them;
* every test cell runs in this process (the referee, :mod:`autograder.referee.cell`),
  from the source notebook's text, against the notebook's names over the data-only
  channel (:mod:`.line`); the referee writes the cell's outputs, which nbgrader then scores.

Before any cell runs, the static check reads the answer cells
(:mod:`autograder.referee.static`): a test whose function takes a forbidden shortcut
fails with the line quoted, and code the check cannot see through flags the row. What
happened is recorded (:class:`~.verdict.NotebookRun`, its status from
:func:`~.verdict.decide`) in the notebook's metadata, for the worker.
"""
from __future__ import annotations

import secrets
import time
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Any, Integer, Unicode

from .. import notebook as nbfacts
from ..chapters import exercise
from ..checks.context import Settings
from ..checks.devices import available_devices
from ..referee import static
from ..referee.cell import CellRun, run_test_cell
from ..referee.result import TestResult
from ..referee.session import ChannelError, Trouble
from .line import KernelLine
from .sandbox import SandboxKernelManager, Usage
from .verdict import METADATA_KEY, Facts, Halt, HaltReason, NotebookRun, decide


class TwoSidedExecute(Execute):
    """nbgrader's Execute, sandboxed, with test cells run by the referee (see the module docstring)."""

    source_dir = Unicode("", help="folder holding source/<assignment>/<notebook>.ipynb (trusted)").tag(config=True)
    accept_timeout = Integer(60, help="seconds the student's kernel has to answer the referee's call").tag(config=True)
    kernel_ahead = Any(None, allow_none=True,
                       help="a function giving a kernel manager started ahead of time (or None): the worker's, "
                            "so the kernel boots while nbgrader prepares the notebook").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def create_kernel_manager(self):
        km = self.kernel_ahead() if self.kernel_ahead is not None else None
        if km is not None and km.has_kernel:
            self.km = km
            return km
        return super().create_kernel_manager()

    # -- the notebook ----------------------------------------------------------------------
    def preprocess(self, nb, resources, retries=None):
        info = resources["nbgrader"]
        source_nb = nbfacts.read(Path(self.source_dir) / info["assignment"] / f"{info['notebook']}.ipynb")
        self._kinds = nbfacts.kinds_by_id(source_nb)
        self._tests = {gid: nbfacts.source(c) for gid, c in nbfacts.test_cells(source_nb).items()}
        self._setup = nbfacts.setup_imports(source_nb)
        self._settings = Settings(secret=secrets.randbits(62))
        self._halt: Halt | None = None
        self._timed_out = False
        self._line: KernelLine | None = None
        self._usage = Usage()
        self._errors: dict[int, str] = {}
        self._run = NotebookRun()
        self._check_statically(nb, info["assignment"])
        try:
            nb, resources = super().preprocess(nb, resources, retries)
        finally:
            if self._line is not None:
                self._line.stop()
        self._finish(nb)
        return nb, resources

    def _check_statically(self, nb, assignment: str) -> None:
        answers = [(i, nbfacts.source(c)) for i, c in enumerate(nb.cells)
                   if nbfacts.submitted_kind(c, self._kinds) in (nbfacts.CellKind.ANSWER, nbfacts.CellKind.EXTRA)]
        positions: dict[str, int] = {}
        for i, cell in enumerate(nb.cells):
            if nbfacts.submitted_kind(cell, self._kinds) is nbfacts.CellKind.TEST:
                positions.setdefault(nbfacts.grade_id(cell), i)
        report = static.check(answers, exercise(assignment), positions, self._setup)
        self._run.flags = [flag.quote() for flag in report.flags]
        self._violations, self._defined_in = report.violations, report.defined_in

    def _finish(self, nb) -> None:
        run = self._run
        for gid in self._tests:
            if gid not in run.tests:
                run.tests[gid] = TestResult.failed(gid, "this test cell is missing from the notebook", "MissingTest")
        errors = tuple((str(o.get("ename", "")), str(o.get("evalue", ""))) for c in nb.cells if c.cell_type == "code"
                       for o in c.get("outputs", []) if o.output_type == "error")
        decide(run, Facts(self._usage.oom_kills, self._usage.memory_mb, self._halt, self._timed_out, errors))
        nb.metadata[METADATA_KEY] = run.to_json()

    # -- cells -------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        kind = nbfacts.submitted_kind(cell, self._kinds)
        if kind is nbfacts.CellKind.TEST:
            gid = nbfacts.grade_id(cell)
            done = self._referee(gid)
            self._strays(index)
            cell.outputs = [_node(o) for o in done.outputs()]
            cell.execution_count = None
            self._run.tests[gid] = done.result
            return cell, resources
        if self._halt:
            cell.outputs = []
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._halt = Halt(HaltReason.KERNEL_DIED,
                              f"the kernel died while running cell {index + 1} (os._exit, a crash, or a resource limit)")
            return cell, resources
        finally:
            if cell.cell_type == "code":
                self._strays(index)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and index not in self._errors:
                self._errors[index] = f"{output.get('ename', 'Error')}: {str(output.get('evalue', ''))[:300]}"
        return cell, resources

    def _why_missing(self, name: str) -> str | None:
        """What kept the notebook from defining ``name``: the error of the cell that defines it,
        else the first error of an earlier cell."""
        for index in self._defined_in.get(name, []):
            if index in self._errors:
                return (f"cell {index + 1}, which defines it, stopped with {self._errors[index]}"
                        f"{_package_advice(self._errors[index])}")
        if self._errors:
            index = min(self._errors)
            return (f"it was never defined; cell {index + 1} stopped with {self._errors[index]}"
                    f"{_package_advice(self._errors[index])}")
        return None

    def _strays(self, index: int) -> None:
        """Processes a cell forked and left running do not outlive it (a fork bomb stops here);
        what the sandbox's cgroup counted so far is kept (the kernel is gone by :meth:`_finish`)."""
        killed = self.km.kill_strays() if self.km is not None else 0
        if self.km is not None:
            self._usage = self.km.usage()
        if killed:
            self._run.add_note(f"cell {index + 1} left {killed} process(es) running; they were stopped")

    def _referee(self, grade_id: str) -> CellRun:
        if self._halt:
            return CellRun(TestResult.failed(grade_id, f"not run: {self._halt.text}", "GradingError"))
        if grade_id in self._violations:
            return CellRun(TestResult.failed(grade_id, self._violations[grade_id].message, "RuleError"))
        deadline = time.monotonic() + (self.timeout or 120)
        if self._line is None:
            self._line = KernelLine(self.km, tuple(available_devices()), self.accept_timeout)
        try:
            session, msg_id = self._line.open(deadline)
        except ChannelError as err:
            self._trouble(err.reason)
            self._halt = self._halt or self._line.halt()
            return CellRun(TestResult.failed(grade_id, f"this test could not run: {err}", "GradingError"),
                           trouble=err.reason)
        try:
            done = run_test_cell(grade_id, self._tests[grade_id], self._setup, session, self._settings,
                                 self._why_missing)
        except BaseException:
            self._line.close(session, msg_id, True)
            raise
        self._trouble(done.trouble)
        self._halt = self._halt or self._line.close(session, msg_id, done.trouble is not None)
        return done

    def _trouble(self, reason: Trouble | None) -> None:
        if reason is Trouble.OUT_OF_TIME:
            self._timed_out = True


def _package_advice(error: str) -> str:
    if "No module named 'autograder" in error:
        return (". The course's own package is not there when your notebook is graded: answer cells may import "
                "only torch and the modules the rules cell lists.")
    return ""


def _node(output: dict):
    from nbformat import from_dict

    return from_dict(output)
