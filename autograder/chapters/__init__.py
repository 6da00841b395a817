"""Per-chapter facts the hidden tests use: torch references, forbidden shortcuts and
hints for the known mistakes of each exercise. One module per chapter."""

from __future__ import annotations

import importlib

#: The chapter module of each assignment (folder of ``solutions/``).
MODULES = {
    "01-activations": "activations", "02-sigmoid": "sigmoid", "03-softmax": "softmax", "04-dim": "dim",
    "05-losses": "losses", "06-layers": "layers", "07-fashion-mnist": "fashion_mnist",
}


def exercise(assignment: str):
    """The rule table (:class:`~autograder.checks.rules.Exercise`) of ``assignment``, or
    None for an assignment the course does not know."""
    name = MODULES.get(assignment)
    if name is None:
        return None
    return importlib.import_module(f"{__name__}.{name}").EXERCISE
