"""The built website in a real browser (headless Debian chromium driven by Playwright):
every page loads without console errors or remote requests, shows its math (rendered at
build time by KaTeX), loads its images and links only to things that exist; search finds
"softmax"; a chapter is readable in the light and the dark theme (screenshots saved and
checked pixel by pixel) and works offline from the built folder (file://).

Light pages: a chapter page transfers at most :data:`PAGE_BUDGET` bytes, counted from
every request as Chromium reports it, with the site served gzip-compressed as a static
host serves it (autograder/website/server.py); no page asks for Font Awesome (script or
font) and every icon still has its picture; the search index is loaded only by the
search page.

Layout: on a 390-pixel phone no display formula or table is cut (a wide one scrolls in
its own box), plots keep a legible size, and nothing makes the page itself scroll
sideways; on a 1280-pixel screen no code block or formula on any page scrolls.
Screenshots of every chapter at both widths are saved in the test's temporary folder.

The browser is the system's ``/usr/bin/chromium`` (``scripts/system-packages.sh``
installs it); Playwright never downloads one here.
"""
from __future__ import annotations

import io
import statistics
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
#: The most a chapter page may transfer, everything it loads on opening counted (HTML,
#: styles, scripts, fonts, the images near the top), gzip-compressed as served. What the
#: pages reach (issue 19): 204-243 KiB; they loaded 3.6-4.1 MB before (fontawesome.js,
#: MathJax). The rest is headroom for chapters that grow.
PAGE_BUDGET = 300 * 1024
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run scripts/system-packages.sh as root"),
]


@pytest.fixture(scope="module")
def site(built_book):
    """``(base_url, html_dir)``: the built site served over HTTP on 127.0.0.1, text files
    gzip-compressed as a static host serves them."""
    from autograder.website.server import serve

    with serve(built_book) as base:
        yield base, built_book


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


def _chapters(html: Path) -> list[str]:
    chapters = sorted(p.relative_to(html).as_posix() for p in (html / "book").glob("[0-9][0-9]-*.html"))
    assert len(chapters) >= 7, chapters
    return chapters


def _chapter(html: Path) -> str:
    return _chapters(html)[0]


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


#: Images are lazily loaded: load them all, then wait for them.
#: Two animation frames: what was laid out on the last one has been painted.
TWO_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def _settled(page, locator) -> dict:
    """Scroll ``locator`` into view until its box stops moving, its image decoded; its box.
    The chapter's sections are laid out only as they near the screen (``content-visibility:
    auto`` in course.css), so one scroll can land where an estimated height put it and the
    section can still be unpainted."""
    previous = None
    for _ in range(20):
        locator.scroll_into_view_if_needed()
        locator.evaluate("img => img.decode ? img.decode().catch(() => null) : null")
        page.evaluate(TWO_FRAMES)
        box = locator.bounding_box()
        if box is not None and box == previous:
            return box
        previous = box
    raise AssertionError(f"the element never settled on the screen: {previous}")


WAIT_FOR_IMAGES = """async () => {
  document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = 'eager'; });
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
}"""

