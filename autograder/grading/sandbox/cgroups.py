"""One cgroup per kernel: memory and process count bounded for the whole sandbox.

Where the machine lets the grader make cgroups (as root, or where they are delegated to
it), every kernel gets one of its own, with its processes together limited to the memory
limit (no swap) and to the process limit (threads included), and removed after the kernel.
Its member list is the sandbox's processes, orphans included (:func:`.processes.stop`), and
its counters say whether the out-of-memory killer stopped one of them (:class:`Usage`).

:func:`find_parent` looks, at run time, for a place to make them:

* cgroup v2: the grader's own cgroup or the nearest one above it whose children get the
  ``memory`` and ``pids`` controllers (``cgroup.subtree_control``);
* cgroup v1: the grader's own cgroups in the ``memory`` and ``pids`` hierarchies (v1 lets a
  cgroup holding processes have children; its own limits still bound them).

It tries each by making a cgroup, writing its limits and moving a short-lived process into
it. A kernel is moved into its cgroup before it starts: its command begins with a
``/bin/sh`` line that writes its own pid into the cgroup and then runs the rest.
"""
from __future__ import annotations

import errno
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: Every cgroup the grader makes is named ``autograder-<pid of the worker>-<random>``.
PREFIX = "autograder-"
#: Moves the shell into every cgroup listed before ``--``, then runs the rest in its place.
ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class Usage:
    """What a kernel's cgroup counted. ``oom_kills``: processes the out-of-memory killer
    stopped because the sandbox's processes together reached the memory limit (the kernel
    may be one of them); ``forks_refused``: new processes or threads refused at the process
    limit. Both 0 where there is no cgroup. ``memory_mb``: the cgroup's memory limit."""

    oom_kills: int = 0
    forks_refused: int = 0
    memory_mb: int | None = None


@dataclass(frozen=True)
class CgroupParent:
    """Where kernels' cgroups are made: cgroup ``version`` 1 or 2, and the folder holding the
    ``memory`` controller's and the ``pids`` controller's (one folder for v2)."""

    version: int
    memory_dir: Path
    pids_dir: Path

    def describe(self) -> str:
        folders = dict.fromkeys([str(self.memory_dir), str(self.pids_dir)])
        return f"cgroup v{self.version} ({', '.join(folders)})"

    def create(self, memory_mb: int | None, processes: int, name: str | None = None) -> "KernelCgroup":
        """A new cgroup under this parent, limited to ``memory_mb`` MiB (no limit: None) and
        ``processes`` processes and threads, both for its processes together."""
        name = name or f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        group = KernelCgroup(self.version, self.memory_dir / name, self.pids_dir / name, memory_mb)
        try:
            for folder in group.folders:
                folder.mkdir()
            if memory_mb:
                group.set_memory(memory_mb * 1024 * 1024)
            (group.pids_dir / "pids.max").write_text(str(processes))
        except OSError:
            group.remove(timeout=0)
            raise
        return group

    def sweep(self) -> int:
        """Stop and remove the cgroups a grader process that is gone left behind (a worker
        killed by the batch's wall-clock limit); return how many."""
        from .processes import stop

        removed = 0
        for folder in {self.memory_dir, self.pids_dir}:
            for child in folder.glob(f"{PREFIX}*"):
                owner = child.name[len(PREFIX):].split("-")[0]
                if not owner.isdigit() or Path(f"/proc/{owner}").exists():
                    continue
                group = KernelCgroup(self.version, self.memory_dir / child.name, self.pids_dir / child.name)
                stop(group)
                removed += group.remove()
        return removed


