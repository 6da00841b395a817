"""N worker processes (:mod:`.worker`) fed from one queue, each task under a wall-clock limit.

A worker that overruns the limit is killed with its whole process group (its kernel
included) and replaced; the task's answer is ``timeout``. A worker that dies answers
``crashed``. Answers are passed to ``on_done`` in order of completion.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from .answer import Answer, Status
from .worker import Task, WorkerSettings


class WorkerProcess:
    """One ``python -m autograder.grading.worker`` process and a thread reading its answers."""

    def __init__(self, settings: WorkerSettings, log: Path, max_scores: dict[str, float]):
        self.settings, self.log_path, self.max_scores = settings, log, max_scores
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.worker", self.settings.to_json()],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     start_new_session=True)
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.answers), daemon=True).start()
        self._expect(timeout=300)

    @staticmethod
    def _read(proc, answers) -> None:
        for line in proc.stdout:
            answers.put(line)
        answers.put(None)

    def _expect(self, timeout: float):
        line = self.answers.get(timeout=timeout)
        if line is None:
            raise RuntimeError(f"a grading worker died; see {self.log_path}")
        return json.loads(line)

    def grade(self, task: Task, wall: float) -> Answer:
        """The worker's answer for ``task``, or a ``timeout``/``crashed`` answer."""
        try:
            self.proc.stdin.write(task.to_json() + "\n")
            self.proc.stdin.flush()
            return Answer.from_json(self._expect(timeout=wall))
        except queue.Empty:
            self.restart()
            return Answer.not_run(task.student, Status.TIMEOUT,
                                  f"the notebook ran past the wall-clock limit of {wall:g} s", self.max_scores)
        except (RuntimeError, BrokenPipeError, ValueError, KeyError, TypeError) as err:
            self.restart()
            return Answer.not_run(task.student, Status.CRASHED, str(err)[:300], self.max_scores)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.log.close()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            pass
        self.kill()


def run(tasks: list[Task], settings: list[WorkerSettings], logs: list[Path], wall: float,
        on_done: Callable[[Answer], None], max_scores: dict[str, float]) -> None:
    """Grade ``tasks`` with one worker per entry of ``settings``; call ``on_done(answer)`` for
    each. ``max_scores``: every test's points, for the rows of tasks no worker could finish."""
    todo: queue.Queue = queue.Queue()
    for task in tasks:
        todo.put(task)
    lock = threading.Lock()

    def serve(setting: WorkerSettings, log: Path) -> None:
        try:
            worker = WorkerProcess(setting, log, max_scores)
        except (RuntimeError, queue.Empty, OSError) as err:
            sys.stderr.write(f"a grading worker could not start: {err}\n")
            return
        try:
            while True:
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    return
                answer = worker.grade(task, wall)
                with lock:
                    on_done(answer)
        finally:
            worker.close()

    threads = [threading.Thread(target=serve, args=(s, log)) for s, log in zip(settings, logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
