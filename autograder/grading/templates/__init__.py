"""The jinja2 templates of the grader's pages (``summary.html``, ``similarity.html``, the feedback pages).

Templates are package data (``pyproject.toml``), so a non-editable install has them.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html.j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(name: str, **context) -> str:
    """The template ``name`` of this folder rendered with ``context`` (HTML escaped)."""
    return environment().get_template(name).render(**context)
