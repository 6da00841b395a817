"""Grading a batch of submissions: ``python -m autograder grade`` (see :mod:`.cli`).

Modules: :mod:`.intake` (finding submissions, LMS naming), :mod:`.sandbox` (the kernel
under bubblewrap with limits), :mod:`.kernel_guard` (runs inside the kernel: integrity
snapshot), :mod:`.inject` (nbgrader preprocessors adding the guard to test cells),
:mod:`.verdict` (scores from an autograded notebook), :mod:`.worker` (one process
grading one submission at a time), :mod:`.pool` (N workers with time limits),
:mod:`.merge` (main gradebook, result cache), :mod:`.feedback`, :mod:`.report`.
"""

import sys as _sys

# nbformat imports jsonschema, which eagerly imports its optional IRI format checker
# rfc3987_syntax; that builds dozens of Earley parsers at import, 1.5 s of CPU in every
# grading process (python-jsonschema/jsonschema#1428). No notebook or nbgrader schema uses
# the IRI formats, so the grader's processes go without it.
_sys.modules.setdefault("rfc3987_syntax", None)
