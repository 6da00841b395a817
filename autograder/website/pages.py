"""Sphinx extension: light pages that a phone paints fast, and that fit its screen.

What Jupyter Book's theme would send with every page, and what this changes:

- ``fontawesome.js`` (1.4 MB, on every page, to draw a dozen icons): not loaded. The
  theme's templates are shadowed (``assets/templates``) by copies without it; the
  icons the theme shows are drawn by ``_static/icons.css`` (one small SVG mask each).
- Sphinx's search scripts and ``searchindex.js`` (render-blocking, on every page): only on
  the search page, which the search box sends the query to.
- Every other script in the head: ``defer`` (inline ones stay where they are), except on
  the search page, whose search scripts need them at once.
- Output images: ``width``/``height`` from the PNG (no layout shift), ``loading="lazy"``,
  ``decoding="async"``, and an ``alt`` that says what they are instead of a file name.
- The theme's script bundle: its load-time pass over every code block and output (which
  reads each one's scroll size to make the scrolling ones keyboard-focusable) is turned
  off: it lays the whole page out again, defeating the lazy rendering of sections, and
  again after every change to the page. ``_static/scroll-focus.js`` does the same job
  for each box when it comes into view.
- The theme's stylesheet: trimmed of Font Awesome's 1,900 glyph rules and its font faces
  (about a third of the file; nothing uses them once the icons are drawn by CSS).
- ``<meta name="description">``: the page's first paragraph (search results show it).
- Tables: each in a ``div.table-scroll``, so a wide table scrolls inside its own box on
  a phone instead of being cut or widening the page (``_static/course.css``).

Registered in ``_config.yml`` under ``sphinx: extra_extensions``.
"""
from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.builders.html._assets import _JavaScript
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "assets" / "templates"
#: Longest description kept (search engines show about this much).
DESCRIPTION_CHARS = 155
#: What a page without its own text (index, search) says about itself.
SITE_DESCRIPTION = ("An open course: activations, softmax, losses and backprop by hand in PyTorch, from "
                    "the formula to a FashionMNIST classifier, with graded exercises.")
IMG_TAG = re.compile(r"<img\b[^>]*>")
ATTRIBUTE = re.compile(r'\s([a-zA-Z-]+)="([^"]*)"')
#: Alt text of an image that myst-nb made from a cell's output (it writes the file name).
OUTPUT_IMAGE_ALT = "Plot drawn by the code cell above"


#: The theme's stylesheet, in the built site.
THEME_CSS = Path("_static") / "styles" / "pydata-sphinx-theme.css"
#: A rule that only gives Font Awesome glyphs to ``.fa-NAME::before``/``::after`` selectors.
GLYPH_RULE = re.compile(r"(?:\.fa-[\w-]+:{1,2}(?:before|after),?)+\{content:[^;{}]*;?\}")
#: Font Awesome's ``@font-face`` rules.
FONT_FACE = re.compile(r"@font-face\{[^}]*Font Awesome[^}]*\}")


def without_icon_font(css: str) -> str:
    """``css`` less Font Awesome's glyph rules and font faces."""
    return FONT_FACE.sub("", GLYPH_RULE.sub("", css))


def trim_theme_css(app: Sphinx, exception: Exception | None) -> None:
    """``build-finished``: trim the theme's stylesheet in the built site."""
    path = Path(app.outdir) / THEME_CSS
    if exception is None and path.is_file():
        css = path.read_text(encoding="utf-8")
        trimmed = without_icon_font(css)
        if trimmed != css:
            path.write_text(trimmed, encoding="utf-8")


#: The theme's script bundle, in the built site, and its call of the scroll-size pass.
THEME_JS = Path("_static") / "scripts" / "pydata-sphinx-theme.js"
SCROLL_PASS = '"complete"===document.readyState?I():window.addEventListener("load",I)'
SCROLL_PASS_OFF = "void 0/* scroll-size pass off: _static/scroll-focus.js, autograder/website/pages.py */"


def without_scroll_pass(js: str) -> str | None:
    """The theme's bundle with its scroll-size pass not called; None when the bundle has
    neither the call nor the replacement (another version of the theme)."""
    if SCROLL_PASS_OFF in js:
        return js
    if js.count(SCROLL_PASS) != 1:
        return None
    return js.replace(SCROLL_PASS, SCROLL_PASS_OFF)


def patch_theme_js(app: Sphinx, exception: Exception | None) -> None:
    """``build-finished``: turn the theme bundle's scroll-size pass off in the built site;
    a warning (an error in the strict build) when the bundle is not the one expected."""
    path = Path(app.outdir) / THEME_JS
    if exception is not None or not path.is_file():
        return
    js = path.read_text(encoding="utf-8")
    patched = without_scroll_pass(js)
    if patched is None:
        logger.warning("%s is not the theme version autograder/website/pages.py knows: its scroll-size "
                       "pass was not found; check the pages' speed and update SCROLL_PASS", THEME_JS)
    elif patched != js:
        path.write_text(patched, encoding="utf-8")


