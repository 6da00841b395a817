"""Sphinx extension: every formula of the book rendered to HTML when the site is built.

The reader's browser runs no math engine: each ``$...$`` and ``$$...$$`` is rendered by
KaTeX (the npm package pinned in ``package-lock.json``, which ``make`` installs) into HTML
and MathML, styled by KaTeX's own stylesheet and fonts, which are copied into the site
(``_static/katex/``): the pages work offline and load no script for math. One Node
process (``assets/render_math.js``) renders every formula of a build, one JSON line
per formula each way.

Every formula is checked: KaTeX runs with ``throwOnError`` and ``strict: "error"``, and a
formula it cannot render is a Sphinx warning at the formula's line (the strict build makes
it an error), quoting the formula and KaTeX's message.

A display formula is a ``div.math`` (with its equation number, when it has one) holding a
``div.math-scroll``: a formula wider than a phone's column scrolls sideways inside that
box (``_static/course.css``) instead of being cut or widening the page.

Registered in ``_config.yml``, with ``html_math_renderer: katex_checked``.
"""
from __future__ import annotations

import atexit
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

from .. import REPO_ROOT

logger = logging.getLogger(__name__)

RENDERER = "katex_checked"
KATEX_DIST = REPO_ROOT / "node_modules" / "katex" / "dist"
RENDER_SCRIPT = Path(__file__).parent / "assets" / "render_math.js"
#: Where the stylesheet and fonts land in the built site, under ``_static/``.
STATIC_DIR = "katex"
#: Rendering options for every formula: fail on anything KaTeX would only warn about.
OPTIONS = {"throwOnError": True, "strict": "error", "output": "htmlAndMathml"}
#: ``url(fonts/X.woff2) format("woff2"),url(fonts/X.woff) format("woff"),...`` in KaTeX's CSS.
FONT_SOURCES = re.compile(r"src:\s*(url\([^)]*\.woff2\)\s*format\(\"woff2\"\))[^;}]*")


class KaTeXMissing(ExtensionError):
    pass


class KaTeXError(Exception):
    """KaTeX refused a formula; the message is KaTeX's."""


class KaTeX:
    """One ``node render_math.js`` process, started at the first formula and kept for
    the build: :meth:`render` sends a formula and reads its HTML back."""

    _process: subprocess.Popen | None = None

    @classmethod
    def render(cls, latex: str, options: dict) -> str:
        """KaTeX's HTML for ``latex``; :class:`KaTeXError` when KaTeX refuses it."""
        process = cls._running()
        process.stdin.write(json.dumps({"latex": latex, "options": options}) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            cls.stop()
            raise KaTeXMissing(f"the KaTeX renderer ({RENDER_SCRIPT.name}) stopped; Node's messages are above")
        answer = json.loads(line)
        if "error" in answer:
            raise KaTeXError(answer["error"])
        return answer["html"]

    @classmethod
    def _running(cls) -> subprocess.Popen:
        if cls._process is None or cls._process.poll() is not None:
            node = shutil.which("node")
            if node is None:
                raise KaTeXMissing("Node.js is needed to render the book's math: run `make` "
                                   "(scripts/system-packages.sh installs it)")
            cls._process = subprocess.Popen(
                [node, str(RENDER_SCRIPT), str(katex_script())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            )
            atexit.register(cls.stop)
        return cls._process

    @classmethod
    def stop(cls) -> None:
        process, cls._process = cls._process, None
        if process is not None and process.poll() is None:
            process.stdin.close()
            process.wait(timeout=10)


def katex_script() -> Path:
    """KaTeX's library as npm installed it; a clear error when ``make`` has not run."""
    script = KATEX_DIST / "katex.min.js"
    if not script.is_file():
        raise KaTeXMissing(f"KaTeX is not installed ({script} is missing): run `make` (it runs `npm ci`), "
                           "which needs Node.js and npm (scripts/system-packages.sh installs them)")
    return script


def woff2_only(css: str) -> str:
    """KaTeX's stylesheet with each font's sources cut to its WOFF2 file (every browser
    that runs this site reads WOFF2; the others are never fetched, so not shipped)."""
    return FONT_SOURCES.sub(r"src:\1", css)


def display_latex(text: str) -> str:
    """A display block's LaTeX as KaTeX takes it: blocks separated by blank lines are
    aligned one under the other, a block holding ``\\\\`` is a ``split`` (as Sphinx's
    MathJax writer does)."""
    parts = [p.strip() for p in text.split("\n\n") if p.strip()]
    parts = [rf"\begin{{split}}{p}\end{{split}}" if r"\\" in p else p for p in parts]
    if len(parts) == 1:
        return parts[0]
    return r"\begin{aligned}" + r"\\".join(parts) + r"\end{aligned}"


def render(translator, node: nodes.Element, latex: str, display: bool) -> str:
    """KaTeX's HTML for ``latex``; on a KaTeX error a warning at ``node`` (an error in the
    strict build) and the source, escaped, in its place."""
    try:
        return KaTeX.render(latex, {**OPTIONS, "displayMode": display})
    except KaTeXError as err:
        logger.warning("KaTeX cannot render %r: %s", latex, err, location=node, type="katex")
        return f'<span class="katex-error">{html.escape(latex)}</span>'


def visit_math(self, node: nodes.math) -> None:
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate nohighlight"))
    self.body.append(render(self, node, node.astext(), display=False))
    self.body.append("</span>")
    raise nodes.SkipNode


def visit_displaymath(self, node: nodes.math_block) -> None:
    self.body.append(self.starttag(node, "div", CLASS="math notranslate nohighlight"))
    if node["number"]:
        self.body.append(f'<span class="eqno">({get_node_equation_number(self, node)})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    latex = node.astext() if node["nowrap"] else display_latex(node.astext())
    self.body.append('<div class="math-scroll">' + render(self, node, latex, display=True) + "</div></div>\n")
    raise nodes.SkipNode


def copy_assets(app: Sphinx) -> None:
    """KaTeX's stylesheet (WOFF2 sources only) and WOFF2 fonts into ``_static/katex/``
    (``builder-inited``: before the pages are written)."""
    if app.builder.format != "html":
        return
    katex_script()
    target = Path(app.outdir) / "_static" / STATIC_DIR
    (target / "fonts").mkdir(parents=True, exist_ok=True)
    css = woff2_only((KATEX_DIST / "katex.min.css").read_text(encoding="utf-8"))
    (target / "katex.min.css").write_text(css, encoding="utf-8")
    for font in sorted((KATEX_DIST / "fonts").glob("*.woff2")):
        shutil.copyfile(font, target / "fonts" / font.name)


def setup(app: Sphinx) -> dict:
    app.add_html_math_renderer(RENDERER, (visit_math, None), (visit_displaymath, None))
    app.add_css_file(f"{STATIC_DIR}/katex.min.css")
    app.connect("builder-inited", copy_assets)
    app.connect("build-finished", lambda app, exception: KaTeX.stop())
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
