"""Running an assignment's test cells in this process, against code defined here.

The referee's own :func:`~autograder.referee.cell.run_test_cell` runs each test cell (the
source notebook's, hidden tests included) in a fresh namespace; the
names it takes from "the notebook" come from a namespace here (:class:`LocalNotebook`),
where the notebook's set-up and answer code ran. With ``allow_all`` every operator is
allowed (:func:`everything_allowed`), so the checks judge values only (the autograd rules of
hand-written backwards still hold). :func:`in_child` runs such a check in a forked child,
for code that changes the process it runs in.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from autograder import REPO_ROOT
from autograder import chapters as chapters_package
from autograder import notebook as nbfacts
from autograder.checks.context import Settings
from autograder.referee.cell import run_test_cell, setup_namespace


def source_notebook(assignment: str):
    [path] = sorted((REPO_ROOT / "solutions" / assignment).glob("*.ipynb"))
    return nbfacts.read(path)


def test_sources(assignment: str) -> dict[str, str]:
    """``{grade_id: test cell source}`` in notebook order, hidden tests included."""
    return {gid: nbfacts.source(c) for gid, c in nbfacts.test_cells(source_notebook(assignment)).items()}


def notebook_code(path: Path | None, assignment: str) -> list[str]:
    """The code a kernel runs for the notebook at ``path`` (the solution when None): set-up
    cells, answer cells and the student's own cells, in order, IPython magics left out."""
    source_nb = source_notebook(assignment)
    known = nbfacts.kinds_by_id(source_nb)
    nb = source_nb if path is None else nbfacts.read(path)
    runs = (nbfacts.CellKind.SETUP, nbfacts.CellKind.ANSWER, nbfacts.CellKind.EXTRA)
    codes = []
    for cell in nb.cells:
        if nbfacts.submitted_kind(cell, known) in runs:
            text = nbfacts.source(cell) if path is not None else nbfacts.solution_code(nbfacts.source(cell))
            codes.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()))
    return codes


class LocalNotebook:
    """The notebook's namespace, seen by ``run_test_cell`` as its session: the names it asks
    for, and the default dtype (the notebook's code ran in this process)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def lookup(self, names: list[str]) -> dict[str, Any]:
        return {n: self.namespace[n] for n in names if n in self.namespace}

    def default_dtype(self):
        import torch

        return torch.get_default_dtype()


class _AllowAll(dict):
    def __getitem__(self, key):
        return None


@contextlib.contextmanager
def everything_allowed():
    """Inside, every operator is allowed: each chapter's ``ALLOWED[...]`` is None, and so is
    every rule's ``allowed_ops()`` (what the checks that take a rule ask): only values are judged."""
    import importlib
    import pkgutil

    from autograder.checks.rules import Rule

    modules = [importlib.import_module(f"autograder.chapters.{m.name}")
               for m in pkgutil.iter_modules(chapters_package.__path__)]
    saved = {m: m.ALLOWED for m in modules if hasattr(m, "ALLOWED")}
    allowed_ops = Rule.allowed_ops
    for module in saved:
        module.ALLOWED = _AllowAll()
    Rule.allowed_ops = lambda self: None
    try:
        yield
    finally:
        Rule.allowed_ops = allowed_ops
        for module, table in saved.items():
            module.ALLOWED = table


def chapter_import(assignment: str) -> str:
    """The line the assignment's test cells import their chapter module with (``... as ch``)."""
    return next(line for text in test_sources(assignment).values() for line in text.splitlines()
                if line.startswith("from autograder.chapters import"))


def run_cells(assignment: str, codes: Iterable[str], grade_ids: Iterable[str], *, overrides: dict | None = None,
              sources: dict[str, str] | None = None, allow_all: bool = False,
              secret: int = 0) -> dict[str, tuple[bool, str]]:
    """Run ``codes`` (set-up and answer code) in one namespace, put ``overrides`` into it, then
    each test cell in ``grade_ids`` (the source notebook's, hidden tests included, or the text
    ``sources`` gives for it): ``{grade_id: (passed, "ErrorType: message")}``.
    ``secret``: the run's secret (0: the public inputs; else inputs drawn as when grading)."""
    setup = nbfacts.setup_imports(source_notebook(assignment))
    namespace = setup_namespace(setup)
    for text in codes:
        exec(compile(text, "<notebook cell>", "exec"), namespace)  # the corpus's own code
    namespace.update(overrides or {})
    sources = {**test_sources(assignment), **(sources or {})}
    results = {}
    with everything_allowed() if allow_all else contextlib.nullcontext():
        for gid in grade_ids:
            result = run_test_cell(gid, sources[gid], setup, LocalNotebook(namespace), Settings(secret=secret)).result
            results[gid] = (result.passed, f"{result.error_type}: {result.message}" if not result.passed else "")
    return results


def in_child(fn: Callable[[], Any], timeout: float = 300.0) -> Any:
    """``fn()`` run in a forked child (one torch thread, its own process group), its JSON-able
    result sent back through a file; an exception in the child, or no answer within
    ``timeout`` seconds, comes back as ``{"child error": "..."}``. Whatever the child started
    is ended with it (its process group)."""
    with tempfile.TemporaryDirectory() as folder:
        answer = Path(folder) / "answer.json"
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.setpgid(0, 0)
            try:
                import torch

                torch.set_num_threads(1)
                data = json.dumps({"value": fn()})
            except BaseException as err:  # noqa: BLE001 - reported to the parent
                data = json.dumps({"child error": f"{type(err).__name__}: {err}"})
            answer.write_text(data)
            os._exit(0)
        end = time.monotonic() + timeout
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < end:
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if not answer.exists():
            return {"child error": f"no answer within {timeout:.0f} s"}
        data = json.loads(answer.read_text())
    return data["value"] if "value" in data else data
