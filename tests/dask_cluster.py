"""A Dask cluster on this machine for tests and benchmarks, started as the README starts one
by hand: a ``dask scheduler`` process and ``dask worker --nthreads 1`` processes (each with
its nanny, which starts the worker again when it dies), all on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DASK = [sys.executable, "-m", "dask"]


class LocalDask:
    """``with LocalDask(folder, workers=2) as cluster: ... cluster.address``. Logs and the
    workers' local directories go under ``folder``; ``env``: extra environment variables
    for every process (Dask settings: ``DASK_DISTRIBUTED__...``)."""

    def __init__(self, folder: Path, workers: int = 2, env: dict[str, str] | None = None):
        self.folder = folder
        self.env = {**os.environ, **(env or {})}
        self.processes: list[subprocess.Popen] = []
        self._client = None
        folder.mkdir(parents=True, exist_ok=True)
        try:
            self._start(workers)
        except BaseException:
            self.close()
            raise

    def _start(self, workers: int) -> None:
        info = self.folder / "scheduler.json"
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(info)])
        deadline = time.monotonic() + 120
        while not info.exists():
            if time.monotonic() > deadline or self.processes[0].poll() is not None:
                raise RuntimeError(f"the Dask scheduler did not start; see {self.folder / 'scheduler.log'}")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        self.address = json.loads(info.read_text())["address"]
        for i in range(workers):
            self.add_worker(f"w{i}")
        self.wait_for(workers)

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> None:
        log = open(self.folder / f"{name}.log", "ab")
        # run from the cluster's folder: ``python -m`` puts its working folder first on the path
        self.processes.append(subprocess.Popen(DASK + args, stdout=log, stderr=log, env=env or self.env,
                                               cwd=self.folder, start_new_session=True))
        log.close()

    def add_worker(self, name: str, env: dict | None = None) -> None:
        """Start one single-threaded worker (``env``: its whole environment, default the cluster's)."""
        self._spawn(name, ["worker", self.address, "--nthreads", "1", "--no-dashboard", "--name", name,
                           "--local-directory", str(self.folder / name)], env)

    @property
    def client(self):
        from distributed import Client

        if self._client is None:
            self._client = Client(self.address, timeout=60, set_as_default=False)
        return self._client

    def wait_for(self, n: int, timeout: float = 180) -> None:
        if n:
            self.client.wait_for_workers(n, timeout=timeout)

    def kill_worker(self, address: str) -> None:
        """SIGKILL the worker process at ``address`` (its nanny starts a new one, at another address)."""
        pid = self.client.run(os.getpid, workers=[address])[address]
        os.kill(pid, signal.SIGKILL)

    def kill_scheduler(self) -> None:
        """SIGKILL the scheduler (the workers are left trying to reach it)."""
        self.processes[0].kill()
        self.processes[0].wait()

    def close(self) -> None:
        if self._client is not None:
            self._client.close(timeout=10)
        for proc in reversed(self.processes):
            proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> "LocalDask":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
