"""``python -m autograder data fetch|where``: get the FashionMNIST files, or say where they are looked for."""
from __future__ import annotations

import sys

from .fashion_mnist import DataNotFound, candidate_dirs, fetch, find_raw_dir
from .idx import IDXError


def data_command(action: str, folder: str | None = None) -> int:
    """Run one action; returns the exit status (messages on stdout, errors on stderr)."""
    if action == "where":
        for path in candidate_dirs(folder):
            print(f"searched: {path}")
        found = find_raw_dir(folder)
        print(f"found: {found}" if found else "found: nothing (run `python -m autograder data fetch`)")
        return 0 if found else 1
    try:
        target = fetch(folder)
    except (DataNotFound, IDXError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"FashionMNIST files verified in {target}")
    return 0
