"""The Dask workers' side of ``grade --dask``: a worker plugin holding warm grading processes.

The client (:mod:`.cluster`) registers one :class:`GradingPlugin` per batch; Dask runs its
:meth:`~GradingPlugin.setup` on every worker of the cluster and on every worker that joins
later. Setup first checks the worker: the same :class:`~.cluster_wire.Version` as the
client (the grader's code, torch, nbgrader, Python), and bubblewrap when the batch is
sandboxed. A refused worker starts nothing and never offers the batch's resource, so Dask
never sends it a notebook. A worker that passes unpacks the course under its local
directory and starts one grading process per worker thread (:class:`~.pool.WorkerProcess`,
the referee with torch loaded; each claims a kernel uid of its own when run as root, so
two Dask workers on one machine never share one), then offers the resource, one unit per
process. Every task of the batch asks for one unit: :func:`grade`.

Layout on a worker (``LOCAL``: the Dask worker's local directory)::

    LOCAL/<plugin name>/course/        the course as shipped (source/, release/, gradebook.db)
    LOCAL/<plugin name>/p<i>/course/   grading process i's scratch course; p<i>.log its log
    LOCAL/<plugin name>/tasks/*/       one student's notebooks and feedback pages, while graded
    /tmp/autograder-*/p<i>/            process i's kernel sockets (a Unix socket's path is short)

Events (Dask's event log, topic: the plugin's name): ``ready`` or ``refused`` once per
worker; ``start`` and ``done`` per attempt at a student, also under ``<name>/<student>``,
which is what a later attempt reads to know how many Dask workers died grading it.
"""
from __future__ import annotations

import asyncio
import os
import queue
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from distributed import Status as DaskStatus
from distributed import WorkerPlugin

from .answer import Answer, Status
from .cluster_wire import Job, Reply, Request, Version

#: A student whose grading was under way on this many Dask workers when they died is not tried again.
MAX_WORKER_DEATHS = 2


def student_topic(plugin_name: str, student: str) -> str:
    return f"{plugin_name}/{student}"


def unfinished_attempts(events) -> list[str]:
    """The workers of the attempts in ``events`` (``(time, message)`` pairs of one student's
    topic) that started and never finished: the Dask workers that died grading it."""
    started = {}
    for _, msg in events:
        if msg.get("kind") == "start":
            started[msg["attempt"]] = msg["worker"]
    for _, msg in events:
        if msg.get("kind") == "done":
            started.pop(msg["attempt"], None)
    return list(started.values())


