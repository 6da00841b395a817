"""The student's kernel in a sandbox (bubblewrap), with its resources bounded.

The rest of the grader imports from here only:

* :mod:`.policy`: the bwrap command line (what the kernel sees) and the per-process limits
  (:class:`Policy`, :class:`Limits`, :func:`bwrap_path`);
* :mod:`.uids`: the unprivileged user each worker's kernels run as, when the grader is
  root (:func:`claim_uid`);
* :mod:`.cgroups`: one cgroup per kernel, bounding the memory and the processes of the
  whole sandbox, where the machine has usable cgroups (:func:`find_parent`, :class:`Usage`);
* :mod:`.processes`: finding the sandbox's processes and stopping them;
* :mod:`.kernel`: the kernel manager that starts each kernel in all of that and stops what
  its cells leave running (:class:`SandboxKernelManager`).

When the grader runs as root the kernel runs as an unprivileged user of its own (one per
worker). Without bubblewrap the same kernel runs unsandboxed, under the same limits, and
the command says so loudly.
"""
from .cgroups import CgroupParent, Usage, find_parent
from .kernel import SandboxKernelManager
from .policy import Limits, Policy, bwrap_path, kernel_package
from .uids import claim_uid

__all__ = ["CgroupParent", "Limits", "Policy", "SandboxKernelManager", "Usage", "bwrap_path", "claim_uid",
           "find_parent", "kernel_package"]
