"""Grading a batch of submissions: ``python -m autograder grade`` (see :mod:`.cli`).

Stages (:mod:`.batch` runs them): :mod:`.intake` (who handed in what, LMS naming) ->
:mod:`.pool` of :mod:`.worker` processes, each grading one submission at a time with
nbgrader, whose :mod:`.execute` runs answer cells in the student's :mod:`.sandbox` kernel
and test cells in the referee (:mod:`autograder.referee`) -> :mod:`.merge` (main gradebook,
result cache) -> :mod:`.report` (grades.csv, summary.html), :mod:`.similarity`, :mod:`.lms`;
:mod:`.feedback` pages come from the workers. What crosses the stages is typed in
:mod:`.answer`; :mod:`.cli` only parses arguments.
"""

import sys as _sys
import warnings as _warnings

# nbformat imports jsonschema, which eagerly imports its optional IRI format checker
# rfc3987_syntax; that builds dozens of Earley parsers at import, 1.5 s of CPU in every
# grading process (python-jsonschema/jsonschema#1428). No notebook or nbgrader schema uses
# the IRI formats, so the grader's processes go without it.
_sys.modules.setdefault("rfc3987_syntax", None)

# Hand-ins written by older Jupyter versions have no cell ids; nbformat warns about each one
# on every read. Nothing in grading depends on them.
_warnings.filterwarnings("ignore", message="Cell is missing an id field")
