"""Sphinx extension: every chapter page links its exercise notebook.

For a page whose docname is ``book/NN-name`` and a notebook ``exercises/NN-name/*.ipynb``,
a box is put under the page title with

- "Download the exercise notebook": the notebook is copied into the build
  (``_downloads/``, Sphinx's download mechanism), so the link works offline;
- "Open in Colab" and "Launch on Binder" links and the ``pip install git+...`` line for
  Colab, built from ``_config.yml``'s ``repository: url`` and ``branch`` (which Jupyter
  Book passes to the theme as ``repository_url`` and ``repository_branch``) and the
  ``exercise_launch`` setting (``sphinx: config: exercise_launch: {colab_url: ...,
  binderhub_url: ...}``; an empty URL drops that link). They are built only when the
  URL names a real GitHub repository: not when it is empty, a placeholder such as
  ``your-org/...``, or Jupyter Book's default (its own repository, which it fills in
  when ``_config.yml`` names none). Then the box has the download alone.
  Jupyter Book's own ``launch_buttons`` are left off on purpose: they would launch the
  chapter page's Markdown source, which Colab cannot open, not the exercise.

The box also links the student kit (:mod:`autograder.student_kit`): the wheel of what
the notebooks' test cells import, which the build writes into the site under ``kit/``, so
a downloaded notebook runs its tests and ``nbgrader validate`` with nothing else. Pages
name it with the ``{student-kit}`` role (a link to the wheel) and show its install with
the ``{student-kit-install}`` directive (three commands: PyTorch, nbgrader, the kit).

Chapter pages need no markup for it. Registered in ``_config.yml`` under
``sphinx: extra_extensions``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from . import __version__, student_kit
from .kit_version import DIST_NAME, SITE_FOLDER, wheel_name

logger = logging.getLogger(__name__)

CHAPTER_DOCNAME = re.compile(r"^book/(?P<name>\d\d-[A-Za-z0-9_-]+)$")
GITHUB_URL = re.compile(r"^https://github\.com/(?P<org>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/?$")
#: Owners that only ever stand for "put your organisation here".
PLACEHOLDER_OWNERS = frozenset({"your-org", "your-organisation", "your-organization", "your-name", "your-username",
                                "owner", "user", "username", "example"})
#: What Jupyter Book puts in ``repository_url`` when ``_config.yml`` names no repository.
JUPYTER_BOOK_DEFAULT = ("executablebooks", "jupyter-book")


@dataclass(frozen=True)
class ExerciseLinks:
    """Where one exercise notebook can be had: ``path`` relative to the repository root."""

    path: str
    colab: str | None
    binder: str | None


def exercise_notebooks(srcdir: Path, docname: str) -> list[str]:
    """Repository-relative paths (``exercises/NN-name/x.ipynb``) of a chapter's notebooks;
    empty for a page that is not ``book/NN-name`` or has no exercise folder."""
    match = CHAPTER_DOCNAME.match(docname)
    if not match:
        return []
    folder = Path(srcdir) / "exercises" / match["name"]
    return sorted(f"exercises/{match['name']}/{nb.name}" for nb in folder.glob("*.ipynb"))


def course_repository(repository_url: str | None) -> tuple[str, str] | None:
    """``(owner, name)`` of the course's GitHub repository, or None when the URL is empty,
    not on GitHub, a placeholder (``your-org/...``, ``<owner>/...``) or Jupyter Book's
    default: links built from those would 404."""
    match = GITHUB_URL.match(repository_url.strip()) if repository_url else None
    if not match:
        return None
    org, repo = match["org"], match["repo"]
    if org.lower() in PLACEHOLDER_OWNERS or "<" in org or "{" in org or (org, repo) == JUPYTER_BOOK_DEFAULT:
        return None
    return org, repo


def launch_links(
    path: str,
    repository_url: str,
    branch: str = "main",
    colab_url: str | None = "https://colab.research.google.com",
    binderhub_url: str | None = "https://mybinder.org",
) -> ExerciseLinks:
    """Colab and Binder links for ``path`` (relative to the repository root) in a GitHub
    repository; a link is None when its service is not configured or the repository is
    not a real one on GitHub (both services open notebooks from GitHub by URL)."""
    found = course_repository(repository_url)
    if found is None:
        return ExerciseLinks(path, None, None)
    org, repo = found
    quoted = quote(path)
    colab = f"{colab_url.rstrip('/')}/github/{org}/{repo}/blob/{branch}/{quoted}" if colab_url else None
    binder = (
        f"{binderhub_url.rstrip('/')}/v2/gh/{org}/{repo}/{branch}?urlpath={quote('lab/tree/' + path, safe='')}"
        if binderhub_url
        else None
    )
    return ExerciseLinks(path, colab, binder)


DEFAULT_LAUNCH = {"colab_url": "https://colab.research.google.com", "binderhub_url": "https://mybinder.org"}


def colab_install_command(repository_url: str, branch: str = "main") -> str | None:
    """The cell a Colab user runs first: Colab opens the notebook alone, without the
    course's ``autograder`` package its test cells import. None without a real GitHub
    repository."""
    found = course_repository(repository_url)
    if found is None:
        return None
    return f"!pip install -q git+https://github.com/{found[0]}/{found[1]}.git@{branch}"


def repository_settings(config) -> dict:
    """The repository (as Jupyter Book passes ``_config.yml``'s ``repository:`` to the
    theme) and the launch services (``exercise_launch``, defaults for missing keys)."""
    theme = dict(config.html_theme_options or {})
    launch = {**DEFAULT_LAUNCH, **dict(config.exercise_launch or {})}
    return {
        "repository_url": theme.get("repository_url") or "",
        "branch": theme.get("repository_branch") or "main",
        "colab_url": launch["colab_url"] or None,
        "binderhub_url": launch["binderhub_url"] or None,
    }


#: The page that explains the kit's install (linked from every exercise box when it exists).
STUDENTS_PAGE = "book/for-students"


def kit_path() -> str:
    """Where the kit's wheel is in the built site, from its root."""
    return f"{SITE_FOLDER}/{wheel_name(__version__)}"


