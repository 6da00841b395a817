"""``python -m autograder COMMAND``: book, release, data (FashionMNIST files), grade (instructors)."""
from __future__ import annotations

import argparse
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("book", help="build the website into _build/html (strict: warnings and cell errors fail)")
    rel = sub.add_parser("release", help="regenerate exercises/ from solutions/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    data = sub.add_parser("data", help="FashionMNIST files: `data fetch` downloads them, `data where` shows where they are looked for")
    data.add_argument("action", choices=["fetch", "where"])
    data.add_argument("--dir", default=None, help="folder to use (default: $FASHION_MNIST_DIR, then the user cache)")
    from .grading.cli import add_arguments

    add_arguments(sub.add_parser("grade", help="grade a batch of submissions (instructors; see README)"))
    args = parser.parse_args(argv)

    if args.command == "book":
        from .book import build

        try:
            html = build()
        except subprocess.CalledProcessError as err:
            print(f"book build failed (exit {err.returncode}); see the messages above", file=sys.stderr)
            return 1
        print(f"The website is at {html / 'index.html'}")
        return 0
    if args.command == "release":
        from .release import ReleaseError, release

        try:
            written = release(names=args.assignments or None)
        except ReleaseError as err:
            print(f"release refused:\n{err}", file=sys.stderr)
            return 1
        for path in written:
            print(f"wrote {path}")
        return 0
    if args.command == "data":
        from .data.cli import data_command

        return data_command(args.action, args.dir)
    if args.command == "grade":
        from .grading.cli import grade

        return grade(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
