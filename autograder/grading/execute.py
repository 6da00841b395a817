"""nbgrader's Execute with two sides: answer cells in the student's kernel, tests in the referee.

:class:`TwoSidedExecute` replaces nbgrader's ``Execute`` in autograde. It walks the
notebook as nbgrader restored it (locked cells and hidden tests back from the
gradebook). What kind a cell is comes from the assignment's *source* notebook, by
grade_id, never from the student's metadata:

* answer cells, the cells a student added, and the locked set-up cells run in the
  student's kernel, sandboxed (:mod:`.sandbox`), as nbgrader would run them;
* every test cell runs in this process (the referee, :mod:`autograder.referee.cell`),
  from the source notebook's text, against the notebook's names over the data-only
  channel; the referee writes the cell's outputs, which nbgrader then scores.

It also runs the static check on the answer cells (:mod:`autograder.referee.static`): a
test whose function takes a forbidden shortcut fails with the line quoted, and code the
check cannot see through flags the row. It records what happened (:class:`NotebookRun`) in the notebook's metadata, under
``autograder``, for the worker.
"""
from __future__ import annotations

import secrets
import socket
import struct
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from .. import notebook as nbfacts
from ..checks.context import Settings
from ..checks.devices import available_devices
from ..chapters import exercise
from ..referee import static
from ..referee.cell import CellOutcome, run_test_cell
from ..referee.session import ChannelError, Session
from .answer import Status
from .sandbox import SandboxKernelManager

METADATA_KEY = "autograder"
MEMORY_MARKS = ("MemoryError", "can't allocate memory", "DefaultCPUAllocator", "std::bad_alloc", "out of memory")


@dataclass
class TestRun:
    """One test cell's result in the referee (see :class:`~autograder.referee.cell.CellOutcome`)."""

    passed: bool
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0


@dataclass
class NotebookRun:
    """What running one notebook gave: per-test results, the status, a note, the flags."""

    tests: dict[str, TestRun] = field(default_factory=dict)
    status: Status = Status.GRADED
    note: str = ""
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict) -> "NotebookRun":
        return cls({k: TestRun(**v) for k, v in data.get("tests", {}).items()}, Status(data.get("status", Status.GRADED.value)),
                   data.get("note", ""), list(data.get("flags", [])))


