"""Running one test cell in the referee: its verdict and the outputs nbgrader will score.

The cell's source is the trusted one (from the assignment's source notebook, hidden tests
included). It runs in a fresh namespace holding the imports of the notebook's locked
set-up cells; every other name it uses is looked up in the student's notebook through the
:class:`~autograder.referee.session.Session` (data arrives as data, anything else as a
handle). The checks run under the run's secret (:mod:`autograder.checks.context`). The
cell passes when it runs to its end here; nothing the student's kernel prints, raises or
sends can make it pass.
"""
from __future__ import annotations

import builtins
import contextlib
import io
import time
import warnings
from dataclasses import dataclass, replace
from typing import Callable

import torch

from ..checks import context
from .names import free_names
from .result import TestResult
from .session import ChannelError, Session, StudentError, Trouble

MAX_STDOUT = 20_000


@dataclass
class CellRun:
    """What one test cell did in the referee: its :class:`~.result.TestResult`, what it
    printed, and ``trouble`` when the student's kernel could not answer (out of time, gone,
    a malformed answer): the kernel needs attention before the next cell."""

    result: TestResult
    stdout: str = ""
    trouble: Trouble | None = None

    def outputs(self) -> list[dict]:
        """The cell's outputs in nbformat's shape: what nbgrader scores and feedback shows."""
        out = []
        if self.stdout:
            out.append({"output_type": "stream", "name": "stdout", "text": self.stdout})
        if not self.result.passed:
            kind = self.result.error_type or "Error"
            out.append({"output_type": "error", "ename": kind, "evalue": self.result.message,
                        "traceback": [f"{kind}: {self.result.message}"]})
        return out


def _message(err: BaseException, missing: list[str], why_missing: Callable[[str], str | None]) -> tuple[str, str]:
    """``(type name, message)`` for a failed test cell, as the student should read it."""
    name = getattr(err, "student_type", None) or type(err).__name__
    text = str(err)
    if isinstance(err, NameError) and not isinstance(err, StudentError) and getattr(err, "name", None) in missing:
        cause = why_missing(err.name)
        text = (f"`{err.name}` is not defined in your notebook: {cause}" if cause else
                f"`{err.name}` is not defined in your notebook: run the cell that defines it (and keep the name "
                f"the exercise asks for).")
    notes = [n for n in getattr(err, "__notes__", []) if isinstance(n, str)]
    text = "\n".join([text, *notes])
    if isinstance(err, StudentError) and name == "NotImplementedError":
        text += "\nHint: this function is not written yet: replace `raise NotImplementedError()` with your code."
    return name, text.strip()


@contextlib.contextmanager
def default_dtype(dtype: object):
    """torch's default dtype set to ``dtype`` (the student's kernel's) inside the block: the
    test cell's literals get the dtype they get when the student runs it (JupyterLab,
    ``nbgrader validate``), so the two verdicts agree."""
    before = torch.get_default_dtype()
    if dtype not in (torch.float32, torch.float64):  # a kernel's answer is checked like any other
        raise ChannelError(f"your kernel reported a default dtype of {dtype!r}")
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def setup_namespace(setup: str) -> dict:
    """A fresh namespace holding what the notebook's locked set-up cells import."""
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    exec(compile(setup, "<set-up imports>", "exec"), namespace)  # trusted source: the assignment's own
    return namespace


def _no_cause(name: str) -> None:
    return None


def run_test_cell(grade_id: str, source: str, setup: str, session: Session | None,
                  settings: context.Settings, why_missing: Callable[[str], str | None] = _no_cause) -> CellRun:
    """Run the trusted test cell ``source`` against the notebook behind ``session``.
    ``why_missing(name)``: what kept the notebook from defining ``name`` (an earlier cell's
    error), for the message of a test that needs it; None when nothing is known."""
    start = time.perf_counter()
    namespace = setup_namespace(setup)
    wanted = sorted(free_names(source) - set(namespace))
    missing: list[str] = []
    stdout = io.StringIO()
    try:
        dtype = torch.get_default_dtype()
        if wanted:
            if session is None:
                raise ChannelError("the notebook's kernel is not running")
            found = session.lookup(wanted)
            namespace.update(found)
            missing = [n for n in wanted if n not in found]
            dtype = session.default_dtype()
        with contextlib.redirect_stdout(stdout), warnings.catch_warnings(), context.using(settings), \
                default_dtype(dtype):
            warnings.simplefilter("ignore")
            exec(compile(source, f"<test cell {grade_id}>", "exec"), namespace)  # trusted: from the source notebook
    except ChannelError as err:
        result, trouble = TestResult.failed(grade_id, f"this test could not finish: {err}", "GradingError"), err.reason
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # noqa: BLE001 - any failure of the test is its verdict
        error_type, message = _message(err, missing, why_missing)
        result, trouble = TestResult.failed(grade_id, message, error_type), None
    else:
        result, trouble = TestResult(grade_id, passed=True), None
    text = stdout.getvalue()
    if len(text) > MAX_STDOUT:
        text = text[:MAX_STDOUT] + f"\n... [{len(text) - MAX_STDOUT} more characters cut]"
    return CellRun(replace(result, seconds=round(time.perf_counter() - start, 3)), text, trouble)
