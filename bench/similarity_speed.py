"""Similarity report speed and accuracy on generated chapter 1 classes.

    .venv/bin/python bench/similarity_speed.py [--n 200] [--copies 10] [--classes 4]

Generates ``--n`` students of chapter 1 (``tests/similarity_corpus.py``: honest students
pick each function's idiom by popularity and write it with their own habits; ``--copies``
of them copied another student, renamed every variable and reordered the functions),
writes each as a notebook and reads its answer code back with ``answer_sources`` as the
grader does. Prints the time of :func:`find_similar` on a cold cache, on a rerun with
nothing changed, and on a rerun with one student changed; then, over ``--classes``
classes, how many honest pairs and copies reach each threshold (what
``DEFAULT_THRESHOLD`` was chosen from).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def class_codes(n: int, copies: int, seed: int, tmp: Path) -> tuple[dict[str, str], list[tuple[str, str]]]:
    import similarity_corpus as sc
    from autograder.notebook import answer_sources, read

    source = read(REPO / "solutions" / sc.A / sc.NB)
    students, pairs = sc.class_of(n, copies, seed)
    codes = {}
    for name, cells in students.items():
        path = sc.notebook(cells, tmp / f"class{seed}" / name / sc.NB)
        codes[name] = "\n\n".join(answer_sources(read(path), source))
    return codes, pairs


def boilerplate() -> str:
    import similarity_corpus as sc
    from autograder.notebook import answer_sources, read

    return "\n\n".join(answer_sources(read(REPO / "exercises" / sc.A / sc.NB), read(REPO / "solutions" / sc.A / sc.NB)))


def timed(out: Path, codes: dict[str, str], bp: str):
    from autograder.grading.similarity import find_similar

    start = time.perf_counter()
    report = find_similar(out, "01-activations", codes, bp)
    return time.perf_counter() - start, report


def main() -> None:
    from autograder.grading.similarity import DEFAULT_THRESHOLD, all_shares

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--classes", type=int, default=4)
    args = parser.parse_args()
    bp = boilerplate()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        tmp = Path(tmp)
        codes, copies = class_codes(args.n, args.copies, 0, tmp)
        cold, report = timed(tmp / "out", codes, bp)
        warm, _ = timed(tmp / "out", codes, bp)
        first = sorted(codes)[0]
        one, _ = timed(tmp / "out", dict(codes, **{first: codes[first] + "\n\ndef helper(v):\n    return v + 1\n"}), bp)
        pairs = args.n * (args.n - 1) // 2
        print(f"find_similar, {args.n} students ({pairs} pairs), threshold {DEFAULT_THRESHOLD:g}:")
        print(f"  cold cache {cold:.2f} s; rerun, nothing changed {warm:.2f} s; rerun, one student changed {one:.2f} s")
        found = {frozenset((p.student_a, p.student_b)) for p in report.pairs}
        print(f"  flagged {len(report.pairs)} pairs; copies flagged {sum(frozenset(c) in found for c in copies)}/{len(copies)}")

        honest, copied = [], []
        for seed in range(args.classes):
            codes, copies = class_codes(args.n, args.copies, seed, tmp)
            wanted = {frozenset(c) for c in copies}
            for (a, b), shares in all_shares(tmp / f"shares{seed}", codes, bp).items():
                (copied if frozenset((a, b)) in wanted else honest).append(max(shares))
        print(f"\nover {args.classes} classes: {len(honest)} honest pairs, {len(copied)} copies "
              f"(lowest copy score {min(copied):.2f})")
        for threshold in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
            h = sum(s >= threshold for s in honest)
            print(f"  threshold {threshold:.2f}: honest pairs flagged {h} ({100 * h / len(honest):.3f} %), "
                  f"copies flagged {sum(s >= threshold for s in copied)}/{len(copied)}")


if __name__ == "__main__":
    main()
