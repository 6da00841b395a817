"""Which student kit a released notebook was made for, and what a student is told when the
kit installed beside it comes from another release.

The release command (:mod:`autograder.release`) writes one line into each notebook's
locked set-up cell, which runs in the student's kernel before any test cell::

    COURSE_KIT = "0.1.0"  # the course's student kit this notebook was released with

(and the same version in the notebook's metadata, ``course_kit``). When a test cell first
imports the kit (``from autograder.checks import ...``), :func:`check_release` compares it
with the kit's own version (``autograder.__version__``) and, if they differ, raises
:class:`KitMismatch`: one message naming both versions and what to install, instead of an
``ImportError`` or a check failing for a reason that has nothing to do with the answer.

Nothing here runs outside IPython or without the stamp: the grader's referee (which runs
test cells in its own process, where the notebook's variables are not) and scripts that
import the package are never stopped by it. The line itself imports nothing, so it runs
unchanged in the grader's sandboxed kernel, which has no ``autograder`` package.
"""
from __future__ import annotations

import sys
import textwrap

#: The variable the set-up cell defines.
STAMP = "COURSE_KIT"
#: Key of the notebook metadata holding the same version.
METADATA_KEY = "course_kit"
#: The distribution's name, and its wheel's file name for a version.
DIST_NAME = "autograder-kit"
WHEEL = "autograder_kit-{version}-py3-none-any.whl"
#: Where the course website publishes the wheel, relative to the site's root.
SITE_FOLDER = "kit"


def wheel_name(version: str) -> str:
    return WHEEL.format(version=version)


def stamp_line(version: str) -> str:
    """The line the release adds to a notebook's set-up cell."""
    return f'{STAMP} = "{version}"  # the course\'s student kit this notebook was released with'


class KitMismatch(ImportError):
    """The notebook and the installed kit come from different releases of the course."""

    WIDTH = 80

    def __init__(self, released: str, installed: str):
        self.released, self.installed = released, installed
        super().__init__(
            f"This notebook was released with the course's student kit {released}, "
            f"but the kit installed here is {installed}: their tests may not agree. "
            f"Install the kit of the notebook's release, {wheel_name(released)} (the link is in "
            f"the \"Exercise for this chapter\" box of the course website): "
            f"pip install {wheel_name(released)} ; then restart the kernel. "
            f"Or download the notebook again from the website that offers kit {installed}."
        )

    def _render_traceback_(self) -> list[str]:
        """What IPython (JupyterLab, ``nbgrader validate``) shows: the message, wrapped,
        without the import machinery's stack."""
        name = type(self).__name__
        return textwrap.wrap(f"{name}: {self}", self.WIDTH, break_on_hyphens=False, break_long_words=False)


def released_version() -> str | None:
    """The kit version the running notebook was released with (the set-up cell's stamp),
    or None outside IPython or before the set-up cell ran."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    value = getattr(shell, "user_ns", {}).get(STAMP) if shell is not None else None
    return value if isinstance(value, str) else None


def check_release(installed: str) -> None:
    """Raise :class:`KitMismatch` when the running notebook was released with another kit."""
    released = released_version()
    if released is not None and released != installed:
        raise KitMismatch(released, installed)
