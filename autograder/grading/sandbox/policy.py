"""The command line that puts one kernel in its sandbox (bubblewrap), under per-process limits.

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
No network. Without bubblewrap the same kernel runs unsandboxed, under the same limits.

The limits here are each process's own (``prlimit``); the bounds on the whole sandbox
(its processes together) are its cgroup's (:mod:`.cgroups`), which the kernel manager
makes where :attr:`Policy.cgroups` says.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cgroups import CgroupParent

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


def gpu_devices() -> list[str]:
    """NVIDIA device files (``/dev/nvidia0``, ``/dev/nvidiactl``...), empty without a GPU."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())


@dataclass(frozen=True)
class Limits:
    """What one kernel may take. Per process (``prlimit``): memory (MiB, address space; data
    segment on a GPU machine, where CUDA reserves huge address ranges) and CPU seconds. For
    the whole sandbox, where it has a cgroup: memory (the same MiB, its processes together)
    and ``processes`` (threads included, a few more for the sandbox's own); where the kernel
    has a user of its own, ``processes`` is also that user's limit. ``children``: processes besides
    the kernel (and the sandbox's own) before the watchdog stops them all (a fork bomb).
    ``scratch_mb``: the size of each scratch folder."""

    memory_mb: int | None = 6144
    cpu_seconds: int = 1800
    processes: int = 128
    scratch_mb: int = 512
    children: int = 16


@dataclass
class Policy:
    """How to wrap a kernel command. ``bwrap``: its path, or None for no sandbox; ``uid``:
    the unprivileged user the kernel runs as (only when the grader is root); ``cgroups``:
    where each kernel gets a cgroup of its own (None: no usable cgroup on this machine)."""

    bwrap: str | None = None
    uid: int | None = None
    limits: Limits = field(default_factory=Limits)
    cgroups: CgroupParent | None = None

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