class TwoSidedExecute(Execute):
    """nbgrader's Execute, sandboxed, with test cells run by the referee (see the module docstring)."""

    source_dir = Unicode("", help="folder holding source/<assignment>/<notebook>.ipynb (trusted)").tag(config=True)
    accept_timeout = Integer(60, help="seconds the student's kernel has to answer the referee's call").tag(config=True)

    #: A kernel the worker started ahead (while nbgrader prepared the notebook), taken by the
    #: next notebook to run; None: start one as usual. Set by the worker, cleared here.
    waiting_kernel: SandboxKernelManager | None = None

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)

    def create_kernel_manager(self):
        km, TwoSidedExecute.waiting_kernel = TwoSidedExecute.waiting_kernel, None
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
        self._devices = tuple(available_devices())
        self._stopped: str | None = None
        self._timed_out = False
        self._client = None
        self._run = NotebookRun()
        answers = [(i, nbfacts.source(c)) for i, c in enumerate(nb.cells)
                   if nbfacts.submitted_kind(c, self._kinds) in (nbfacts.CellKind.ANSWER, nbfacts.CellKind.EXTRA)]
        positions: dict[str, int] = {}
        for i, cell in enumerate(nb.cells):
            if nbfacts.submitted_kind(cell, self._kinds) is nbfacts.CellKind.TEST:
                positions.setdefault(nbfacts.grade_id(cell), i)
        report = static.check(answers, exercise(info["assignment"]), positions)
        self._run.flags = [flag.quote() for flag in report.flags]
        self._violations, self._defined_in = report.violations, report.defined_in
        self._errors: dict[int, str] = {}
        try:
            nb, resources = super().preprocess(nb, resources, retries)
        finally:
            if self._client is not None:
                self._client.stop_channels()
        self._finish(nb)
        return nb, resources

    def _finish(self, nb) -> None:
        run = self._run
        for gid in self._tests:
            if gid not in run.tests:
                run.tests[gid] = TestRun(False, "MissingTest", "this test cell is missing from the notebook")
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        texts = [f"{o.get('ename', '')}: {o.get('evalue', '')}" for o in errors]
        notes = [run.note] if run.note else []
        if self._stopped and "died" in self._stopped:
            run.status, why = Status.CRASHED, self._stopped
        elif self._timed_out or any(o.get("ename") == "CellTimeoutError" for o in errors):
            run.status = Status.TIMEOUT
            why = self._stopped or "a cell ran past its time limit (it was interrupted; later cells still ran)"
        elif any(mark in text for text in texts for mark in MEMORY_MARKS):
            run.status, why = Status.MEMORY_LIMIT, "a cell ran out of memory (the per-kernel memory limit)"
        elif run.flags:
            run.status, why = Status.FLAGGED, f"{len(run.flags)} escape hatch(es) in the answer cells, for review"
        else:
            why = ""
        run.note = "; ".join(filter(None, [why, *notes]))
        nb.metadata[METADATA_KEY] = run.to_json()

    # -- cells -------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        kind = nbfacts.submitted_kind(cell, self._kinds)
        if kind is nbfacts.CellKind.TEST:
            gid = nbfacts.grade_id(cell)
            outcome = self._referee(gid)
            self._strays(index)
            cell.outputs = [_node(o) for o in outcome.outputs()]
            cell.execution_count = None
            self._run.tests[gid] = TestRun(outcome.passed, outcome.error_type, outcome.message, round(outcome.seconds, 3))
            return cell, resources
        if self._stopped:
            cell.outputs = []
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stopped = f"the kernel died while running cell {index + 1} (os._exit, a crash, or a resource limit)"
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
        """Processes a cell forked and left running do not outlive it (a fork bomb stops here)."""
        killed = self.km.kill_strays() if self.km is not None else 0
        if killed:
            note = f"cell {index + 1} left {killed} process(es) running; they were stopped"
            self._run.note = "; ".join(filter(None, [self._run.note, note]))

    def _referee(self, grade_id: str) -> CellOutcome:
        if self._stopped:
            return CellOutcome(grade_id, False, error_type="GradingError", message=f"not run: {self._stopped}")
        if grade_id in self._violations:
            return CellOutcome(grade_id, False, error_type="RuleError", message=self._violations[grade_id].message)
        deadline = time.monotonic() + (self.timeout or 120)
        try:
            session, msg_id = self._open(deadline)
        except ChannelError as err:
            self._kernel_trouble(str(err))
            return CellOutcome(grade_id, False, error_type="GradingError", message=f"this test could not run: {err}",
                               channel=str(err))
        try:
            outcome = run_test_cell(grade_id, self._tests[grade_id], self._setup, session, self._settings,
                                    self._why_missing)
        except BaseException:
            self._close(session, msg_id, "")
            raise
        self._close(session, msg_id, outcome.channel)
        return outcome

    # -- the referee's channel -------------------------------------------------------------------
    def _open(self, deadline: float) -> tuple[Session, str]:
        """Ask the kernel to serve the referee; accept its connection (from the sandbox's user only)."""
        km: SandboxKernelManager = self.km
        if self._client is None:
            from jupyter_client.blocking import BlockingKernelClient

            self._client = BlockingKernelClient()
            self._client.load_connection_info(km.get_connection_info())
            self._client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        nonce = secrets.token_hex(16)
        code = f"__import__('autograder_kernel.server').server.serve({km.referee_path!r}, {nonce!r})"
        msg_id = self._client.execute(code, silent=True, store_history=False, allow_stdin=False, stop_on_error=False)
        listener = km.referee_listener
        end = min(deadline, time.monotonic() + self.accept_timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise ChannelError("your kernel did not answer (it is busy, stuck or broken)")
            listener.settimeout(min(left, 0.5))
            try:
                conn, _ = listener.accept()
            except (socket.timeout, TimeoutError):
                if self._replied(msg_id):
                    raise ChannelError("your kernel could not start answering the tests (your code may have "
                                       "replaced something it needs)") from None
                continue
            if km.kernel_uid is not None and _peer_uid(conn) != km.kernel_uid:
                conn.close()
                continue
            session = Session(conn, lambda: deadline, self._devices)
            try:
                from autograder_kernel import codec

                hello, _ = codec.recv_frame(conn, min(deadline, time.monotonic() + 10))
            except (TimeoutError, EOFError, codec.WireError):
                conn.close()
                continue
            if isinstance(hello, dict) and hello.get("hello") == nonce:
                return session, msg_id
            conn.close()

    def _replied(self, msg_id: str) -> bool:
        try:
            reply = self._client.get_shell_msg(timeout=0)
        except Exception:  # noqa: BLE001 - queue.Empty: no reply yet
            return False
        return reply.get("parent_header", {}).get("msg_id") == msg_id

    def _close(self, session: Session, msg_id: str, trouble: str) -> None:
        """End the conversation; make sure the kernel is back, idle, for the next cell."""
        session.close()
        try:
            session.sock.close()
        except OSError:
            pass
        self._kernel_trouble(trouble)
        if self._stopped:
            return
        if self._wait_reply(msg_id, 2.0 if trouble else 10.0):
            return
        from jupyter_core.utils import run_sync

        run_sync(self.km.interrupt_kernel)()  # still inside student code: stop it
        if not self._wait_reply(msg_id, 20.0):
            self._timed_out = True
            self._stopped = "the kernel did not come back after a test ran out of time; the later cells were not run"

    def _wait_reply(self, msg_id: str, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                reply = self._client.get_shell_msg(timeout=max(0.05, end - time.monotonic()))
            except Exception:  # noqa: BLE001 - queue.Empty
                return False
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    def _kernel_trouble(self, why: str) -> None:
        if "time" in why:
            self._timed_out = True
        if not self._alive():
            self._stopped = "the kernel died while a test was calling your code (a crash or a resource limit)"

    def _alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return bool(run_sync(self.km.is_alive)())


def _package_advice(error: str) -> str:
    if "No module named 'autograder" in error:
        return (". The course's own package is not there when your notebook is graded: answer cells may import "
                "only torch and the modules the rules cell lists.")
    return ""


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", creds)[1]


def _node(output: dict):
    from nbformat import from_dict

    return from_dict(output)
