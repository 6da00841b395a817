"""The unprivileged users kernels run as when the grader is root: one per worker, claimed."""
from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path
from typing import IO

UID_RANGE = range(61000, 62000)


def claim_uid(locks: Path = Path(tempfile.gettempdir())) -> tuple[int, IO] | None:
    """An unprivileged uid no other grading worker on this machine holds and no process runs
    as: ``(uid, lock)``, the lock held for as long as the returned file object is open (the
    worker's life). Process limits count per user, so two batches graded side by side must
    never share one. None when the range is used up."""
    busy = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
            busy.add(int(uid_line.split()[1]))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    for uid in UID_RANGE:
        if uid in busy:
            continue
        handle = open(locks / f"autograder-kernel-uid-{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return uid, handle
    return None
