"""``python -m autograder grade SUBMISSIONS --assignment NAME --out DIR [options]``: the arguments.

This module only parses; :mod:`.batch` does the work.
"""
from __future__ import annotations

import os
from pathlib import Path


def add_arguments(parser) -> None:
    from .report import add_report_arguments

    parser.add_argument("submissions", type=Path, help="folder with one sub-folder per student, or a folder/zip of LMS-named notebooks")
    parser.add_argument("--assignment", required=True, help="assignment name (a folder of solutions/)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (grades.csv, feedback/, summary.html)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel workers (default: cores)")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell, test cells included (default 120)")
    parser.add_argument("--notebook-timeout", type=int, default=900,
                        help="wall-clock seconds per submission (default 900); also each kernel's CPU-time limit")
    parser.add_argument("--memory-mb", type=int, default=6144, help="memory limit per kernel in MiB (default 6144)")
    parser.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (not recommended)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:PORT; see README)")
    add_report_arguments(parser)


def grade(args) -> int:
    from .batch import Options, grade as run

    opts = Options(submissions=args.submissions, assignment=args.assignment, out=args.out, workers=args.workers,
                   cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                   no_sandbox=args.no_sandbox, dask=args.dask)
    return run(opts, args)
