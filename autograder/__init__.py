"""The course package: the checks test cells call, and the commands that build the
book, release the exercises and grade submissions (``python -m autograder --help``).

Its student-side part is also published alone, as the student kit (see
:mod:`autograder.student_kit`), with the same version.
"""

import os
from pathlib import Path

#: The course package's version, which is also the student kit's (pyproject.toml reads it
#: from here) and which the release command stamps into every exercise notebook.
__version__ = "0.1.0"

#: The repository root (where ``_config.yml``, ``solutions/`` and ``exercises/`` live).
REPO_ROOT = Path(__file__).resolve().parent.parent


def user_cache() -> Path:
    """The course's per-user cache folder, ``$XDG_CACHE_HOME/autograder`` (``~/.cache/...``;
    it need not exist): the FashionMNIST files, the grader's prepared courses."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autograder"

from .kit_version import check_release  # noqa: E402

# A notebook released with another version of the kit says so before any check runs.
check_release(__version__)
