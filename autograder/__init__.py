"""The course package: the checks test cells call, and the commands that build the
book, release the exercises and grade submissions (``python -m autograder --help``)."""

from pathlib import Path

#: The repository root (where ``_config.yml``, ``solutions/`` and ``exercises/`` live).
REPO_ROOT = Path(__file__).resolve().parent.parent
