"""The CommonMark parser that decides Markdown structure for scanning and rewriting.

The portal rendered guides with a CommonMark renderer, so structure (lists, code, link
targets, table cells) is read the CommonMark way: by :mod:`tenantdocs.placeholders` to
decide the context of each placeholder, and by :mod:`tenantdocs.rewrite` to find what
Python-Markdown would read differently. It sits below both.
"""

from __future__ import annotations

from markdown_it import MarkdownIt


def markdown_parser() -> MarkdownIt:
    """A CommonMark parser (with tables) that keeps link targets exactly as written."""
    md = MarkdownIt("commonmark").enable("table")
    # Keep link targets exactly as written so placeholders in them can be recognised.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    return md