def kit_link(app: Sphinx, docname: str) -> nodes.reference:
    """A link from page ``docname`` to the kit's wheel, named with its version."""
    uri = relative_uri(app.builder.get_target_uri(docname), kit_path())
    link = nodes.reference("", "", refuri=uri, classes=["student-kit-download"])
    link += nodes.Text(f"{DIST_NAME} {__version__}")
    return link


def kit_paragraph(app: Sphinx, docname: str, students_page: bool) -> nodes.paragraph:
    """The exercise box's line about the kit."""
    para = nodes.paragraph(classes=["exercise-kit"])
    para += nodes.Text("To run its tests on your own machine, install the course's student kit, ")
    para += kit_link(app, docname)
    para += nodes.Text(", with PyTorch and nbgrader")
    if students_page:
        para += nodes.Text(": three commands, in ")
        ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/" + STUDENTS_PAGE,
                                    refexplicit=True, refdoc=docname)
        ref += nodes.inline(text="For students")
        para += ref
    para += nodes.Text(".")
    return para


def exercise_box(links: list[ExerciseLinks], colab_install: str | None = None,
                 kit: nodes.paragraph | None = None) -> nodes.Element:
    """The admonition put under a chapter's title; ``colab_install`` is the command a
    Colab user runs first (shown when there is a Colab link); ``kit`` the line about the
    student kit."""
    box = nodes.admonition(classes=["exercise-links", "tip"])
    box += nodes.title(text="Exercise for this chapter")
    for link in links:
        name = Path(link.path).name
        para = nodes.paragraph(classes=["exercise-links-row"])
        download = addnodes.download_reference(
            "", "", reftarget="/" + link.path, refdoc="", refexplicit=True, classes=["exercise-download"]
        )
        download += nodes.Text(f"Download the exercise notebook ({name})")
        para += download
        for label, url, cls in (
            ("Open in Colab", link.colab, "exercise-colab"),
            ("Launch on Binder", link.binder, "exercise-binder"),
        ):
            if url:
                para += nodes.Text(" · ")
                para += nodes.reference("", label, refuri=url, classes=[cls])
        box += para
    if colab_install and any(link.colab for link in links):
        para = nodes.paragraph(classes=["exercise-colab-install"])
        para += nodes.Text("In Colab, first run ")
        para += nodes.literal(text=colab_install)
        para += nodes.Text(" in a new cell: the tests import the course's autograder package.")
        box += para
    if kit is not None:
        box += kit
    box += nodes.paragraph(
        text="Fill in the cells marked YOUR CODE HERE and run the test cell under each; "
        "see “For students” for how the tests and hints work."
    )
    return box


