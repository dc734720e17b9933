"""The CommonMark parser that decides Markdown structure for scanning and rewriting.

The portal rendered guides with a CommonMark renderer, so structure (lists, code, link
targets, table cells) is read the CommonMark way: by :mod:`tenantdocs.placeholders` to
decide the context of each placeholder, and by :mod:`tenantdocs.rewrite` to find what
Python-Markdown would read differently. It sits below both.

Scanning one part asks for the structure of the same text several times (each rewrite, the
context scan, the link check); :class:`Parses` parses each text once and hands every one of
them the same tokens, which they only read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded by the runs that scan a guide only (a no-op rebuild scans none)
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token


def markdown_parser() -> MarkdownIt:
    """A CommonMark parser (with tables) that keeps link targets exactly as written."""
    from markdown_it import MarkdownIt

    # Emphasis is not read by anyone, and cannot move where a code span, link, autolink or
    # HTML tag starts or ends (CommonMark gives those precedence): not parsing it takes a
    # quarter off every scan. Its markers stay in the text.
    md = MarkdownIt("commonmark").enable("table").disable("emphasis")
    md.core.ruler.at("inline", _read_inline)
    # Keep link targets exactly as written so placeholders in them can be recognised.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.normalizeLink = lambda url: url  # type: ignore[method-assign]
    return md


def _read_inline(state: StateCore) -> None:
    """markdown-it's ``inline`` rule for the text read: a block's inline content is parsed
    only where a placeholder (always ``%``) or a link or image (always ``[``) can be; the
    others keep no children. That is half of every scan's parse on a typical guide."""
    for token in state.tokens:
        if token.type == "inline" and ("%" in token.content or "[" in token.content):
            token.children = []
            state.md.inline.parse(token.content, state.md, state.env, token.children)


class Parses:
    """Token streams by text, each text parsed once; kept for one part's scan.

    ``parser`` (from :func:`markdown_parser`) may be shared by many, as building one costs.

    The tokens are shared between callers: read them, never change them.
    """

    def __init__(self, parser: MarkdownIt | None = None) -> None:
        self._parser = parser or markdown_parser()
        self._tokens: dict[str, list[Token]] = {}

    def tokens(self, text: str) -> list[Token]:
        """The CommonMark tokens of ``text`` (parsed on the first request)."""
        found = self._tokens.get(text)
        if found is None:
            found = self._tokens[text] = self._parser.parse(text)
        return found
