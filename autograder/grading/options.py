"""What one ``grade`` run was asked to do, as typed values (:class:`Options`).

:mod:`.cli` is the only module that reads the command line; it builds these, and every stage
of :mod:`.batch` and :mod:`.report` takes them, never an ``argparse.Namespace``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .lms import RosterEntry
from .similarity import DEFAULT_THRESHOLD


@dataclass(frozen=True)
class Roster:
    """``--roster FILE``, read once when the command line is parsed (a bad file stops the run
    before any grading): its path, for messages, and its entries by student id."""

    path: Path
    entries: dict[str, RosterEntry]


@dataclass(frozen=True)
class ReportOptions:
    """The reports beyond ``grades.csv`` and ``summary.html``."""

    #: Write the similarity report (``--no-similarity`` turns it off).
    similarity: bool = True
    #: Share (0-1) of one student's answer code found in another's that flags the pair.
    similarity_threshold: float = DEFAULT_THRESHOLD
    #: Also write this LMS's gradebook import file (:data:`.lms.KINDS`), or None.
    lms: str | None = None
    #: Maps the grader's student ids to the LMS's (used only with ``lms``).
    roster: Roster | None = None


@dataclass(frozen=True)
class Options:
    """One ``grade`` run (see :mod:`.cli` for each option's flag and default)."""

    submissions: Path
    assignment: str
    out: Path
    workers: int
    #: Seconds per cell, test cells included.
    cell_timeout: int = 120
    #: Wall-clock seconds per submission; also each kernel's CPU-time limit.
    notebook_timeout: int = 900
    #: Memory limit per kernel, MiB.
    memory_mb: int = 6144
    #: Run kernels in bubblewrap (``--no-sandbox`` turns it off).
    sandbox: bool = True
    #: The address of a Dask scheduler (``tcp://HOST:PORT``): grade on its cluster (:mod:`.cluster`).
    dask: str | None = None
    reports: ReportOptions = field(default_factory=ReportOptions)
