"""nbgrader preprocessors that put the grader's guard around every test cell.

:class:`InjectGuard` runs in autograde's sanitize phase, after nbgrader restored the
locked cells and hidden tests from the gradebook. Each graded code cell becomes::

    <find Guard without using any name>; Guard.verify(...); Guard.seed(0)
    <the imports of the notebook's locked cells, redone>
    <the test cell as nbgrader restored it>
    <find Guard>; Guard.verify(...); print("AUTOGRADER-PASS <grade_id> <token>")

with a fresh random token per cell, and one last cell prints an end token after a
final verify. :mod:`autograder.grading.verdict` gives points only for a cell that has
no error and printed its own token. :class:`SandboxExecute` is nbgrader's Execute with
the sandboxed kernel manager; :class:`KeepOutputs` keeps the executed notebook before
nbgrader truncates outputs.
"""
from __future__ import annotations

import ast
import copy
import secrets

from nbformat.v4 import new_code_cell
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from .sandbox import SandboxKernelManager

PASS = "AUTOGRADER-PASS"
END = "AUTOGRADER-END"
_FIND = ("[c for c in ().__class__.__base__.__subclasses__() "
         "if c.__module__ == 'autograder.grading.kernel_guard' and c.__qualname__ == 'Guard'][0]")

#: Per notebook file name: {"tokens": {grade_id: token}, "end": token}; read by the worker.
TOKENS: dict[str, dict] = {}
#: Per notebook file name: the executed notebook with full outputs.
EXECUTED: dict[str, dict] = {}


def _src(cell) -> str:
    return "".join(cell.source) if isinstance(cell.source, list) else cell.source


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def locked_imports(nb) -> str:
    """The top-level import statements of the notebook's locked, non-graded code cells."""
    lines = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("grade") or meta.get("solution"):
            continue
        try:
            tree = ast.parse(_src(cell))
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def course_modules(nb) -> list[str]:
    """The course modules (``autograder.chapters.activations``...) that ``nb``'s code cells
    import, hidden tests included: the kernel guard snapshots these before any student code."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in _src(cell).splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("autograder.") and name not in found and _is_module(name):
                    found.append(name)
    return found


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module of the course package (found on disk, not imported:
    importing the chapters would import torch into the grading process)."""
    from .. import REPO_ROOT

    path = REPO_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def guarded_source(grade_id: str, source: str, imports: str, token: str) -> str:
    """A test cell's source wrapped in the guard (see the module docstring)."""
    before = f"_ag_guard = {_FIND}; _ag_guard.verify({grade_id + ' (before the test)'!r}); _ag_guard.seed(0)"
    after = (f"_ag_guard = {_FIND}; _ag_guard.verify({grade_id + ' (after the test)'!r}); "
             f"print({PASS + ' ' + grade_id + ' ' + token!r})")
    return f"{before}\n{imports}\n{source.rstrip()}\n{after}\n"


class InjectGuard(NbGraderPreprocessor):
    """Wrap every test cell in the guard and append the end cell (tokens go to :data:`TOKENS`)."""

    def preprocess(self, nb, resources):
        imports = locked_imports(nb)
        tokens = {}
        for cell in nb.cells:
            if _is_test(cell):
                grade_id = cell.metadata["nbgrader"]["grade_id"]
                tokens[grade_id] = secrets.token_hex(16)
                cell.source = guarded_source(grade_id, _src(cell), imports, tokens[grade_id])
        end = secrets.token_hex(16)
        nb.cells.append(new_code_cell(f"_ag_guard = {_FIND}; _ag_guard.verify('the end of the notebook'); "
                                      f"print({END + ' ' + end!r})"))
        TOKENS[resources["unique_key"]] = {"tokens": tokens, "end": end}
        return nb, resources


class SandboxExecute(Execute):
    """nbgrader's Execute, with kernels started by :class:`SandboxKernelManager`."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)


class KeepOutputs(NbGraderPreprocessor):
    """Keep a copy of the executed notebook (in :data:`EXECUTED`) before outputs are truncated."""

    def preprocess(self, nb, resources):
        EXECUTED[resources["unique_key"]] = copy.deepcopy(nb)
        return nb, resources