@dataclass(frozen=True)
class KernelCgroup:
    """One kernel's cgroup (a :class:`~.processes.Members`): its folder in the memory
    controller's hierarchy and in the pids controller's (the same folder for v2), and the
    memory limit it was given."""

    version: int
    memory_dir: Path
    pids_dir: Path
    memory_mb: int | None = None

    @property
    def folders(self) -> list[Path]:
        return [self.memory_dir] if self.memory_dir == self.pids_dir else [self.memory_dir, self.pids_dir]

    def enter(self) -> list[str]:
        """The start of a command line that runs the rest of it inside this cgroup."""
        return ["/bin/sh", "-c", ENTER, "enter-cgroup", *[str(f / "cgroup.procs") for f in self.folders], "--"]

    def set_memory(self, limit: int) -> None:
        if self.version == 2:
            (self.memory_dir / "memory.max").write_text(str(limit))
            _write_if_there(self.memory_dir / "memory.swap.max", "0")
        else:
            (self.memory_dir / "memory.limit_in_bytes").write_text(str(limit))
            _write_if_there(self.memory_dir / "memory.memsw.limit_in_bytes", str(limit))

    def pids(self) -> list[int]:
        """The pids of its processes (zombies are not listed)."""
        try:
            return [int(p) for p in (self.memory_dir / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def usage(self) -> Usage:
        memory_events = "memory.events" if self.version == 2 else "memory.oom_control"
        return Usage(oom_kills=_counters(self.memory_dir / memory_events).get("oom_kill", 0),
                     forks_refused=_counters(self.pids_dir / "pids.events").get("max", 0), memory_mb=self.memory_mb)

    def remove(self, timeout: float = 5.0) -> int:
        """Remove its folders, waiting up to ``timeout`` s for processes being stopped to
        leave; 1 when every folder is gone, else 0."""
        end = time.monotonic() + timeout
        for folder in self.folders:
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as err:
                    if err.errno != errno.EBUSY or time.monotonic() > end:
                        return 0
                    time.sleep(0.01)
        return 1


def _write_if_there(path: Path, value: str) -> None:
    """Write a setting the kernel may lack (swap accounting is often off)."""
    try:
        path.write_text(value)
    except OSError:
        pass


def _counters(path: Path) -> dict[str, int]:
    """A cgroup file of ``name value`` lines, as a dict (empty when unreadable)."""
    out = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


# -------------------------------------------------------------------------- where to make them
@dataclass(frozen=True)
class _Mount:
    """A cgroup hierarchy mounted here: v1 (its controllers) or v2; where, and which cgroup is its root."""

    version: int
    controllers: frozenset[str]
    point: Path
    root: str


def _mounts() -> list[_Mount]:
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields, _, tail = line.partition(" - ")
        fields, tail = fields.split(), tail.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        version = 2 if tail[0] == "cgroup2" else 1
        controllers = frozenset(tail[2].split(",")) if version == 1 else frozenset()
        out.append(_Mount(version, controllers, Path(fields[4]), fields[3]))
    return out


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy: ``{"": v2 path, controller: v1 path}``."""
    out = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                out[controller] = parts[2]
    return out


def _folder(mount: _Mount, path: str) -> Path | None:
    """Where cgroup ``path`` (as ``/proc/self/cgroup`` gives it) is under ``mount``."""
    root = mount.root.rstrip("/")
    if mount.root != "/" and not (path == root or path.startswith(root + "/")):
        return None
    return mount.point / path[len(root):].lstrip("/")


def _candidates() -> list[CgroupParent]:
    mounts, own = _mounts(), _own_cgroups()
    found = []
    for mount in (m for m in mounts if m.version == 2 and "" in own):
        here = _folder(mount, own[""])
        while here is not None and here.is_relative_to(mount.point):
            try:
                enabled = set((here / "cgroup.subtree_control").read_text().split())
            except OSError:
                enabled = set()
            if {"memory", "pids"} <= enabled:
                found.append(CgroupParent(2, here, here))
                break
            here = here.parent if here != mount.point else None
    folders = {}
    for controller in ("memory", "pids"):
        mount = next((m for m in mounts if m.version == 1 and controller in m.controllers), None)
        if mount is not None and controller in own:
            folders[controller] = _folder(mount, own[controller])
    if folders.get("memory") and folders.get("pids"):
        found.append(CgroupParent(1, folders["memory"], folders["pids"]))
    return found


def _try(parent: CgroupParent) -> str:
    """Why kernels' cgroups cannot be made under ``parent`` ("" when they can)."""
    try:
        group = parent.create(256, 8)
    except OSError as err:
        return f"{parent.describe()}: {err.strerror or err}"
    try:
        moved = subprocess.run(group.enter() + ["true"], capture_output=True).returncode == 0
    finally:
        group.remove(timeout=1.0)
    return "" if moved else f"{parent.describe()}: a process cannot be moved into a new cgroup"


def find_parent() -> tuple[CgroupParent | None, str]:
    """Where this process can make one cgroup per kernel (cgroup v2 first, then v1), and ""; or
    None and why not (for the batch's warning)."""
    why = []
    for parent in _candidates():
        reason = _try(parent)
        if not reason:
            return parent, ""
        why.append(reason)
    return None, "; ".join(why) or "neither cgroup v2 with the memory and pids controllers nor v1's is mounted"
