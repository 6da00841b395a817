"""The built website in a real browser (headless Debian chromium driven by Playwright):
every page loads without console errors or remote requests, renders its math, loads its
images and links only to things that exist; search finds "softmax"; a chapter is
readable in the light and the dark theme (screenshots saved and checked pixel by pixel).

The browser is the system's ``/usr/bin/chromium`` (``scripts/system-packages.sh``
installs it); Playwright never downloads one here.
"""
from __future__ import annotations

import functools
import http.server
import io
import statistics
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# On a closed network these keep chromium from phoning home (and from hanging on it).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SKIP_DIRS = {"_static", "_sources", "_downloads", "_images"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run scripts/system-packages.sh as root"),
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """``(base_url, html_dir)``: the built site served over HTTP on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", built_book
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _is_redirect(page: Path) -> bool:
    return 'http-equiv="refresh"' in page.read_text(encoding="utf-8").lower()


def _pages(html: Path) -> list[str]:
    """Every page of the site, less redirects (the top index.html sends to the root page)."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not SKIP_DIRS & set(p.relative_to(html).parts) and not _is_redirect(p)
    )


def test_top_index_redirects_to_a_built_page(site, browser):
    base, html = site
    page = browser.new_page()
    page.goto(base, wait_until="load")
    page.wait_for_url(lambda url: url.rstrip("/") != base.rstrip("/") and not url.endswith("/index.html"))
    landed = page.url
    page.close()
    assert (html / urlparse(landed).path.lstrip("/")).is_file(), landed


def _chapter(html: Path) -> str:
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "book").glob("[0-9][0-9]-*.html"))
    assert chapters, "no chapter page was built"
    return chapters[0]


class _Recorder:
    """What a browser page reported: console errors, uncaught exceptions, failed and
    remote requests."""

    def __init__(self, page, base: str):
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text} at {m.location.get('url')}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on(
            "request",
            lambda r: r.url.startswith((base, "data:", "blob:", "about:"))
            or self.problems.append(f"remote request: {r.url}"),
        )
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))


