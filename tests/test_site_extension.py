"""The exercise box (autograder/sphinxext.py): which notebooks a page gets, the launch
links it builds from _config.yml, the student kit it links, and what lands in the built
website; the website's build-time machinery (autograder/website/): every formula rendered
by KaTeX (one it cannot render fails the build), and light pages (no icon font, deferred
scripts, sized lazy images, a meta description, the theme's stylesheet trimmed)."""
import html
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from autograder import REPO_ROOT, __version__
from autograder.kit_version import wheel_name
from autograder.sphinxext import (
    colab_install_command, course_repository, exercise_notebooks, launch_links, repository_settings,
)
from autograder.student_kit import install_commands
from autograder.website import katex, pages


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
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    config["repository"] = {"url": "https://github.com/uni-x/dl-course", "branch": "spring"}
    (tmp_path / "exercises" / "01-demo").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "exercises" / "01-activations" / "activations.ipynb", tmp_path / "exercises" / "01-demo" / "demo.ipynb")
    done = _mini_book(tmp_path, "# Demo\n\nText of the demo chapter, long enough to describe it.\n", config)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    page = tmp_path / "out" / "_build" / "html" / "book" / "01-demo.html"
    hrefs = {a.get("href") for a in _parse(page).anchors}
    expected = launch_links("exercises/01-demo/demo.ipynb", "https://github.com/uni-x/dl-course", "spring")
    assert expected.colab in hrefs and expected.binder in hrefs
    assert "!pip install -q git+https://github.com/uni-x/dl-course.git@spring" in _text(page)
    # The kit is published with this book too, and its box links it (no "For students" page here).
    assert f"../kit/{wheel_name(__version__)}" in hrefs
    assert (tmp_path / "out" / "_build" / "html" / "kit" / wheel_name(__version__)).is_file()


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
    # Math is rendered when the site is built: no math script, KaTeX's stylesheet and fonts
    # served from the site, WOFF2 only.
    ch = (built_book / f"{_chapters()[0]}.html").read_text()
    assert 'class="katex"' in ch and "mathjax" not in ch.lower().replace("mathjax_ignore", "")
    assert re.search(r'<link[^>]+href="[./]*_static/katex/katex\.min\.css', ch)
    css = (built_book / "_static" / "katex" / "katex.min.css").read_text()
    fonts = re.findall(r"url\((fonts/[^)]+)\)", css)
    assert fonts and all(f.endswith(".woff2") and (built_book / "_static" / "katex" / f).is_file() for f in fonts)


def _head_scripts(page: Path) -> list[str]:
    return [value for tag, attr, value in _parse(page).refs if tag == "script" and attr == "src"]


@pytest.mark.slow
def test_pages_load_no_icon_font_no_search_index_and_defer_their_scripts(built_book):
    for page in _html_pages(built_book):
        text, scripts = page.read_text(encoding="utf-8"), _head_scripts(page)
        name = page.relative_to(built_book).as_posix()
        assert not [s for s in scripts if "fontawesome" in s], name
        if name != "search.html":
            assert not [s for s in scripts if "searchindex" in s or "searchtools" in s], name
            blocking = re.findall(r"<script(?![^>]*\b(?:defer|async)\b)[^>]*\bsrc=[^>]*>", text)
            assert not blocking, (name, blocking)
    assert [s for s in _head_scripts(built_book / "search.html") if "searchindex" in s]
    theme_css = (built_book / pages.THEME_CSS).read_text()
    assert not re.search(r"@font-face\{[^}]*Font Awesome", theme_css) and ".fa-bars:before" not in theme_css
    assert ".bd-header" in theme_css  # the rest of the theme is still there


@pytest.mark.slow
def test_every_page_has_a_meta_description_and_images_are_sized_and_lazy(built_book):
    images = 0
    for page in _html_pages(built_book):
        text = page.read_text(encoding="utf-8")
        if 'http-equiv="refresh"' in text.lower():
            continue  # the top index.html only sends the browser to the first page
        match = re.search(r'<meta name="description" content="([^"]+)"', text)
        assert match and 40 <= len(html.unescape(match[1])) <= pages.DESCRIPTION_CHARS, page.name
        for tag in re.findall(r"<img\b[^>]*>", text):
            images += 1
            assert 'loading="lazy"' in tag and re.search(r'width="\d+" height="\d+"', tag), tag
            assert not re.search(r'alt="[^"]*\.png"', tag), tag
    assert images >= 10
    softmax = (built_book / "book" / "03-softmax.html").read_text()
    assert '<meta name="description" content="A classifier gives ten scores per image' in softmax


@pytest.mark.slow
def test_every_chapter_box_links_the_student_kit_published_with_the_site(built_book):
    wheel = built_book / "kit" / wheel_name(__version__)
    assert wheel.is_file() and wheel.stat().st_size > 10_000
    checked = 0
    for docname in _chapters():
        if not exercise_notebooks(REPO_ROOT, docname):
            continue
        page = built_book / f"{docname}.html"
        kit_links = [a for a in _parse(page).anchors if "student-kit-download" in a.get("class", "")]
        assert kit_links, docname
        assert (page.parent / kit_links[0]["href"]).resolve() == wheel.resolve(), docname
        assert f"autograder-kit {__version__}" in _text(page) and "For students" in _text(page), docname
        checked += 1
    assert checked >= 7


