"""The website builds strictly (any warning or cell error fails) and has every page."""
import re

import pytest
import yaml

from autograder import REPO_ROOT


def toc_pages() -> list[str]:
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


@pytest.mark.slow
def test_book_builds_with_every_toc_page_executed(built_book):
    for page in toc_pages():
        html = (built_book / f"{page}.html").read_text()
        assert "<h1" in html, page
    # executed: chapter 1's cells produced outputs (a plot and printed numbers)
    ch1 = (built_book / "book/01-activations.html").read_text()
    assert re.search(r'<img[^>]+src="[^"]+\.png"', ch1), "chapter 1 shows no plot"
    assert "cell_output" in ch1


def _mini_book(root, body: str):
    import shutil

    shutil.copy(REPO_ROOT / "_config.yml", root / "_config.yml")
    shutil.copytree(REPO_ROOT / "_static", root / "_static")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book").mkdir()
    header = "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n"
    (root / "book" / "intro.md").write_text(header + "# Mini\n\n" + body)


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, reason",
    [
        ("```{code-cell} ipython3\nraise ValueError('boom-7421')\n```\n", "boom-7421"),
        ("```{code-cell} ipython3\nimport sys\nprint('oops-7421', file=sys.stderr)\n```\n", "stderr"),
        ("See {doc}`nowhere-7421`.\n", "nowhere-7421"),
    ],
    ids=["cell-raises", "cell-writes-stderr", "broken-reference"],
)
def test_book_build_fails_on_cell_errors_stderr_and_warnings(tmp_path, body, reason):
    import subprocess

    from autograder.book import build_command
    from autograder.tools import tool_env

    _mini_book(tmp_path, body)
    result = subprocess.run(build_command(tmp_path, tmp_path / "out"), env=tool_env(), capture_output=True, text=True)
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert reason in log, log[-3000:]
    assert "favicon" not in log, "the mini book itself is broken"


@pytest.mark.slow
def test_mini_book_with_a_clean_cell_builds(tmp_path):
    from autograder.book import build

    _mini_book(tmp_path, "```{code-cell} ipython3\nprint(6 * 7)\n```\n")
    html = build(repo=tmp_path, output=tmp_path / "out")
    assert "42" in (html / "book" / "intro.html").read_text()
