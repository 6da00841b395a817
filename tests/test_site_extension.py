"""The exercise box (autograder/sphinxext.py): which notebooks a page gets, the launch
links it builds from _config.yml, and what lands in the built website."""
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from autograder import REPO_ROOT
from autograder.sphinxext import colab_install_command, exercise_notebooks, launch_links, repository_settings


def test_chapter_page_gets_the_notebooks_of_its_exercise_folder(tmp_path):
    folder = tmp_path / "exercises" / "03-softmax"
    folder.mkdir(parents=True)
    (folder / "softmax.ipynb").write_text("{}")
    (folder / "notes.txt").write_text("")
    assert exercise_notebooks(tmp_path, "book/03-softmax") == ["exercises/03-softmax/softmax.ipynb"]


@pytest.mark.parametrize("docname", ["book/intro", "book/for-students", "book/04-missing", "other/03-softmax"])
def test_pages_that_are_not_chapters_with_an_exercise_get_nothing(tmp_path, docname):
    (tmp_path / "exercises" / "03-softmax").mkdir(parents=True)
    (tmp_path / "exercises" / "03-softmax" / "softmax.ipynb").write_text("{}")
    assert exercise_notebooks(tmp_path, docname) == []


def test_launch_links_point_at_the_exercise_in_the_configured_repository_and_branch():
    links = launch_links("exercises/01-activations/activations.ipynb", "https://github.com/uni-x/dl-course.git", "spring")
    assert links.colab == (
        "https://colab.research.google.com/github/uni-x/dl-course/blob/spring/exercises/01-activations/activations.ipynb"
    )
    assert links.binder == (
        "https://mybinder.org/v2/gh/uni-x/dl-course/spring?urlpath=lab%2Ftree%2Fexercises%2F01-activations%2Factivations.ipynb"
    )


def test_no_launch_links_for_a_repository_not_on_github_or_a_service_switched_off():
    assert launch_links("exercises/a/a.ipynb", "https://gitlab.com/x/y").colab is None
    assert launch_links("exercises/a/a.ipynb", "https://gitlab.com/x/y").binder is None
    off = launch_links("exercises/a/a.ipynb", "https://github.com/x/y", colab_url=None)
    assert off.colab is None and off.binder.startswith("https://mybinder.org/v2/gh/x/y/main?")


def test_colab_users_are_told_to_install_the_course_package_from_the_repository():
    assert colab_install_command("https://github.com/uni-x/dl-course", "spring") == (
        "!pip install -q git+https://github.com/uni-x/dl-course.git@spring"
    )
    assert colab_install_command("https://gitlab.com/x/y") is None


def test_settings_come_from_the_theme_options_jupyter_book_fills_from_config_yml():
    config = SimpleNamespace(
        html_theme_options={"repository_url": "https://github.com/a/b", "repository_branch": "dev"},
        exercise_launch={"binderhub_url": ""},
    )
    settings = repository_settings(config)
    assert settings == {
        "repository_url": "https://github.com/a/b",
        "branch": "dev",
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": None,
    }


# ---- the built website -------------------------------------------------------------------

class _Refs(HTMLParser):
    """Every (tag, attribute, value) for src/href attributes, and anchors' classes."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.anchors: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.refs.append((tag, name, attrs[name]))
        if tag == "a":
            self.anchors.append(attrs)


def _parse(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _html_pages(html_dir: Path) -> list[Path]:
    skip = {"_static", "_sources", "_downloads", "_images"}
    return [p for p in html_dir.rglob("*.html") if not skip & set(p.relative_to(html_dir).parts)]


def _text(page: Path) -> str:
    """A built page's text: tags dropped, white space collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))))


def _chapters() -> list[str]:
    return sorted(p.with_suffix("").relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "book").glob("[0-9][0-9]-*.md"))


@pytest.mark.slow
def test_every_chapter_with_an_exercise_links_its_notebook_download_and_launchers(built_book):
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    repo_url, branch = config["repository"]["url"], config["repository"].get("branch", "main")
    checked = 0
    for docname in _chapters():
        notebooks = exercise_notebooks(REPO_ROOT, docname)
        if not notebooks:
            continue
        page = built_book / f"{docname}.html"
        anchors = _parse(page).anchors
        for nb in notebooks:
            downloads = [a for a in anchors if "exercise-download" in a.get("class", "")]
            targets = [(page.parent / a["href"]).resolve() for a in downloads]
            copied = [t for t in targets if t.name == Path(nb).name]
            assert copied, f"{docname}: no download link for {nb}"
            assert copied[0].read_bytes() == (REPO_ROOT / nb).read_bytes(), f"{docname}: downloaded {nb} differs"
            expected = launch_links(nb, repo_url, branch)
            hrefs = {a.get("href") for a in anchors}
            assert expected.colab in hrefs, f"{docname}: no Colab link {expected.colab}"
            assert expected.binder in hrefs, f"{docname}: no Binder link {expected.binder}"
            assert colab_install_command(repo_url, branch) in _text(page), f"{docname}: no Colab install line"
            checked += 1
    assert checked >= 1, "no chapter page with an exercise was found"


@pytest.mark.slow
def test_built_pages_load_no_remote_script_style_or_image(built_book):
    remote, pages = [], _html_pages(built_book)
    assert len(pages) >= 4, pages
    for page in pages:
        for tag, attr, value in _parse(page).refs:
            if tag != "a" and re.match(r"(https?:)?//", value):
                remote.append(f"{page.relative_to(built_book)}: <{tag} {attr}={value}>")
    assert not remote, "remote resources in the site:\n" + "\n".join(remote)
    # sphinx-thebe's scripts (unused; they name a CDN) are dropped from every page.
    assert not [p.name for p in _html_pages(built_book) if "THEBE_JS_URL" in p.read_text()]
    # MathJax itself is served from the site.
    ch = built_book / f"{_chapters()[0]}.html"
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-chtml\.js[?"]', ch.read_text())
    assert (built_book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


@pytest.mark.slow
def test_student_and_instructor_pages_are_built(built_book):
    students = _text(built_book / "book" / "for-students.html")
    instructors = _text(built_book / "book" / "for-instructors.html")
    assert "nbgrader validate" in students and "hidden tests" in students.lower()
    for step in ("Release", "Collect", "Grade", "What the report shows"):
        assert step in instructors, step