@pytest.mark.slow
def test_for_students_gives_the_kit_and_its_install_in_three_commands(built_book):
    page = built_book / "book" / "for-students.html"
    assert [a for a in _parse(page).anchors if "student-kit-download" in a.get("class", "")]
    block = re.search(r'<div class="student-kit-install[^"]*">.*?<pre>(.*?)</pre>', page.read_text(), re.S)
    assert block, "no install block"
    shown = html.unescape(re.sub(r"<[^>]+>", "", block[1])).strip().splitlines()
    assert shown == install_commands(wheel_name(__version__))


def _mini_book(tmp_path: Path, chapter: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """Build a two-page book with our extensions and ``config`` (default: our _config.yml)
    into ``tmp_path/out``; ``chapter`` is the text of its page ``book/01-demo``."""
    from autograder.book import build_command
    from autograder.tools import tool_env

    config = config or yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    shutil.copytree(REPO_ROOT / "_static", tmp_path / "_static")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01-demo\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# Intro\n\nA page to start from, long enough to describe itself.\n")
    (tmp_path / "book" / "01-demo.md").write_text(chapter)
    return subprocess.run(build_command(tmp_path, tmp_path / "out"), env=tool_env(), capture_output=True, text=True)


@pytest.mark.slow
def test_a_formula_katex_cannot_render_fails_the_build_and_is_named(tmp_path):
    done = _mini_book(tmp_path, "# Demo\n\nFine: $x^2$.\n\n$$\n\\frac{1}{2} + \\notacommand{x}\n$$\n")
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "KaTeX cannot render" in out and "notacommand" in out and "01-demo" in out, out[-3000:]


def test_display_blocks_are_joined_as_sphinx_joins_them_for_mathjax():
    assert katex.display_latex("a = b") == "a = b"
    assert katex.display_latex("a = b\n\nc = d") == r"\begin{aligned}a = b\\c = d\end{aligned}"
    assert katex.display_latex(r"a \\ b") == r"\begin{split}a \\ b\end{split}"


def test_katex_renders_to_html_and_refuses_what_it_cannot_render():
    if not katex.KATEX_DIST.is_dir() or not shutil.which("node"):
        pytest.skip("KaTeX or Node.js is not installed (run make)")
    out = katex.KaTeX.render(r"\frac{a}{b}", {**katex.OPTIONS, "displayMode": True})
    assert 'class="katex-display"' in out and "<math" in out
    with pytest.raises(katex.KaTeXError, match="Undefined control sequence"):
        katex.KaTeX.render(r"\nosuch{x}", katex.OPTIONS)
    with pytest.raises(katex.KaTeXError):  # strict: what KaTeX would only warn about
        katex.KaTeX.render("é", katex.OPTIONS)


def test_katex_stylesheet_keeps_only_woff2_sources():
    css = ('@font-face{font-family:KaTeX_AMS;src:url(fonts/KaTeX_AMS-Regular.woff2) format("woff2"),'
           'url(fonts/KaTeX_AMS-Regular.woff) format("woff"),url(fonts/KaTeX_AMS-Regular.ttf) format("truetype")}')
    assert katex.woff2_only(css) == '@font-face{font-family:KaTeX_AMS;src:url(fonts/KaTeX_AMS-Regular.woff2) format("woff2")}'


def test_the_description_is_the_first_paragraph_of_prose_cut_at_a_word():
    from docutils.core import publish_doctree

    tree = publish_doctree(".. note::\n\n   A note that is not the page's text at all, however long.\n\n"
                           "Short.\n\n" + "The first real paragraph of this page, " * 8)
    text = pages.description(tree)
    assert text.startswith("The first real paragraph") and len(text) <= pages.DESCRIPTION_CHARS
    assert text.endswith("…") and not text[:-1].endswith(" ")
    assert pages.description(None) == pages.SITE_DESCRIPTION


def test_images_get_their_size_lazy_loading_and_a_real_alt():
    body = '<p>x</p><img alt="../_images/a1.png" src="../_images/a1.png" /><img src="b.png" alt="b" width="3" />'
    out = pages.sized_images(body, {"a1.png": (640, 480)})
    first, second = re.findall(r"<img[^>]*>", out)
    assert 'width="640" height="480"' in first and 'loading="lazy"' in first and pages.OUTPUT_IMAGE_ALT in first
    assert 'width="3"' in second and "height=" not in second and 'loading="lazy"' in second and 'alt="b"' in second


def test_the_theme_stylesheet_loses_only_font_awesome():
    css = ('.a{color:red}.fa-bars:before{content:"\\f0c9"}.fa-x:before,.fa-y:after{content:"\\f00d"}'
           '@font-face{font-family:"Font Awesome 6 Free";src:url(x.woff2)}.fa-solid{font-weight:900}')
    assert pages.without_icon_font(css) == ".a{color:red}.fa-solid{font-weight:900}"


@pytest.mark.slow
def test_student_and_instructor_pages_are_built(built_book):
    students = _text(built_book / "book" / "for-students.html")
    instructors = _text(built_book / "book" / "for-instructors.html")
    assert "nbgrader validate" in students and "hidden tests" in students.lower()
    for step in ("Release", "Collect", "Grade", "What the report shows"):
        assert step in instructors, step
