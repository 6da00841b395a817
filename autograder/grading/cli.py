"""``python -m autograder grade SUBMISSIONS --assignment NAME --out DIR [options]``.

The only module that reads the command line: it turns the arguments into an
:class:`.options.Options` (a bad value, a bad roster, stops here, before any work) and hands
it to :func:`.batch.grade`.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .options import Options, ReportOptions, Roster


def _roster(text: str) -> Roster:
    """``--roster``'s type: the file, read once at parse time."""
    from .lms import RosterError, read_roster

    try:
        return Roster(Path(text), read_roster(Path(text)))
    except RosterError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .lms import KINDS

    defaults, reports = Options(Path(), "", Path(), 1), ReportOptions()
    parser.add_argument("submissions", type=Path,
                        help="folder with one sub-folder per student, or a folder/zip of LMS-named notebooks")
    parser.add_argument("--assignment", required=True, help="assignment name (a folder of solutions/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (grades.csv, feedback/, summary.html)")
    parser.add_argument("--workers", type=_positive, default=os.cpu_count() or 1,
                        help="parallel workers (default: cores)")
    parser.add_argument("--cell-timeout", type=_positive, default=defaults.cell_timeout,
                        help=f"seconds per cell, test cells included (default {defaults.cell_timeout})")
    parser.add_argument("--notebook-timeout", type=_positive, default=defaults.notebook_timeout,
                        help=f"wall-clock seconds per submission (default {defaults.notebook_timeout}); "
                             "also each kernel's CPU-time limit")
    parser.add_argument("--memory-mb", type=_positive, default=defaults.memory_mb,
                        help=f"memory limit per kernel in MiB (default {defaults.memory_mb})")
    parser.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (not recommended)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:PORT; see README)")
    parser.add_argument("--similarity-threshold", type=_share, default=reports.similarity_threshold, metavar="FLOAT",
                        help="flag pairs of students when this share (0-1) of one's answer code is in the other's "
                             f"(default {reports.similarity_threshold:g}); evidence for a person, it changes no score")
    parser.add_argument("--no-similarity", action="store_true", help="skip the similarity report")
    parser.add_argument("--lms", choices=KINDS, help="also write the grades as that LMS's gradebook import file")
    parser.add_argument("--roster", type=_roster, metavar="FILE",
                        help="CSV with columns identifier, name, email, lms_id: maps student ids to the LMS's ids")


def options(args: argparse.Namespace) -> Options:
    """The parsed command line as :class:`.options.Options`."""
    reports = ReportOptions(similarity=not args.no_similarity, similarity_threshold=args.similarity_threshold,
                            lms=args.lms, roster=args.roster)
    return Options(submissions=args.submissions, assignment=args.assignment, out=args.out, workers=args.workers,
                   cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                   sandbox=not args.no_sandbox, dask=args.dask, reports=reports)


def grade(args: argparse.Namespace) -> int:
    from .batch import grade as run

    return run(options(args))
