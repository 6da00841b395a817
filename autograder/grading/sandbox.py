"""Running a student's kernel in a sandbox (bubblewrap) with memory and time limits.

The kernel command becomes::

    prlimit --as=BYTES -- bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp
        --unshare-all --die-with-parent --clearenv --setenv ...
        --tmpfs HIDDEN... --bind WRITABLE... -- python -m ipykernel_launcher -f CONN

so the kernel sees a read-only system, no network, a private ``/tmp``, and none of the
hidden folders (the grading output folder with every gradebook and submission, the
input folder, the repository's ``solutions/``). Only its own working folder and the
folder holding its connection file and sockets are bound back in. TCP cannot cross
``--unshare-net``, so the kernel talks over ``ipc`` (Unix sockets) in that folder.
Without bubblewrap the same kernel runs unsandboxed (with the memory limit) and the
command says so loudly.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

#: Environment variables the kernel may see (everything else is dropped, including
#: ``NBGRADER_EXECUTION``, so student code cannot tell it is being graded).
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "AUTOGRADER_DEVICES", "CUDA_VISIBLE_DEVICES")
#: Fixed environment for every kernel: one thread (workers run side by side), seeded hashes.
FIXED_ENV = {"HOME": "/tmp", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
             "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1"}


def bwrap_path() -> str | None:
    """Path of a working ``bwrap`` (it can start a sandbox here), or None."""
    path = shutil.which("bwrap")
    if not path:
        return None
    probe = subprocess.run([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                            "--die-with-parent", "true"], capture_output=True)
    return path if probe.returncode == 0 else None


def gpu_devices() -> list[str]:
    """NVIDIA device files (``/dev/nvidia0``, ``/dev/nvidiactl``...), empty without a GPU."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())


def needed_under_tmp() -> list[Path]:
    """The folders a kernel must read (the Python environment, the course package) that lie
    under ``/tmp``, which the sandbox replaces with an empty private one. A checkout or
    virtual environment under ``/tmp`` (as CI's clones may be) is bound back read-only;
    hidden folders inside it are mounted over afterwards."""
    from .. import REPO_ROOT

    tmp = Path("/tmp").resolve()
    found: list[Path] = []
    for path in (Path(sys.prefix), Path(sys.base_prefix), REPO_ROOT):
        for candidate in {path, path.resolve()}:
            if candidate.is_relative_to(tmp) and candidate not in found:
                found.append(candidate)
    return found


@dataclass
class Policy:
    """What one kernel may see and use.

    ``hidden``: folders replaced by an empty tmpfs; ``writable``: folders bound back in
    read-write (they may lie inside hidden ones); ``memory_mb``: address-space limit
    (RLIMIT_AS); ``bwrap``: path of bwrap, or None to run without a sandbox.
    """

    hidden: list[Path] = field(default_factory=list)
    writable: list[Path] = field(default_factory=list)
    memory_mb: int | None = 4096
    bwrap: str | None = None

    def env(self) -> dict[str, str]:
        kept = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
        kept["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{kept.get('PATH', '/usr/bin:/bin')}"
        return {**kept, **FIXED_ENV}

    def wrap(self, cmd: list[str], cwd: Path | None = None) -> list[str]:
        """``cmd`` prefixed with the limits and (when available) the sandbox."""
        out: list[str] = []
        gpus = gpu_devices()
        if self.memory_mb:
            # CUDA reserves huge address ranges, so with a GPU the limit is on the data segment
            kind = "--data" if gpus else "--as"
            out += ["prlimit", f"{kind}={self.memory_mb * 1024 * 1024}", "--core=0", "--"]
        env = self.env()
        if not self.bwrap:
            return out + ["env", "-i", *[f"{k}={v}" for k, v in env.items()], *cmd]
        out += [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--unshare-all", "--die-with-parent", "--clearenv"]
        for key, value in env.items():
            out += ["--setenv", key, value]
        for path in needed_under_tmp():  # a private /tmp must not hide Python or the course package
            out += ["--ro-bind", str(path), str(path)]
        for dev in gpus:  # --dev /dev is a minimal /dev: the GPU's device files are bound in
            out += ["--dev-bind", dev, dev]
        for path in self.hidden:
            if Path(path).exists():
                out += ["--tmpfs", str(path)]
        for path in self.writable:
            out += ["--bind", str(path), str(path)]
        if cwd is not None:
            out += ["--chdir", str(cwd)]
        return out + ["--", *cmd]


def startup_arguments(course_modules: list[str] | None = None) -> list[str]:
    """ipykernel arguments that run :func:`autograder.grading.kernel_guard.install` (for
    ``course_modules``, default every chapter) before the first cell."""
    line = f"import autograder.grading.kernel_guard as _g; _g.install({course_modules!r}); del _g"
    return [f"--IPKernelApp.exec_lines={[line]!r}"]


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run under :attr:`policy`, talking over ``ipc``.

    Class attributes set by the worker before grading: ``policy`` and ``runtime_root``
    (a folder, bound into the sandbox, for connection files and sockets).
    """

    policy: Policy = Policy()
    runtime_root: Path = Path(tempfile.gettempdir())
    #: Arguments that make ipykernel run the integrity snapshot before any student code
    #: (the worker names the assignment's course modules; by default every chapter).
    startup: list[str] = startup_arguments()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        run = Path(tempfile.mkdtemp(prefix="kernel-", dir=self.runtime_root))
        self._run_dir = run
        self.transport = "ipc"
        self.ip = str(run / "ipc")
        self.connection_file = str(run / "kernel.json")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return [sys.executable if part in ("python", "python3") else part for part in cmd] + self.startup

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # A SIGINT sent to the process group would hit bwrap, which dies of it (and takes the
        # kernel along); an interrupt *message* makes the kernel signal only itself.
        self.kernel_spec.interrupt_mode = "message"
        cwd = kw.get("cwd")
        policy = Policy(self.policy.hidden, list(self.policy.writable) + [self._run_dir] + ([Path(cwd)] if cwd else []),
                        self.policy.memory_mb, self.policy.bwrap)
        kw["env"] = policy.env()
        return await super()._async_launch_kernel(policy.wrap(kernel_cmd, cwd=cwd), **kw)
