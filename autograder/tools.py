"""Running the command-line tools installed beside this Python (nbgrader, jupyter-book).

nbgrader itself shells out to ``alembic`` by name, so the tools' folder goes first on
``PATH`` even when the virtual environment is not activated.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with :data:`BIN` first on ``PATH``, plus ``extra``."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def run_tool(name: str, *args: str, cwd: Path | None = None, capture: bool = True) -> subprocess.CompletedProcess:
    """Run ``BIN/name ARGS`` (never raises on a non-zero exit; check ``returncode``)."""
    return subprocess.run([str(BIN / name), *args], cwd=cwd, env=tool_env(), capture_output=capture, text=True)
