"""One ``nbgrader autograde`` of one student in a worker's scratch course: its config
(:func:`nbgrader_config`) and the kernel a worker starts ahead of it (:class:`KernelAhead`).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

if TYPE_CHECKING:
    from .sandbox import Policy, SandboxKernelManager


#: The kernel's own options: no history file; torch imported at start (loaded, not bound to
#: a name: a notebook that forgets `import torch` fails here as it does for the student).
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:",
                    "--IPKernelApp.exec_lines=['import torch as _warm; del _warm']"]


def nbgrader_config(course: Path, cell_timeout: int, policy: Policy, run_dir: Path, kernel_ahead=None) -> Config:
    """autograde's config: the usual sanitising, then :class:`~.execute.TwoSidedExecute`, whose
    kernels run under ``policy``, their connection files and sockets in ``run_dir``;
    ``kernel_ahead``: a function giving a kernel started ahead of time, or None."""
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

    from .execute import TwoSidedExecute

    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    c.TwoSidedExecute.timeout = cell_timeout
    c.TwoSidedExecute.source_dir = str(course / "source")
    # after a timeout the kernel is interrupted; give it time to answer (a loaded machine is slow)
    c.TwoSidedExecute.iopub_timeout = 30
    c.TwoSidedExecute.raise_on_iopub_timeout = False
    c.TwoSidedExecute.extra_arguments = KERNEL_ARGUMENTS
    # every output is in once the last cell finished; a graceful shutdown only waits (about 1 s)
    c.TwoSidedExecute.shutdown_kernel = "immediate"
    c.TwoSidedExecute.kernel_ahead = kernel_ahead
    c.SandboxKernelManager.policy = policy  # nbclient hands its config to the managers it makes
    c.SandboxKernelManager.runtime_root = str(run_dir)
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [TwoSidedExecute, LimitOutput, SaveAutoGrades, AssignLatePenalties]
    return c


class KernelAhead:
    """The first notebook's kernel, started before ``autograde`` so that it boots (and imports
    torch) while nbgrader restores the locked cells and hidden tests. The executor takes it
    through its ``kernel_ahead`` (see :func:`nbgrader_config`); one that no notebook took is
    stopped by :meth:`drop`."""

    def __init__(self, policy: Policy, run_dir: Path):
        self.policy, self.run_dir = policy, run_dir
        self._km: SandboxKernelManager | None = None

    def start(self) -> None:
        from jupyter_core.utils import run_sync

        from .sandbox import SandboxKernelManager

        km = SandboxKernelManager(kernel_name="python3", policy=self.policy, runtime_root=str(self.run_dir))
        try:
            run_sync(km.start_kernel)(extra_arguments=list(KERNEL_ARGUMENTS))
        except Exception as err:  # noqa: BLE001 - the executor starts one itself then
            sys.stderr.write(f"--- a kernel could not be started ahead: {err!r}\n")
            return
        self._km = km

    def take(self) -> SandboxKernelManager | None:
        """The kernel started ahead, once (None after: a second notebook starts its own)."""
        km, self._km = self._km, None
        return km

    def drop(self) -> None:
        """Stop a kernel started ahead that no notebook took (nbgrader stopped before running)."""
        from jupyter_core.utils import run_sync

        km = self.take()
        if km is not None:
            run_sync(km.shutdown_kernel)(now=True)
