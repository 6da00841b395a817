"""Grading seconds per notebook, chapter by chapter: what a cluster is sized with.

    .venv/bin/python bench/chapter_seconds.py [--n 4]

Grades ``n`` copies of each assignment's solution with ``python -m autograder grade
--workers 2`` and prints the median of the grading process's own seconds per notebook
(``OUT/results/<student>.json``), per assignment. The README's capacity paragraph quotes it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    from corpus.model import NOTEBOOK
    from nbgrader_e2e import grade_batch, student_notebook

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chapters-") as tmp:
        tmp = Path(tmp)
        for assignment, notebook in NOTEBOOK.items():
            subs = {f"s{i}": student_notebook(assignment, notebook, tmp / assignment / "in" / f"s{i}" / notebook)
                    for i in range(args.n)}
            rows = grade_batch(tmp / assignment / "grade", assignment, subs)
            seconds = [json.loads(p.read_text())["answer"]["seconds"]
                       for p in (tmp / assignment / "grade" / "out" / "results").glob("*.json")]
            statuses = sorted({r.status for r in rows.values()})
            print(f"{assignment}: {statistics.median(seconds):.2f} s per notebook per worker "
                  f"(median of {len(seconds)}; {', '.join(statuses)})", flush=True)


if __name__ == "__main__":
    main()
