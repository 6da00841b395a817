"""``grade --dask ADDRESS``: the batch's students graded on a Dask cluster instead of local workers.

:func:`run` takes the place of :func:`.pool.run` in :mod:`.batch`, with the same tasks and
the same ``on_done`` callback (called once per task, in order of completion), so the
outputs and the result cache are the ones a local run writes. Dask schedules; this
module only ships, checks and collects:

1. connect to the scheduler, check that it can load the grading package (it unpickles the
   task function), and drop grading plugins left by batches whose client is gone;
2. register a :class:`~.cluster_worker.GradingPlugin` carrying the :class:`~.cluster_wire.Job`
   (the course, the settings, this machine's :class:`~.cluster_wire.Version`): every worker
   checks itself and starts its warm grading processes; one line per refused worker, and
   the batch stops before grading anything when no worker is accepted;
3. one task per student (its notebooks' bytes), asking for the plugin's resource; each
   reply (the answer and the feedback pages, bytes) is checked, its pages written under
   ``OUT/feedback/<student>/``, its answer handed to ``on_done``;
4. unregister the plugin (the workers stop their processes), disconnect.

Faults: a Dask worker that dies is reported with what it was grading; Dask gives its work
to another worker, and a student whose grading was under way on two workers that died
gets a ``crashed`` row (:mod:`.cluster_worker` decides that from the event log). A task
Dask gives up on (``KilledWorker``) is submitted again, twice at most. Losing the
scheduler raises :class:`ClusterError`: the answers already handed to ``on_done`` are in
the result cache, so the same command run again grades only the rest.
"""
from __future__ import annotations

import logging
import sys
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .answer import Answer, Status
from .cluster_wire import Job, Reply, Request
from .worker import Task

#: Every grading plugin's name starts so; the rest is the id of the client that registered it.
PLUGIN_PREFIX = "autograder-"
#: Seconds to wait for the scheduler to answer, and for a first worker when it has none.
CONNECT_TIMEOUT, FIRST_WORKER_TIMEOUT = 30, 60
#: Times a task Dask gave up on (``KilledWorker``) is submitted again.
RESUBMISSIONS = 2


class ClusterError(Exception):
    """The batch cannot go on on this cluster; the message says why and what to do."""


def say(line: str) -> None:
    """A line on stderr that leaves the progress bar whole."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def run(address: str, tasks: list[Task], job: Job, on_done: Callable[[Answer], None]) -> None:
    """Grade ``tasks`` on the Dask cluster whose scheduler is at ``address``; call
    ``on_done(answer)`` once per task. Raises :class:`ClusterError` (nothing graded when it
    happens before the first task)."""
    with _quiet_dask():
        client = _connect(address)
        name = PLUGIN_PREFIX + client.id
        try:
            _check_scheduler(client, address)
            accepted, refused = _start_workers(client, address, name, job)
            _collect(client, name, tasks, job, _Watch(set(accepted), refused), on_done)
        finally:
            _close(client, name)


@contextmanager
def _quiet_dask():
    """Dask's own log quiet (its tracebacks when the scheduler is lost): our lines say what happened."""
    chatter = logging.getLogger("distributed")
    level = chatter.level
    chatter.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        chatter.setLevel(level)


