"""Finding a sandbox's processes in ``/proc``, and stopping them.

Who belongs to a sandbox is asked of a :class:`Members`: its cgroup's member list
(:class:`~.cgroups.KernelCgroup`) where there is one; else every process in the sandbox's
pid namespace (:class:`PidNamespace`: orphans, re-parented to the sandbox's init, are
still in it); else, for a kernel without a sandbox, the kernel's descendants
(:class:`Descendants`: a process that detaches is lost to it).

:func:`stop` never signals a process that is not a member: it opens a pidfd for each pid
first, asks the member list again, and signals through the pidfd, so a pid that died and
was reused by another process meanwhile is left alone.
"""
from __future__ import annotations

import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Protocol


class Members(Protocol):
    """The live processes (not zombies) of one sandbox, by pid."""

    def pids(self) -> list[int]: ...


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie is gone already; its parent reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """The live children of ``pid``, from every one of its threads."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return [c for c in found if alive(c)]


def first_child(pid: int, timeout: float = 10.0) -> int | None:
    """The pid of ``pid``'s first child (bwrap's: the sandbox's init), waiting for it to appear."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        if found:
            return int(found[0])
        time.sleep(0.01)
    return None


@dataclass(frozen=True)
class Descendants:
    """The live descendants of ``root`` (not ``root`` itself), at most ``cap`` of them."""

    root: int
    cap: int = 10_000

    def pids(self) -> list[int]:
        found, todo = [], children(self.root)
        while todo and len(found) < self.cap:
            pid = todo.pop()
            found.append(pid)
            todo += children(pid)
        return found


@dataclass(frozen=True)
class PidNamespace:
    """Every live process in one pid namespace (``ns``: its ``/proc/<pid>/ns/pid`` link)."""

    ns: str

    @classmethod
    def of(cls, pid: int) -> "PidNamespace | None":
        try:
            return cls(os.readlink(f"/proc/{pid}/ns/pid"))
        except OSError:
            return None

    def pids(self) -> list[int]:
        found = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if os.readlink(f"/proc/{entry.name}/ns/pid") == self.ns:
                        found.append(int(entry.name))
                except OSError:
                    continue
        return [pid for pid in found if alive(pid)]


def stop(members: Members, keep: Collection[int] = (), above: int = 0, rounds: int = 100) -> int:
    """SIGKILL every member but ``keep`` when there are more than ``above`` of them, again
    and again until none is left (a fork bomb forks while it is being stopped), then wait
    (up to 2 s) until they are gone. Returns how many were stopped."""
    stopped: dict[int, int] = {}  # pid -> pidfd, kept open until the process is gone
    try:
        for _ in range(rounds):
            pids = [p for p in members.pids() if p not in keep and p not in stopped]
            if not pids or (not stopped and len(pids) <= above):
                break
            stopped.update(_signal(pids, members))
        _wait_gone(list(stopped.values()), 2.0)
    finally:
        for fd in stopped.values():
            os.close(fd)
    return len(stopped)


def _signal(pids: list[int], members: Members) -> dict[int, int]:
    """SIGKILL those of ``pids`` that are still members once held by a pidfd; their pidfds."""
    fds = {}
    for pid in pids:
        try:
            fds[pid] = os.pidfd_open(pid)
        except OSError:  # gone already
            continue
    still = set(members.pids())
    for pid, fd in list(fds.items()):
        try:
            if pid not in still:
                raise ProcessLookupError(pid)
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except OSError:
            os.close(fds.pop(pid))
    return fds


def _wait_gone(pidfds: list[int], timeout: float) -> None:
    """Wait until every process held by ``pidfds`` has exited (a pidfd polls readable then)."""
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    left, end = len(pidfds), time.monotonic() + timeout
    while left and time.monotonic() < end:
        ready = poller.poll(max(1, int((end - time.monotonic()) * 1000)))
        for fd, _ in ready:
            poller.unregister(fd)
            left -= 1
