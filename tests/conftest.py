import sys
from pathlib import Path

import pytest

# Make the tests' shared helpers (nbgrader_e2e.py) importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole website once per test session, fresh (no execution cache), into a
    temporary folder; return the folder holding ``index.html``. Fails the session's book
    tests if the strict build fails."""
    from autograder.book import build

    return build(output=tmp_path_factory.mktemp("book"))


@pytest.fixture(scope="session")
def corpus_grades(tmp_path_factory):
    """The grading corpora of issue 17 (``tests/corpus``), each assignment's hand-ins graded in
    one ``grade`` batch the first time a test asks for it, shared by the corpus test modules
    (whose grading tests are marked ``needs_sandbox``)."""
    from corpus.batches import CorpusGrades

    grades = CorpusGrades(tmp_path_factory.mktemp("corpus"))
    yield grades
    for what, seconds in grades.seconds.items():
        print(f"\ncorpus: {what}: {seconds:.0f} s")