PAGE_FACTS = """() => {
  const text = [...document.querySelectorAll('.bd-article')].map(a => {
      const copy = a.cloneNode(true);
      copy.querySelectorAll('pre, code, .katex, script').forEach(n => n.remove());
      return copy.innerText;
  }).join('\\n');
  return {
    math: document.querySelectorAll('.bd-article .math').length,
    unrendered: [...document.querySelectorAll('.bd-article .math')]
        .filter(m => !m.querySelector('.katex') || m.querySelector('.katex-error')).map(m => m.textContent.slice(0, 80)),
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
        page.evaluate(WAIT_FOR_IMAGES)
        facts = page.evaluate(PAGE_FACTS)
        problems = list(recorder.problems)
        if facts["unrendered"]:
            problems.append(f"math not rendered by KaTeX: {facts['unrendered']}")
        if facts["rawDollars"]:
            problems.append("raw $$ left in the page text")
        problems += [f"image not loaded: {src}" for src in facts["brokenImages"]]
        problems += [f"link to nothing: {link}" for link in _missing_internal_links(facts["links"], base, html)]
        math_pages += facts["math"] > 0
        report += [f"{rel}: {p}" for p in problems]
        page.close()
    context.close()
    assert not report, "\n".join(report)
    assert math_pages >= 1, "no page has math: the KaTeX check checked nothing"


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
    page.evaluate(WAIT_FOR_IMAGES)
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    # The top of the page, with the exercise box under the title.
    page.screenshot(path=str(screenshot_dir / f"chapter-{theme}-top.png"))
    assert page.locator(".exercise-links a.exercise-download").first.is_visible()

    figure = page.locator(".cell_output img").first
    box = _settled(page, figure)
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


OVERFLOWING = """() => {
  const longest = t => t.split('\\n').reduce((a, b) => a.length >= b.length ? a : b);
  const pre = [...document.querySelectorAll('.bd-article pre')]
      .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => longest(p.textContent));
  const math = [...document.querySelectorAll('.bd-article .math-scroll')]
      .filter(m => m.scrollWidth > m.clientWidth + 1).map(m => 'math: ' + m.textContent.slice(0, 80));
  return pre.concat(math);
}"""


def test_no_code_output_or_equation_hides_behind_a_horizontal_scroll(site, browser):
    """At a 1280-pixel window every code block, printed output and displayed equation of
    every page fits its column."""
    base, html = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    cut = []
    for rel in _pages(html):
        page.goto(base + rel, wait_until="load")
        cut += [f"{rel}: {line[:120]}" for line in page.evaluate(OVERFLOWING)]
    context.close()
    assert not cut, "lines wider than their column:\n" + "\n".join(cut)


#: At a phone's width: boxes (display formulas, tables) cut by the page or scrolling
#: nowhere, plots shrunk below a legible size, and the page's own width.
PHONE_LAYOUT = """() => {
  const cut = [];
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const boxes = [...document.querySelectorAll('.bd-article div.math')].map(m => [m.querySelector('.math-scroll') || m, 'formula'])
      .concat([...document.querySelectorAll('.bd-article table')].map(t => [t.closest('.table-scroll') || t, 'table']));
  for (const [box, kind] of boxes) {
    const r = box.getBoundingClientRect();
    const what = kind + ': ' + box.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60);
    if (r.left < -0.5 || r.right > innerWidth + 0.5) cut.push(what + ` (box from ${Math.round(r.left)} to ${Math.round(r.right)} px)`);
    else if (box.scrollWidth > box.clientWidth + 1 && !scrolls(box)) cut.push(what + ' (wider than its box, which does not scroll)');
  }
  const small = [...document.querySelectorAll('.bd-article .cell_output img')]
      .filter(img => img.naturalWidth > 0 && img.getBoundingClientRect().width < Math.min(img.naturalWidth, 540) - 1)
      .map(img => `plot ${img.naturalWidth} px wide shown at ${Math.round(img.getBoundingClientRect().width)} px`);
  return {cut, small, pageWidth: document.documentElement.scrollWidth, viewport: innerWidth};
}"""


def test_on_a_phone_no_formula_or_table_is_cut_plots_stay_legible_and_the_page_never_scrolls_sideways(site, browser):
    base, html = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    report, boxes = [], 0
    for rel in _pages(html):
        page.goto(base + rel, wait_until="load")
        page.evaluate(WAIT_FOR_IMAGES)
        facts = page.evaluate(PHONE_LAYOUT)
        report += [f"{rel}: {c}" for c in facts["cut"] + facts["small"]]
        if facts["pageWidth"] > facts["viewport"]:
            report.append(f"{rel}: the page is {facts['pageWidth']} px wide on a {facts['viewport']}-px screen")
        boxes += page.evaluate("document.querySelectorAll('.bd-article div.math, .bd-article table').length")
    context.close()
    assert boxes > 20, "no formula or table was measured"
    assert not report, "\n".join(report)


def test_the_phone_check_sees_a_cut_formula(site, browser):
    """The check above on a page whose formula boxes are made not to scroll: it reports them."""
    base, html = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(base + "book/03-softmax.html", wait_until="load")
    page.add_style_tag(content=".bd-content div.math > .math-scroll { overflow: visible !important; }")
    facts = page.evaluate(PHONE_LAYOUT)
    context.close()
    assert any(c.startswith("formula") for c in facts["cut"]) or facts["pageWidth"] > facts["viewport"], facts


@pytest.mark.parametrize("width", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_chapters_3_and_7_in_full_page_screenshots(site, browser, screenshot_dir, width):
    """Full-page screenshots for a person to look at (kept in the test's tmp folder), taken
    without a console error or a failed request."""
    base, html = site
    context = browser.new_context(viewport=width)
    page = context.new_page()
    recorder = _Recorder(page, base)
    for rel in [c for c in _chapters(html) if Path(c).name.startswith(("03-", "07-"))]:
        page.goto(base + rel, wait_until="load")
        # Sections are rendered as they near the screen: all of them, for a full-page shot.
        page.add_style_tag(content=".bd-article section > section { content-visibility: visible !important; }")
        page.evaluate(WAIT_FOR_IMAGES)
        shot = screenshot_dir / f"{Path(rel).stem}-{width['width']}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000, shot
    context.close()
    assert not recorder.problems, recorder.problems


# ---- what a page loads ----------------------------------------------------------------

def _transfers(browser, url: str, viewport=PHONE) -> dict[str, int]:
    """``{url: bytes on the wire}`` for every request the page makes while it opens (load,
    then the network idle: lazy images near the screen, fonts), as Chromium's network
    events report them (``encodedDataLength``: headers and compressed body)."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls, sizes = {}, {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    cdp.on("Network.loadingFailed", lambda e: sizes.__setitem__(e["requestId"], 0))
    page.goto(url, wait_until="networkidle")
    context.close()
    return {urls[k]: v for k, v in sizes.items() if k in urls}


def test_every_chapter_page_loads_within_its_budget(site, browser):
    base, html = site
    report, weights = [], {}
    for rel in _chapters(html):
        transfers = _transfers(browser, base + rel)
        weights[rel] = total = sum(transfers.values())
        assert any(u.endswith(".css") for u in transfers) and len(transfers) >= 10, transfers
        if total > PAGE_BUDGET:
            biggest = sorted(transfers.items(), key=lambda kv: -kv[1])[:5]
            report.append(f"{rel}: {total / 1024:.0f} KiB > {PAGE_BUDGET / 1024:.0f} KiB; largest: "
                          + ", ".join(f"{u.rsplit('/', 1)[-1]} {n / 1024:.0f} KiB" for u, n in biggest))
    assert not report, "\n".join(report)
    assert min(weights.values()) > 50 * 1024, weights  # the count counts: a page is more than its HTML


def test_no_page_asks_for_font_awesome_or_for_the_search_index_before_search(site, browser):
    base, html = site
    for rel in _chapters(html)[:2] + ["book/for-students.html", "genindex.html"]:
        urls = list(_transfers(browser, base + rel))
        assert not [u for u in urls if "fontawesome" in u.lower() or "webfonts" in u], (rel, urls)
        assert not [u for u in urls if "searchindex" in u or "searchtools" in u], (rel, urls)
    searched = list(_transfers(browser, base + "search.html?q=softmax"))
    assert any("searchindex.js" in u for u in searched), searched


#: Every icon the page shows: elements with a Font Awesome class, admonition titles and
#: download links; each must get its picture from _static/icons.css (a mask image).
ICONS = """() => {
  const missing = [];
  const masked = (el, pseudo) => {
    const cs = getComputedStyle(el, pseudo);
    return (cs.maskImage || cs.webkitMaskImage || 'none') !== 'none';
  };
  for (const el of document.querySelectorAll('[class*="fa-"]')) {
    const names = [...el.classList].filter(c => /^fa-/.test(c) && !/^fa-(lg|xs|sm|xl|[0-9]+x|fw)$/.test(c));
    if (names.length && !masked(el, '::before')) missing.push(names.join(' '));
  }
  for (const el of document.querySelectorAll('.admonition > .admonition-title')) {
    if (!masked(el, '::after')) missing.push('admonition: ' + el.parentElement.className);
  }
  for (const el of document.querySelectorAll('a.reference.download')) {
    if (!masked(el, '::before')) missing.push('download link');
  }
  return {missing, icons: document.querySelectorAll('[class*="fa-"]').length};
}"""


def test_every_icon_is_drawn_without_font_awesome(site, browser):
    base, html = site
    page = browser.new_page(viewport=DESKTOP)
    counted = 0
    for rel in _chapters(html)[:1] + ["book/for-students.html", "search.html"]:
        page.goto(base + rel, wait_until="load")
        facts = page.evaluate(ICONS)
        assert not facts["missing"], (rel, facts["missing"])
        counted += facts["icons"]
    page.close()
    assert counted >= 10


def test_a_chapter_works_offline_from_the_built_folder(site, browser):
    """Opened as a file (no server): styles, math fonts and images load, nothing fails."""
    _, html = site
    page = browser.new_page(viewport=DESKTOP)
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("request", lambda r: r.url.startswith(("file:", "data:", "about:")) or failed.append(f"remote: {r.url}"))
    page.goto((html / "book" / "03-softmax.html").as_uri(), wait_until="load")
    page.evaluate(WAIT_FOR_IMAGES)
    page.evaluate("document.fonts.ready")
    facts = page.evaluate("""() => ({
      katexFont: getComputedStyle(document.querySelector('.katex')).fontFamily,
      fontsLoaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family),
      images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length,
      styled: getComputedStyle(document.querySelector('.bd-header')).display,
    })""")
    page.close()
    assert not failed, failed
    assert "KaTeX_Main" in facts["katexFont"] and any("KaTeX" in f for f in facts["fontsLoaded"]), facts
    assert facts["images"] == 0 and facts["styled"] != "inline", facts
