"""Building the website with Jupyter Book 1.

The build is strict: any Sphinx warning fails it (``-W -n --keep-going``), and a cell
that raises fails it (``nb_execution_raise_on_error`` in ``_config.yml``).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from . import REPO_ROOT
from .tools import BIN, tool_env


def build_command(repo: Path = REPO_ROOT, output: Path | None = None) -> list[str]:
    """The ``jupyter-book build`` command line; ``output`` replaces ``repo`` as the place for ``_build``."""
    cmd = [str(BIN / "jupyter-book"), "build", str(repo), "--builder", "html", "-W", "-n", "--keep-going"]
    if output is not None:
        cmd += ["--path-output", str(output)]
    return cmd


def build(repo: Path = REPO_ROOT, output: Path | None = None) -> Path:
    """Build the site; return the folder holding ``index.html``. Raises on any failure."""
    subprocess.run(build_command(repo, output), check=True, env=tool_env())
    return (output or repo) / "_build" / "html"
