"""One test cell's result: made by the referee, scored by the worker, written to grades.csv.

The same record crosses every stage (referee -> the notebook's run record -> the worker ->
the result cache -> reports), so it is defined once, here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TestResult:
    """``passed``: the test cell ran to its end in the referee (and, once scored, nbgrader
    agreed); ``score`` of ``max_score`` points once scored; ``error_type`` and ``message``:
    what the student sees when it failed (which function, which output, which case,
    expected vs got); ``seconds``: the referee's time on it."""

    __test__ = False  # not a pytest test class

    grade_id: str
    passed: bool = False
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0
    score: float = 0.0
    max_score: float = 0.0

    def scored(self, max_score: float, nbgrader_agrees: bool) -> "TestResult":
        """This result worth ``max_score`` points: full when it passed here and nbgrader scored
        the cell in full too, else 0 with the reason."""
        if self.passed and nbgrader_agrees:
            return replace(self, score=max_score, max_score=max_score)
        message = self.message if not self.passed else "not counted: nbgrader did not score this cell"
        return replace(self, passed=False, score=0.0, max_score=max_score, message=message)

    @classmethod
    def failed(cls, grade_id: str, message: str, error_type: str = "", max_score: float = 0.0) -> "TestResult":
        return cls(grade_id, passed=False, error_type=error_type, message=message, max_score=max_score)
