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
from autograder.sphinxext import (
    colab_install_command, course_repository, exercise_notebooks, launch_links, repository_settings,
)


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


@pytest.mark.parametrize("url", [
    "", "https://github.com/your-org/activations-course", "https://github.com/OWNER/course",
    "https://github.com/<owner>/<repo>", "https://github.com/executablebooks/jupyter-book",
    "https://gitlab.com/uni-x/dl-course",
])
def test_no_launch_links_or_install_line_for_an_empty_placeholder_or_default_repository(url):
    assert course_repository(url) is None
    links = launch_links("exercises/01-activations/activations.ipynb", url)
    assert links.colab is None and links.binder is None
    assert colab_install_command(url) is None


def test_a_real_repository_is_recognised_with_or_without_git_suffix():
    assert course_repository("https://github.com/uni-x/dl-course.git") == ("uni-x", "dl-course")
    assert course_repository(" https://github.com/uni-x/dl-course/ ") == ("uni-x", "dl-course")


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
    """The download is always there; Colab and Binder links and the pip line exactly when
    _config.yml names a real repository (the test follows whatever it names)."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    repo_url, branch = config["repository"].get("url") or "", config["repository"].get("branch", "main")
    real = course_repository(repo_url) is not None
    checked = 0
    for docname in _chapters():
        notebooks = exercise_notebooks(REPO_ROOT, docname)
        if not notebooks:
            continue
        page = built_book / f"{docname}.html"
        anchors = _parse(page).anchors
        classes = " ".join(a.get("class", "") for a in anchors)
        for nb in notebooks:
            downloads = [a for a in anchors if "exercise-download" in a.get("class", "")]
            targets = [(page.parent / a["href"]).resolve() for a in downloads]
            copied = [t for t in targets if t.name == Path(nb).name]
            assert copied, f"{docname}: no download link for {nb}"
            assert copied[0].read_bytes() == (REPO_ROOT / nb).read_bytes(), f"{docname}: downloaded {nb} differs"
            expected = launch_links(nb, repo_url, branch)
            hrefs = {a.get("href") for a in anchors}
            if real:
                assert expected.colab in hrefs, f"{docname}: no Colab link {expected.colab}"
                assert expected.binder in hrefs, f"{docname}: no Binder link {expected.binder}"
                assert colab_install_command(repo_url, branch) in _text(page), f"{docname}: no Colab install line"
            else:
                assert "exercise-colab" not in classes and "exercise-binder" not in classes, docname
                assert "pip install -q git+" not in _text(page), docname
            checked += 1
    assert checked >= 1, "no chapter page with an exercise was found"


#: URLs that only stand in for a real one: they 404 for every reader.
PLACEHOLDER_URL = re.compile(
    r"your-org|your-organi[sz]ation|github\.com/(?:OWNER|USER|USERNAME|owner|user|username|<|%3C|\{)"
    r"|executablebooks/jupyter-book|example\.(?:com|org)/"
)


@pytest.mark.slow
def test_no_placeholder_url_anywhere_in_the_built_site(built_book):
    found = []
    for page in _html_pages(built_book):
        for line_no, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for match in PLACEHOLDER_URL.finditer(line):
                found.append(f"{page.relative_to(built_book)}:{line_no}: {line.strip()[:160]}")
    assert not found, "placeholder URLs in the built site:\n" + "\n".join(found)


def test_the_placeholder_pattern_catches_what_it_is_for():
    for text in ("https://github.com/your-org/activations-course", "git+https://github.com/OWNER/x.git",
                 "https://github.com/executablebooks/jupyter-book"):
        assert PLACEHOLDER_URL.search(text), text
    assert not PLACEHOLDER_URL.search("https://github.com/zalandoresearch/fashion-mnist")


@pytest.mark.slow
def test_a_real_repository_in_config_gives_colab_binder_and_pip_links(tmp_path):
    """The same extension on a two-page book whose _config.yml names a real repository."""
    import shutil
    import subprocess

    from autograder.book import build_command
    from autograder.tools import tool_env

    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["repository"] = {"url": "https://github.com/uni-x/dl-course", "branch": "spring"}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    shutil.copytree(REPO_ROOT / "_static", tmp_path / "_static")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01-demo\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nText.\n")
    (tmp_path / "book" / "01-demo.md").write_text("# Demo\n\nText.\n")
    (tmp_path / "exercises" / "01-demo").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "exercises" / "01-activations" / "activations.ipynb", tmp_path / "exercises" / "01-demo" / "demo.ipynb")
    done = subprocess.run(build_command(tmp_path, tmp_path / "out"), env=tool_env(), capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    page = tmp_path / "out" / "_build" / "html" / "book" / "01-demo.html"
    hrefs = {a.get("href") for a in _parse(page).anchors}
    expected = launch_links("exercises/01-demo/demo.ipynb", "https://github.com/uni-x/dl-course", "spring")
    assert expected.colab in hrefs and expected.binder in hrefs
    assert "!pip install -q git+https://github.com/uni-x/dl-course.git@spring" in _text(page)


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
