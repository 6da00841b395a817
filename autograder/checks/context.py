"""The settings a run of checks works under: the secret that random inputs are drawn from.

In JupyterLab (local mode) the secret is 0, so a student sees the same inputs every run
and can reproduce a failure. The referee grades under :func:`using` with a secret drawn
per run: the random cases are then ones no code written in advance can know (the fixed
cases that teach, such as +-88 and +-1000, stay fixed). The settings are a context
variable, set only by the referee around each test cell it runs.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """``secret``: mixed into every seed the cases use (0: the public, reproducible inputs)."""

    secret: int = 0


_CURRENT: contextvars.ContextVar[Settings] = contextvars.ContextVar("autograder_checks_settings", default=Settings())


def current() -> Settings:
    return _CURRENT.get()


@contextlib.contextmanager
def using(settings: Settings):
    """Run the checks inside the ``with`` block under ``settings``."""
    token = _CURRENT.set(settings)
    try:
        yield settings
    finally:
        _CURRENT.reset(token)


def seed(base: int) -> int:
    """The generator seed for a case's ``base`` seed: ``base`` itself in local mode, else a
    63-bit mix of ``base`` and the secret."""
    secret = current().secret
    if not secret:
        return base
    digest = hashlib.blake2b(f"{secret}:{base}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