def _connect(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {err}") from err


def scheduler_facts(dask_scheduler) -> dict[str, list[str]]:
    """Run on the scheduler: the ids of its clients and the names of its grading plugins."""
    return {"clients": list(dask_scheduler.clients),
            "plugins": [n for n in dask_scheduler.worker_plugins if n.startswith(PLUGIN_PREFIX)]}


def _check_scheduler(client, address: str) -> None:
    try:
        facts = client.run_on_scheduler(scheduler_facts)
    except Exception as err:  # noqa: BLE001 - whatever the scheduler says, the advice is the same
        raise ClusterError(f"the Dask scheduler at {address} cannot load the grading package ({err!r}): "
                           "start it from the course's virtual environment (.venv/bin/dask scheduler)") from err
    for stale in facts["plugins"]:
        if stale[len(PLUGIN_PREFIX):] not in facts["clients"]:
            try:
                client.unregister_worker_plugin(stale)
            except Exception as err:  # noqa: BLE001 - a leftover of another batch; ours goes on
                say(f"note: could not remove the grading plugin {stale} of an earlier batch: {err!r}")


def _start_workers(client, address: str, name: str, job: Job) -> tuple[dict[str, int], set[str]]:
    """Register the plugin; ``({worker address: grading processes}, {address})`` of the
    accepted and the refused workers."""
    from .cluster_worker import GradingPlugin, plugin_state

    try:
        client.wait_for_workers(1, timeout=FIRST_WORKER_TIMEOUT)
    except TimeoutError as err:
        raise ClusterError(f"the Dask scheduler at {address} has no worker (none joined in "
                           f"{FIRST_WORKER_TIMEOUT} s): start some, see the README") from err
    try:
        client.register_plugin(GradingPlugin(name, job), name=name)
    except Exception as err:  # noqa: BLE001 - a worker that cannot even load the plugin
        raise ClusterError(f"a Dask worker could not load the grading plugin ({err!r}): every worker needs "
                           "the client's checkout and virtual environment") from err
    accepted, refused = {}, set()
    for worker, state in sorted(client.run(plugin_state, name, on_error="return").items()):
        why = repr(state) if not isinstance(state, dict) else state["refusal"]
        if why:
            refused.add(worker)
            say(f"!! Dask worker {worker} refused: {why}")
        elif state["processes"]:
            accepted[worker] = state["processes"]
        # else: it joined meanwhile and is still setting up; its "ready" event comes later
    if not accepted:
        raise ClusterError(f"no Dask worker at {address} may grade this course; nothing was graded")
    say(f"Dask cluster at {address}: {len(accepted)} worker(s), {sum(accepted.values())} grading process(es)")
    return accepted, refused


class _Watch:
    """What the cluster's event log says while the batch runs: who grades whom, which
    workers join, are refused or are lost (one line each)."""

    def __init__(self, accepted: set[str], refused: set[str]):
        self.known = accepted | refused
        self.live = set(accepted)
        self.grading: dict[str, set[str]] = defaultdict(set)
        self.deaths: dict[str, int] = defaultdict(int)

    def on_batch(self, event) -> None:
        msg = event[1]
        kind, worker = msg.get("kind"), msg.get("worker")
        if kind == "start":
            self.grading[worker].add(msg["student"])
        elif kind == "done":
            self.grading[worker].discard(msg["student"])
        elif kind in ("ready", "refused") and worker not in self.known:
            self.known.add(worker)
            if kind == "ready":
                self.live.add(worker)
                say(f"+ Dask worker {worker} joined: {msg['processes']} grading process(es)")
            else:
                say(f"!! Dask worker {worker} refused: {msg['why']}")

    def on_cluster(self, event) -> None:
        msg = event[1]
        worker = msg.get("worker")
        if msg.get("action") != "remove-worker" or worker not in self.live:
            return
        self.live.discard(worker)
        students = sorted(self.grading.pop(worker, ()))
        fates = []
        for student in students:
            self.deaths[student] += 1
            fate = "crashed: its second lost worker" if self.deaths[student] > 1 else "graded again elsewhere"
            fates.append(f"{student} ({fate})")
        doing = f"while grading {', '.join(fates)}" if fates else "while idle"
        left = "" if self.live else \
            "; no worker left: waiting for one to join (Ctrl-C stops, the results so far are kept)"
        say(f"!! lost Dask worker {worker} {doing}{left}")


def _collect(client, name: str, tasks: list[Task], job: Job, watch: _Watch,
             on_done: Callable[[Answer], None]) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from distributed.utils import CancelledError

    from .cluster_worker import grade

    client.subscribe_topic(name, watch.on_batch)
    client.subscribe_topic("all", watch.on_cluster)
    names = {Path(p).stem for p in job.settings.source_notebooks}
    pending: dict[str, tuple[Task, int]] = {}

    def submit(task: Task, tries: int):
        future = client.submit(grade, name, Request.of(task).to_bytes(), key=f"{name}-{len(pending)}-{task.student}",
                               resources={name: 1}, pure=False)
        pending[future.key] = (task, tries)
        return future

    results = as_completed([submit(task, 0) for task in tasks], loop=client.loop)
    for future in results:
        task, tries = pending[future.key]
        try:
            answer = _answer(future.result(), task, names)
        except CancelledError as err:
            raise ClusterError(f"lost the Dask scheduler ({err}); the notebooks graded so far are saved in "
                               "OUT/results/: start the scheduler and workers again and rerun the same "
                               "command, it grades only the rest") from err
        except KilledWorker as err:
            if tries < RESUBMISSIONS:
                results.add(submit(task, tries + 1))
                continue
            answer = Answer.not_run(task.student, Status.CRASHED, f"Dask gave up on it: {err}", job.max_scores)
        except Exception as err:  # noqa: BLE001 - a row with the reason, never a lost row
            answer = Answer.not_run(task.student, Status.CRASHED, f"grading on the Dask cluster failed: {err!r}"[:500],
                                    job.max_scores)
        finally:
            future.release()
        on_done(answer)


def _answer(payload: bytes, task: Task, names: set[str]) -> Answer:
    """The answer of a reply for ``task``, its feedback pages written to ``task.feedback``."""
    reply = Reply.from_bytes(payload, task.student, names)
    if reply.pages:
        folder = Path(task.feedback)
        folder.mkdir(parents=True, exist_ok=True)
        for notebook, page in reply.pages.items():
            (folder / f"{notebook}.html").write_text(page, encoding="utf-8")
    return reply.answer


def _close(client, name: str) -> None:
    """Unregister the batch's plugin (each worker stops its grading processes) and disconnect;
    quietly when the scheduler is gone."""
    if client.status == "running":
        try:
            client.unregister_worker_plugin(name)
        except Exception:  # noqa: BLE001 - never registered, or the scheduler went away meanwhile
            pass
    client.close(timeout=10)
