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
