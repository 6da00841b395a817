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