WAIT_FOR_MATH_AND_IMAGES = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
}"""

PAGE_FACTS = """() => {
  const text = [...document.querySelectorAll('.bd-article')].map(a => {
      const copy = a.cloneNode(true);
      copy.querySelectorAll('pre, code, mjx-container, script').forEach(n => n.remove());
      return copy.innerText;
  }).join('\\n');
  return {
    math: document.querySelectorAll('.bd-article .math').length,
    unrendered: [...document.querySelectorAll('.bd-article .math')]
        .filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
    rawDollars: text.includes('$$'),
    brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
}"""


def _missing_internal_links(links: list[str], base: str, html: Path) -> list[str]:
    missing = []
    for link in links:
        url, fragment = urldefrag(link)
        if not url.startswith(base):
            continue
        path = html / unquote(urlparse(url).path[len(urlparse(base).path):])
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            missing.append(link)
        elif fragment and path.suffix == ".html":
            text = path.read_text(encoding="utf-8")
            if f'id="{unquote(fragment)}"' not in text:
                missing.append(link)
    return missing


def test_every_page_loads_cleanly_renders_math_and_images_and_links_resolve(site, browser):
    base, html = site
    pages = _pages(html)
    assert len(pages) >= 4, pages
    context = browser.new_context()
    report, math_pages = [], 0
    for rel in pages:
        page = context.new_page()
        recorder = _Recorder(page, base)
        page.goto(base + rel, wait_until="load")
        page.evaluate(WAIT_FOR_MATH_AND_IMAGES)
        facts = page.evaluate(PAGE_FACTS)
        problems = list(recorder.problems)
        if facts["unrendered"]:
            problems.append(f"math not rendered by MathJax: {facts['unrendered']}")
        if facts["rawDollars"]:
            problems.append("raw $$ left in the page text")
        problems += [f"image not loaded: {src}" for src in facts["brokenImages"]]
        problems += [f"link to nothing: {link}" for link in _missing_internal_links(facts["links"], base, html)]
        math_pages += facts["math"] > 0
        report += [f"{rel}: {p}" for p in problems]
        page.close()
    context.close()
    assert not report, "\n".join(report)
    assert math_pages >= 1, "no page has math: the MathJax check checked nothing"


def test_search_page_finds_softmax(site, browser):
    base, _ = site
    page = browser.new_page()
    recorder = _Recorder(page, base)
    page.goto(base + "search.html?q=softmax", wait_until="load")
    page.wait_for_selector("ul.search li a", timeout=20_000)
    results = page.eval_on_selector_all("ul.search li a", "links => links.map(a => a.getAttribute('href'))")
    page.close()
    assert not recorder.problems, recorder.problems
    assert any(href.startswith("book/") for href in results), results


def _luminance(image, box) -> list[float]:
    """Per-pixel luminance (0-255) of ``box`` (x0, y0, x1, y1) in a PIL image."""
    gray = image.convert("L").crop(tuple(int(v) for v in box))
    return list(gray.tobytes())


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chapter_figures_are_readable_in_light_and_dark_theme(site, browser, screenshot_dir, theme):
    from PIL import Image

    base, html = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    # pydata-sphinx-theme reads the reader's choice from localStorage before it paints.
    context.add_init_script(f"localStorage.setItem('mode', '{theme}'); localStorage.setItem('theme', '{theme}');")
    page = context.new_page()
    recorder = _Recorder(page, base)
    page.goto(base + _chapter(html), wait_until="load")
    page.evaluate(WAIT_FOR_MATH_AND_IMAGES)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    # The top of the page, with the exercise box under the title.
    page.screenshot(path=str(screenshot_dir / f"chapter-{theme}-top.png"))
    assert page.locator(".exercise-links a.exercise-download").first.is_visible()

    figure = page.locator(".cell_output img").first
    figure.scroll_into_view_if_needed()
    box = figure.bounding_box()
    shot_path = screenshot_dir / f"chapter-{theme}.png"
    page.screenshot(path=str(shot_path))
    context.close()
    assert not recorder.problems, recorder.problems

    shot = Image.open(io.BytesIO(shot_path.read_bytes()))
    assert shot.size == (1280, 900)
    figure_pixels = _luminance(shot, (box["x"], box["y"], box["x"] + box["width"], min(box["y"] + box["height"], 900)))
    # A matplotlib figure: mostly its (opaque, white) background, with dark lines and text.
    assert statistics.median(figure_pixels) > 230, f"{theme}: figure background is not white: {shot_path}"
    dark_share = sum(v < 100 for v in figure_pixels) / len(figure_pixels)
    assert dark_share > 0.002, f"{theme}: no dark ink in the figure (blank?): {shot_path}"
    # The page around it really is in the theme asked for.
    page_pixels = _luminance(shot, (0, 0, 1280, 60))
    if theme == "dark":
        assert statistics.median(page_pixels) < 80, f"dark theme page is not dark: {shot_path}"
    else:
        assert statistics.median(page_pixels) > 200, f"light theme page is not light: {shot_path}"


OVERFLOWING = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const longest = t => t.split('\\n').reduce((a, b) => a.length >= b.length ? a : b);
  const pre = [...document.querySelectorAll('.bd-article pre')]
      .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => longest(p.innerText));
  const math = [...document.querySelectorAll('.bd-article mjx-container[display="true"]')]
      .filter(m => m.firstElementChild.getBoundingClientRect().width > m.getBoundingClientRect().width + 1)
      .map(m => 'math: ' + m.textContent);
  return pre.concat(math);
}"""


def test_no_code_output_or_equation_hides_behind_a_horizontal_scroll(site, browser):
    """At a 1280-pixel window every code cell, printed output and displayed equation fits
    its column."""
    base, html = site
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "book").glob("[0-9][0-9]-*.html"))
    assert len(chapters) >= 7, chapters
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cut = []
    for rel in chapters:
        page.goto(base + rel, wait_until="load")
        cut += [f"{rel}: {line[:120]}" for line in page.evaluate(OVERFLOWING)]
    context.close()
    assert not cut, "lines wider than their column:\n" + "\n".join(cut)
