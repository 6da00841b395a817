"""The student's kernel in a sandbox (bubblewrap), with bounded resources.

The kernel command becomes::

    prlimit --as=MEMORY --cpu=SECONDS --nproc=N --core=0 --
      bwrap --unshare-{ipc,pid,net,uts,cgroup} --die-with-parent --new-session --clearenv ...
            --ro-bind /usr /etc PYTHON VENV KERNEL-PACKAGE (read-only: what Python needs)
            --tmpfs /tmp /home/student /dev/shm /run/autograder-kernel/ipc (size-capped, empty)
            --ro-bind CONNECTION-FILE, REFEREE-SOCKET
      setpriv --reuid=UID ... -- python -m ipykernel_launcher -f /run/autograder-kernel/kernel.json

What the kernel sees: the system's ``/usr`` and ``/etc``, the Python installation and
virtual environment, the grader's small kernel-side package (:mod:`autograder_kernel`),
all read-only; empty, size-capped scratch folders (its working folder
``/home/student``, ``/tmp``, ``/dev/shm``); its connection file and the referee's socket,
read-only. Nothing of the repository (the course package is hidden even when it is
installed inside the environment), of the input or output folders, or of other workers.
No network. The folder the grader keeps the connection file and the referee's socket
in is the grader's own: the kernel cannot write to it.

The kernel's Jupyter sockets live in its own scratch folder; the grader reaches them
through ``/proc/<sandbox pid>/root``, each opened once without following links and then
used through the descriptors the grader holds (:meth:`SandboxKernelManager._pin_sockets`). When the grader runs as root the kernel runs as
an unprivileged user of its own (one per worker), so the process limit binds, and the
CPU-time and memory limits bound what one submission can take from the machine.
Without bubblewrap the same kernel runs unsandboxed, with the memory limit, and the
command says so loudly.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: Where things are inside the sandbox.
INSIDE = Path("/run/autograder-kernel")
INSIDE_CODE = Path("/opt/autograder-kernel")
HOME = Path("/home/student")
#: Environment variables passed through to the kernel (everything else is dropped,
#: including NBGRADER_EXECUTION: student code cannot tell it is being graded).
KEPT_ENV = ("LANG", "LC_ALL", "AUTOGRADER_DEVICES", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
            "NVIDIA_DRIVER_CAPABILITIES", "LD_LIBRARY_PATH")
#: USER and LOGNAME: the kernel's uid has no entry in /etc/passwd, and getpass.getuser()
#: (which torch's compile caches call when an optimizer is made) reads these first.
FIXED_ENV = {"HOME": str(HOME), "USER": "student", "LOGNAME": "student", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1",
             "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": str(HOME / ".ipython")}


def bwrap_path() -> str | None:
    """Path of a working ``bwrap`` (it can start a sandbox here), or None."""
    path = shutil.which("bwrap")
    if not path:
        return None
    probe = subprocess.run([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
                            "--unshare-net", "--die-with-parent", "true"], capture_output=True)
    return path if probe.returncode == 0 else None


#: The unprivileged users kernels run as when the grader is root: one per worker, claimed.
UID_RANGE = range(61000, 62000)


def claim_uid(locks: Path = Path(tempfile.gettempdir())) -> tuple[int, object] | None:
    """An unprivileged uid no other grading worker on this machine holds and no process runs
    as: ``(uid, lock)``, the lock held for as long as the returned file object is open (the
    worker's life). Process limits count per user, so two batches graded side by side must
    never share one. None when the range is used up."""
    import fcntl

    busy = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
            busy.add(int(uid_line.split()[1]))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    for uid in UID_RANGE:
        if uid in busy:
            continue
        handle = open(locks / f"autograder-kernel-uid-{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return uid, handle
    return None


def gpu_devices() -> list[str]:
    """NVIDIA device files (``/dev/nvidia0``, ``/dev/nvidiactl``...), empty without a GPU."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())


@dataclass(frozen=True)
class Limits:
    """What one kernel may take: memory (MiB, address space; data segment on a GPU machine,
    where CUDA reserves huge address ranges), CPU seconds, processes and threads, and the
    size of each scratch folder (MiB)."""

    memory_mb: int | None = 6144
    cpu_seconds: int = 1800
    processes: int = 128
    scratch_mb: int = 512
    #: Processes a kernel may have besides itself before the watchdog stops them.
    children: int = 16


@dataclass
class Policy:
    """How to wrap a kernel command. ``bwrap``: its path, or None for no sandbox; ``uid``:
    the unprivileged user the kernel runs as (only when the grader is root)."""

    bwrap: str | None = None
    uid: int | None = None
    limits: Limits = field(default_factory=Limits)

    def env(self, inside: bool) -> dict[str, str]:
        kept = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
        bin_dir = str(Path(sys.executable).parent)
        env = {**kept, **FIXED_ENV, "PATH": f"{bin_dir}:/usr/bin:/bin"}
        if inside:
            env["PYTHONPATH"] = str(INSIDE_CODE)
        else:
            env["HOME"] = str(Path(tempfile.gettempdir()))
            env.pop("IPYTHONDIR", None)
            env.pop("MPLCONFIGDIR", None)
        return env

    def limit_prefix(self) -> list[str]:
        out = ["prlimit", f"--cpu={self.limits.cpu_seconds}", "--core=0"]
        if self.limits.memory_mb:
            kind = "--data" if gpu_devices() else "--as"
            out.append(f"{kind}={self.limits.memory_mb * 1024 * 1024}")
        if self.uid is not None:
            out.append(f"--nproc={self.limits.processes}")
        return out + ["--"]

    def wrap(self, cmd: list[str], connection_file: Path, referee_socket: Path) -> list[str]:
        """``cmd`` (whose connection file argument is the inside path) under the limits and the sandbox."""
        if not self.bwrap:
            return self.limit_prefix() + ["env", "-i", *[f"{k}={v}" for k, v in self.env(False).items()], *cmd]
        scratch = str(self.limits.scratch_mb * 1024 * 1024)
        out = self.limit_prefix() + [
            self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for top in ("/bin", "/lib", "/lib64", "/sbin", "/lib32", "/libx32"):
            if os.path.islink(top):
                out += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                out += ["--ro-bind", top, top]
        for path in (INSIDE, INSIDE_CODE, HOME.parent):
            out += _dirs(path)
        for inside, mb in ((Path("/tmp"), scratch), (HOME, scratch), (Path("/dev/shm"), scratch),
                           (INSIDE / "ipc", str(4 * 1024 * 1024))):
            out += ["--perms", "1777", "--size", mb, "--tmpfs", str(inside)]
        for path in python_trees():
            out += _dirs(path.parent) + ["--ro-bind", str(path), str(path)]
        for path in hidden_course_packages():
            out += ["--perms", "0555", "--size", "4096", "--tmpfs", str(path)]
        out += ["--ro-bind", str(kernel_package()), str(INSIDE_CODE / "autograder_kernel"),
                "--ro-bind", str(connection_file), str(INSIDE / "kernel.json"),
                "--ro-bind", str(referee_socket), str(INSIDE / "referee.sock")]
        gpus = gpu_devices()
        for dev in gpus:  # --dev /dev is a minimal /dev: the GPU's device files are bound in
            out += ["--dev-bind", dev, dev]
        if gpus:
            out += ["--ro-bind", "/sys", "/sys"]
        for key, value in self.env(True).items():
            out += ["--setenv", key, value]
        out += ["--chdir", str(HOME)]
        if self.uid is not None:
            out += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                    "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all",
                    "--bounding-set=-all", "--"]
        else:
            out += ["--"]
        return out + cmd


def _dirs(path: Path) -> list[str]:
    """bwrap arguments creating ``path`` and its parents with mode 0755 (bwrap's default
    is 0700, which an unprivileged kernel could not walk through)."""
    out = []
    parts = Path(path).parts[1:]
    for i in range(1, len(parts) + 1):
        out += ["--perms", "0755", "--dir", "/" + "/".join(parts[:i])]
    return out


def python_trees() -> list[Path]:
    """The Python installation and the virtual environment, as real paths (deduplicated,
    nested ones dropped)."""
    found: list[Path] = []
    for path in (Path(sys.base_prefix), Path(sys.prefix)):
        for candidate in (path, path.resolve()):
            if candidate not in found:
                found.append(candidate)
    return [p for p in found if not any(p != q and p.is_relative_to(q) for q in found)]


def kernel_package() -> Path:
    import autograder_kernel

    return Path(autograder_kernel.__file__).resolve().parent


def hidden_course_packages() -> list[Path]:
    """Folders of the course package that lie inside a bound tree (a non-editable install
    in the environment): mounted over with an empty folder in the sandbox."""
    import autograder

    trees = python_trees()
    out = []
    for entry in autograder.__path__:
        path = Path(entry).resolve()
        if any(path.is_relative_to(t) for t in trees):
            out.append(path)
    return out


def _children(pid: int) -> list[int]:
    """The live (not zombie) children of ``pid``, from every one of its threads."""
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
    live = []
    for child in found:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":  # a zombie is gone already; its parent reaps it
            live.append(child)
    return live


def sandbox_child(pid: int, timeout: float = 10.0) -> int | None:
    """The pid of bwrap's child (whose root is the sandbox's), waiting for it to appear."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        if children:
            return int(children[0])
        time.sleep(0.01)
    return None


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run under :attr:`policy`, talking over ``ipc``.

    Class attributes set by the worker before grading: ``policy`` and ``runtime_root`` (a
    folder of the grader's for connection files and the referee's sockets). Each kernel
    gets a listening socket for the referee (:attr:`referee_listener`), made before the
    kernel starts, and the path the kernel reaches it by (:attr:`referee_path`).
    """

    policy: Policy = Policy()
    runtime_root: Path = Path(tempfile.gettempdir())

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
        await super()._async_launch_kernel(wrapped, **kw)
        if self.sandboxed:
            child = sandbox_child(self.provisioner.pid)
            if child is None:
                raise RuntimeError("the sandbox did not start (bwrap has no child process)")
            self.sandbox_pid = child
            self._pin_sockets(f"/proc/{child}/root{INSIDE}/ipc/kernel")
            self._watching = threading.Event()
            threading.Thread(target=self._watch, daemon=True).start()

    def _pin_sockets(self, inside: str, timeout: float = 120.0) -> None:
        """Reach the kernel's Jupyter sockets without ever following a link the kernel made.

        The kernel binds its sockets in its own scratch folder, where it could as well put
        symbolic links to anything. Wait for each, open it without following a link
        (``O_PATH | O_NOFOLLOW``), check it is a socket, and connect through links of the
        grader's own, in its private folder, to those open descriptors."""
        ports = [self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port]
        end = time.monotonic() + timeout
        self._socket_fds: list[int] = []
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

    def _watch(self) -> None:
        """While the kernel runs: whenever it has more than ``limits.children`` other processes
        (a fork bomb), stop them all, so that one submission cannot starve the machine."""
        while not self._watching.wait(0.25):
            self.kill_strays(above=self.policy.limits.children)

    def _kernel_pid(self) -> int | None:
        """The kernel's pid (the sandbox init's one child), found once."""
        if getattr(self, "_kernel", None) is None:
            init = getattr(self, "sandbox_pid", None)
            children = _children(init) if init else []
            self._kernel = children[0] if children else None
        return self._kernel

    def kill_strays(self, above: int = 0) -> int:
        """Kill every process the kernel started (what its cells forked and left behind) when
        there are more than ``above``; return how many. Only in the sandbox, where the kernel's
        pid namespace holds nothing else."""
        kernel = self._kernel_pid() if self.sandboxed else None
        if kernel is None:
            return 0
        strays, todo = [], _children(kernel)
        while todo and len(strays) < 10_000:
            pid = todo.pop()
            strays.append(pid)
            todo += _children(pid)
        if len(strays) <= above:
            return 0
        killed = 0
        for pid in strays:
            try:
                os.kill(pid, 9)
                killed += 1
            except OSError:
                pass
        return killed

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        if getattr(self, "_watching", None) is not None:
            self._watching.set()
        await super()._async_cleanup_resources(restart)
        for fd in getattr(self, "_socket_fds", []):
            os.close(fd)
        self._socket_fds = []
        self.referee_listener.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self.cwd_dir is not None:
            shutil.rmtree(self.cwd_dir, ignore_errors=True)
