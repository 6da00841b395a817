"""The kernel manager that starts each kernel in its sandbox, in a cgroup of its own, and
stops what its cells leave running.

The kernel's Jupyter sockets live in its own scratch folder; the grader reaches them
through ``/proc/<sandbox pid>/root``, each opened once without following links and then
used through the descriptors the grader holds (:meth:`SandboxKernelManager._pin_sockets`).
The folder the grader keeps the connection file and the referee's socket in is the
grader's own: the kernel cannot write to it.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Instance, Unicode

from . import processes
from .cgroups import KernelCgroup, Usage
from .policy import INSIDE, Policy

#: Added to the cgroup's process limit: room for the sandbox's own processes (bwrap, its
#: init), and for the kernel user's limit to act first where there is one (it refuses a
#: fork at once; the cgroup's refuses it only after the kernel's memory has been copied:
#: 30 ms against 0.08 ms per refused fork of a process that imported torch, here).
OWN_PROCESSES = 8


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run under :attr:`policy`, talking over ``ipc``.

    Both traits come from the caller (constructor arguments, or the ``SandboxKernelManager``
    section of the config nbclient hands to the managers it creates). Each kernel gets a
    listening socket for the referee (:attr:`referee_listener`), made before the kernel
    starts, and the path the kernel reaches it by (:attr:`referee_path`).
    """

    policy = Instance(Policy, args=(), help="the sandbox, the kernel's user, its limits and where its cgroup is made"
                      ).tag(config=True)
    runtime_root = Unicode(tempfile.gettempdir(), help="a folder of the grader's own for the connection files and "
                           "the referee's sockets").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.run_dir = Path(tempfile.mkdtemp(prefix="kernel-", dir=self.runtime_root))
        os.chmod(self.run_dir, 0o700)
        self.transport = "ipc"
        self.connection_file = str(self.run_dir / "kernel.json")
        sock_path = self.run_dir / "referee.sock"
        self.referee_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.referee_listener.bind(str(sock_path))
        self.referee_listener.listen(4)
        os.chmod(sock_path, 0o666)
        self.sandboxed = bool(self.policy.bwrap)
        self.referee_path = str(INSIDE / "referee.sock") if self.sandboxed else str(sock_path)
        self.ip = str(INSIDE / "ipc" / "kernel") if self.sandboxed else str(self.run_dir / "kernel")
        self.cwd_dir: Path | None = None
        self.cgroup: KernelCgroup | None = None
        self._usage = Usage()
        self._members: processes.Members | None = None
        self._keep: set[int] = set()
        self._watching: threading.Event | None = None
        self._socket_fds: list[int] = []

    @property
    def kernel_uid(self) -> int | None:
        """The uid the kernel's processes run as (None: the grader's own)."""
        return self.policy.uid if self.sandboxed else None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        cmd = [sys.executable if part in ("python", "python3") else part for part in cmd]
        if self.sandboxed:
            cmd = [str(INSIDE / "kernel.json") if part == self.connection_file else part for part in cmd]
        return cmd

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # A SIGINT sent to the process group would hit bwrap, which dies of it (and takes the
        # kernel along); an interrupt *message* makes the kernel signal only itself.
        self.kernel_spec.interrupt_mode = "message"
        policy = self.policy
        if self.sandboxed:
            kw["cwd"] = str(self.run_dir)  # bwrap's own cwd; the kernel's is --chdir /home/student
            if policy.uid is not None:
                os.chown(self.connection_file, policy.uid, policy.uid)
        else:
            self.cwd_dir = Path(tempfile.mkdtemp(prefix="cwd-", dir=self.runtime_root))
            kw["cwd"] = str(self.cwd_dir)
        kw["env"] = policy.env(False)
        wrapped = policy.wrap(kernel_cmd, Path(self.connection_file), self.run_dir / "referee.sock")
        if policy.cgroups is not None:
            self.cgroup = policy.cgroups.create(policy.limits.memory_mb, policy.limits.processes + OWN_PROCESSES)
            wrapped = self.cgroup.enter() + wrapped
        try:
            await super()._async_launch_kernel(wrapped, **kw)
            self._find_processes()
        except BaseException:
            self._drop_cgroup()
            raise
        self._watching = threading.Event()
        threading.Thread(target=self._watch, args=(self._watching,), daemon=True).start()

    def _find_processes(self) -> None:
        """The sandbox's own processes (bwrap, its init, the kernel), kept out of every stop,
        and who the sandbox's members are: its cgroup, its pid namespace or the kernel's
        descendants."""
        outer = self.provisioner.pid
        if not self.sandboxed:
            self._keep = {outer}  # prlimit and env exec the kernel: the same process
            self._members = self.cgroup or processes.Descendants(outer)
            return
        init = processes.first_child(outer)
        if init is None:
            raise RuntimeError("the sandbox did not start (bwrap has no child process)")
        self._pin_sockets(f"/proc/{init}/root{INSIDE}/ipc/kernel")
        # the kernel's sockets exist, and no cell has run: the init's one child is the kernel
        self._keep = {outer, init, *processes.children(init)}
        self._members = self.cgroup or processes.PidNamespace.of(init)

    def _pin_sockets(self, inside: str, timeout: float = 120.0) -> None:
        """Reach the kernel's Jupyter sockets without ever following a link the kernel made.

        The kernel binds its sockets in its own scratch folder, where it could as well put
        symbolic links to anything. Wait for each, open it without following a link
        (``O_PATH | O_NOFOLLOW``), check it is a socket, and connect through links of the
        grader's own, in its private folder, to those open descriptors."""
        ports = [self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port]
        end = time.monotonic() + timeout
        for port in ports:
            path = f"{inside}-{port}"
            while not os.path.lexists(path):
                if time.monotonic() > end or self.provisioner.process.poll() is not None:
                    raise RuntimeError("the kernel did not start (its sockets never appeared)")
                time.sleep(0.01)
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW)
            info = os.fstat(fd)
            if not stat.S_ISSOCK(info.st_mode) or (self.kernel_uid is not None and info.st_uid != self.kernel_uid):
                os.close(fd)
                raise RuntimeError(f"the kernel's socket {port} is not a socket of its own")
            self._socket_fds.append(fd)
            link = self.run_dir / f"kernel-{port}"
            link.symlink_to(f"/proc/{os.getpid()}/fd/{fd}")
        self.ip = str(self.run_dir / "kernel")

    def _watch(self, watching: threading.Event) -> None:
        """While the kernel runs: whenever the sandbox holds more than ``limits.children``
        processes besides its own (a fork bomb), stop them all, so that one submission cannot
        starve the machine."""
        while not watching.wait(0.25):
            self.kill_strays(above=self.policy.limits.children)

    def kill_strays(self, above: int = 0) -> int:
        """Stop every process of the sandbox but the kernel (and the sandbox's own): what its
        cells started and left behind, orphans included, when there are more than ``above``.
        Returns how many were stopped."""
        members = self._members
        return processes.stop(members, self._keep, above) if members is not None else 0

    def usage(self) -> Usage:
        """What the kernel's cgroup counted so far (at its removal, for a kernel that is gone)."""
        return self.cgroup.usage() if self.cgroup is not None else self._usage

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        self.kill_strays()  # first, while the kernel's descendants can still be found as such
        await super()._async_kill_kernel(restart)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if self._watching is not None:
            self._watching.set()
        await super()._async_cleanup_resources(restart)
        for fd in self._socket_fds:
            os.close(fd)
        self._socket_fds = []
        self.referee_listener.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.cwd_dir is not None:
            shutil.rmtree(self.cwd_dir, ignore_errors=True)
        self._drop_cgroup()

    # nbclient calls cleanup_resources itself after a kernel died (jupyter_client binds the base one)
    cleanup_resources = _async_cleanup_resources

    def _drop_cgroup(self) -> None:
        """Stop whatever is left in the kernel's cgroup, keep its counters, remove it."""
        group = self.cgroup
        if group is None:
            return
        processes.stop(group)
        self._usage, self.cgroup = group.usage(), None
        if not group.remove():
            sys.stderr.write(f"--- the kernel's cgroup {group.memory_dir} could not be removed\n")