class WrapTables(SphinxTransform):
    """Every table goes into a ``div.table-scroll`` (its own horizontal scroll box)."""

    default_priority = 900

    def apply(self, **kwargs) -> None:
        for table in list(self.document.findall(nodes.table)):
            if isinstance(table.parent, nodes.container) and "table-scroll" in table.parent["classes"]:
                continue
            box = nodes.container(classes=["table-scroll"])
            table.replace_self(box)
            box += table


def description(doctree: nodes.document | None, limit: int = DESCRIPTION_CHARS) -> str:
    """The page's first paragraph of prose (not inside an admonition, a cell or a table),
    white space collapsed, cut at a word to at most ``limit`` characters; the site's
    description for a page without one."""
    if doctree is not None:
        for para in doctree.findall(nodes.paragraph):
            if any(isinstance(a, (nodes.Admonition, nodes.table, nodes.container, nodes.topic))
                   for a in _ancestors(para)):
                continue
            text = " ".join(para.astext().split())
            if len(text) >= 40:
                return _cut(text, limit)
    return SITE_DESCRIPTION


def _ancestors(node: nodes.Node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def image_sizes(app: Sphinx) -> dict[str, tuple[int, int]]:
    """``{name in _images/: (width, height)}`` for the images the build copies so far
    (each page adds its own before it is written); each file is read once."""
    from PIL import Image

    known: dict[str, tuple[int, int] | None] = app.builder.__dict__.setdefault("_site_image_sizes", {})
    for source, name in app.builder.images.items():
        if name not in known:
            try:
                with Image.open(Path(app.srcdir) / source) as image:
                    known[name] = image.size
            except (OSError, ValueError):
                known[name] = None
    return {name: size for name, size in known.items() if size}


def sized_images(body: str, sizes: dict[str, tuple[int, int]]) -> str:
    """``body`` with each ``<img>`` given its pixel size (when known), lazy loading, async
    decoding, and a real alt text where myst-nb wrote the file's path."""

    def fix(match: re.Match) -> str:
        tag = match.group(0)
        attrs = dict(ATTRIBUTE.findall(tag))
        name = attrs.get("src", "").rsplit("/", 1)[-1].split("?")[0]
        extra = {"loading": "lazy", "decoding": "async"}
        if name in sizes and "width" not in attrs and "height" not in attrs:
            extra["width"], extra["height"] = map(str, sizes[name])
        if attrs.get("alt") and attrs.get("alt") == attrs.get("src"):
            tag = tag.replace(f'alt="{attrs["alt"]}"', f'alt="{OUTPUT_IMAGE_ALT}"')
        added = "".join(f' {k}="{v}"' for k, v in extra.items() if k not in attrs)
        return re.sub(r"\s*/?>$", added + " />", tag)

    return IMG_TAG.sub(fix, body)


def deferred(script):
    """A head script with a source file, loaded with ``defer``; inline scripts as they are."""
    if not getattr(script, "filename", None) or "async" in script.attributes or "defer" in script.attributes:
        return script
    attributes = {k: v for k, v in script.attributes.items() if k != "src"}
    return _JavaScript(script.filename, priority=script.priority, **attributes, defer="defer")


def lighten_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """``html-page-context``: defer scripts, size images, add the meta description."""
    if "script_files" in context and pagename != "search":
        # (The search page's own scripts run at once and need Sphinx's before them.)
        context["script_files"] = [deferred(s) for s in context["script_files"]]
    if context.get("body"):
        context["body"] = sized_images(context["body"], image_sizes(app))
    text = html.escape(description(doctree), quote=True)
    context["metatags"] = context.get("metatags", "") + f'\n    <meta name="description" content="{text}" />'


def assets_digest(app: Sphinx) -> str:
    """A digest of what every page is made with besides its source: the static folders
    (``_static``: styles, icons), the templates above, the site's extensions (this
    package and the exercise box) and the package's version (which names the kit)."""
    from .. import __version__

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    folders = [Path(app.confdir) / entry for entry in app.config.html_static_path] + [package]
    files = [package.parent / "sphinxext.py"] + [p for f in folders for p in sorted(Path(f).rglob("*")) if p.is_file()]
    for path in files:
        if "__pycache__" not in path.parts:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def rewrite_all_when_assets_change(app: Sphinx, env, added, changed, removed) -> list[str]:
    """``env-get-outdated``: every page, when a style or template changed since the last
    build (Sphinx alone would copy the new files only with a page to write)."""
    digest = assets_digest(app)
    if getattr(env, "course_assets_digest", None) == digest:
        return []
    env.course_assets_digest = digest
    return sorted(env.found_docs)


def add_templates(app: Sphinx, config) -> None:
    """Put the templates that shadow the theme's first on the template path."""
    if str(TEMPLATES) not in config.templates_path:
        config.templates_path.insert(0, str(TEMPLATES))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_templates)
    app.add_transform(WrapTables)
    app.connect("env-get-outdated", rewrite_all_when_assets_change)
    app.connect("html-page-context", lighten_page)
    app.connect("build-finished", trim_theme_css)
    app.connect("build-finished", patch_theme_js)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