class InsertExerciseLinks(SphinxTransform):
    """Puts the exercise box under the first title of a chapter page and registers each
    notebook with Sphinx's download files, which the HTML builder copies into the build."""

    default_priority = 880

    def apply(self, **kwargs) -> None:
        docname = self.env.docname
        paths = exercise_notebooks(Path(self.env.srcdir), docname)
        if not paths:
            return
        settings = repository_settings(self.config)
        links = [
            launch_links(p, settings["repository_url"], settings["branch"], settings["colab_url"], settings["binderhub_url"])
            for p in paths
        ]
        section = next(iter(self.document.findall(nodes.section)), None)
        kit = kit_paragraph(self.app, docname, STUDENTS_PAGE in self.env.found_docs)
        box = exercise_box(links, colab_install_command(settings["repository_url"], settings["branch"]), kit)
        if section is None or not isinstance(section[0], nodes.title):
            self.document.insert(0, box)
        else:
            section.insert(1, box)
        # Copy each notebook into the build (_downloads/<hash>/) as Sphinx's {download}
        # role does, and rebuild the page when the notebook changes.
        for ref in box.findall(addnodes.download_reference):
            rel = ref["reftarget"].lstrip("/")
            ref["refdoc"] = docname
            ref["filename"] = str(self.env.dlfiles.add_file(docname, rel))
            self.env.note_dependency(str(Path(self.env.srcdir) / rel))


def drop_unused_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Jupyter Book always loads sphinx-thebe, whose inline configuration script ends up
    twice in every page under Sphinx 7 (a console error: ``THEBE_JS_URL`` declared twice)
    and names a CDN. Without a thebe launch button nothing uses it: drop its scripts and
    stylesheet from the page (``html-page-context``)."""
    launch = (app.config.html_theme_options or {}).get("launch_buttons") or {}
    if launch.get("thebe"):
        return

    def is_thebe(asset) -> bool:
        name = str(getattr(asset, "filename", asset) or "")
        body = str(getattr(asset, "attributes", {}).get("body", ""))
        return "sphinx-thebe" in name or "THEBE_JS_URL" in body

    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not is_thebe(asset)]


def publish_kit(app: Sphinx) -> None:
    """``builder-inited``: write the student kit's wheel into the site (``kit/``)."""
    if app.builder.format != "html":
        return
    try:
        student_kit.build(Path(app.outdir) / SITE_FOLDER)
    except student_kit.KitError as err:
        raise ExtensionError(f"the student kit cannot be built: {err}") from err


def student_kit_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{student-kit}`` (any text): a link to the kit's wheel, named with its version."""
    env = inliner.document.settings.env
    return [kit_link(env.app, env.docname)], []


class StudentKitInstall(SphinxDirective):
    """``{student-kit-install}``: the three commands that install PyTorch, nbgrader and the
    kit; the kit by its URL when ``html_baseurl`` says where the site lives, else by the
    name of the downloaded file."""

    def run(self) -> list[nodes.Node]:
        base = (self.config.html_baseurl or "").rstrip("/")
        wheel = f"{base}/{kit_path()}" if base else wheel_name(__version__)
        text = "\n".join(student_kit.install_commands(wheel))
        block = nodes.literal_block(text, text, language="bash", classes=["student-kit-install"])
        self.set_source_info(block)
        return [block]


def setup(app: Sphinx) -> dict:
    app.add_config_value("exercise_launch", dict(DEFAULT_LAUNCH), "env", [dict])
    app.add_transform(InsertExerciseLinks)
    app.connect("builder-inited", publish_kit)
    app.add_role("student-kit", student_kit_role)
    app.add_directive("student-kit-install", StudentKitInstall)
    app.connect("html-page-context", drop_unused_thebe)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