class GradingPlugin(WorkerPlugin):
    """One batch's grading on one Dask worker (see the module docstring). ``name`` is the
    plugin's name, its event topic and its resource."""

    def __init__(self, name: str, job: Job):
        self.name, self.job = name, job
        self.processes: list = []
        self.refusal: str | None = None

    # -- set-up and tear-down (in the worker's event loop) ---------------------------------
    async def setup(self, worker) -> None:
        self.worker, self.closed = worker, False
        self.idle: queue.Queue = queue.Queue()
        self.root = Path(worker.local_directory) / self.name
        self.run_dir: Path | None = None
        self.refusal = self._check()
        if self.refusal is None:
            self.refusal = await asyncio.to_thread(self._start, worker.state.nthreads)
        me = worker.contact_address  # the address the scheduler knows this worker by
        if self.refusal is not None:
            worker.log_event(self.name, {"kind": "refused", "worker": me, "why": self.refusal})
            return
        await worker.set_resources(**{self.name: len(self.processes)})
        # The scheduler looks for tasks a worker can run when it joins or resumes, not when its
        # resources change: a worker that joins mid-batch (its plugins are set up after it
        # joined) pauses and resumes, so that the batch's waiting tasks are offered to it.
        if worker.status == DaskStatus.running:
            worker.status = DaskStatus.paused
            worker.status = DaskStatus.running
        worker.log_event(self.name, {"kind": "ready", "worker": me, "processes": len(self.processes)})

    def _check(self) -> str | None:
        """Why this worker may not grade the batch, or None."""
        from .sandbox import bwrap_path

        differences = Version.here().differences(self.job.version)
        if differences:
            return ("another version: " + "; ".join(differences) +
                    ". Every worker needs the client's checkout and virtual environment")
        if self.job.sandbox and bwrap_path() is None:
            return ("bubblewrap is missing here or cannot start a sandbox (Debian: apt-get install bubblewrap); "
                    "grading unsandboxed needs --no-sandbox")
        return None

    def _start(self, n: int) -> str | None:
        """Unpack the course and start ``n`` grading processes; None, or why none started."""
        from .pool import WorkerProcess
        from .sandbox import bwrap_path

        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "tasks").mkdir(parents=True)
        template = self.job.course.unpack(self.root / "course")
        self.run_dir = Path(tempfile.mkdtemp(prefix="autograder-"))
        bwrap = bwrap_path() if self.job.sandbox else None
        sources = [str(p) for p in sorted((template / "source" / self.job.settings.assignment).glob("*.ipynb"))]

        def start(i: int):
            shutil.copytree(template, self.root / f"p{i}" / "course")
            settings = replace(self.job.settings, work=str(self.root / f"p{i}"), run_dir=str(self.run_dir / f"p{i}"),
                               source_notebooks=sources, bwrap=bwrap, own_user=bool(bwrap and os.geteuid() == 0))
            try:
                return WorkerProcess(settings, self.root / f"p{i}.log", self.job.max_scores)
            except (RuntimeError, queue.Empty, OSError) as err:
                return f"{err or 'no answer in time'} (log: {self.root / f'p{i}.log'})"

        with ThreadPoolExecutor(max(1, n)) as pool:
            started = list(pool.map(start, range(max(1, n))))
        self.processes = [p for p in started if not isinstance(p, str)]
        for process in self.processes:
            self.idle.put(process)
        return None if self.processes else "no grading process could start: " + "; ".join(map(str, started))

    async def teardown(self, worker) -> None:
        self.closed = True
        if self.processes:
            await worker.set_resources(**{self.name: 0})
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with ThreadPoolExecutor(max(1, len(self.processes))) as pool:
            list(pool.map(lambda p: p.close(), self.processes))
        shutil.rmtree(self.root, ignore_errors=True)
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- one student (in a worker thread) --------------------------------------------------
    def grade(self, payload: bytes) -> bytes:
        """Grade one :class:`~.cluster_wire.Request` on an idle grading process; the
        :class:`~.cluster_wire.Reply`, as bytes."""
        request = Request.from_bytes(payload)
        died = self._unfinished(request.student)
        if len(died) >= MAX_WORKER_DEATHS:
            note = (f"grading this notebook stopped {len(died)} Dask workers in a row ({', '.join(died)}); "
                    "it was not tried again")
            return Reply(Answer.not_run(request.student, Status.CRASHED, note, self.job.max_scores), {}).to_bytes()
        attempt = uuid.uuid4().hex
        self._log(request.student, {"kind": "start", "attempt": attempt})
        process = self.idle.get()
        folder = Path(tempfile.mkdtemp(dir=self.root / "tasks"))
        try:
            task = request.write(folder)
            answer = process.grade(task, self.job.wall)
            pages = {p.stem: p.read_text(encoding="utf-8") for p in sorted(Path(task.feedback).glob("*.html"))}
        finally:
            if self.closed:  # torn down meanwhile: a process restarted by grade() must not outlive the plugin
                process.close()
            else:
                self.idle.put(process)
            shutil.rmtree(folder, ignore_errors=True)
        self._log(request.student, {"kind": "done", "attempt": attempt})
        return Reply(answer, pages).to_bytes()

    def _unfinished(self, student: str) -> list[str]:
        from distributed.utils import sync

        events = sync(self.worker.loop, self.worker.scheduler.events, topic=student_topic(self.name, student))
        return unfinished_attempts(events)

    def _log(self, student: str, msg: dict) -> None:
        msg = {**msg, "student": student, "worker": self.worker.contact_address}
        self.worker.log_event([self.name, student_topic(self.name, student)], msg)


def grade(plugin_name: str, payload: bytes) -> bytes:
    """The Dask task: grade one request (bytes) with this worker's plugin ``plugin_name``;
    the reply (bytes)."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(plugin_name)
    if not isinstance(plugin, GradingPlugin) or not plugin.processes or plugin.closed:
        raise RuntimeError(f"this Dask worker has no grading processes for {plugin_name}")
    return plugin.grade(payload)


def plugin_state(plugin_name: str, dask_worker) -> dict:
    """``{"processes": n, "refusal": why or None}`` of this worker's plugin (``client.run``)."""
    plugin = dask_worker.plugins.get(plugin_name)
    if not isinstance(plugin, GradingPlugin):
        return {"processes": 0, "refusal": "the grading plugin is not set up here"}
    return {"processes": len(plugin.processes), "refusal": plugin.refusal}
