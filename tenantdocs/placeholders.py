"""Find ``%metadata:Key%`` placeholders in template text and convert templates to Jinja.

Substitution never depends on a clean Markdown parse: placeholders are found by a scanner on
the raw text, so broken bold, tokens glued to words, NBSP after a token or CRLF line endings
change nothing. markdown-it-py only decides the *context* of each placeholder (prose, link
target, code, table cell, HTML), which decides how its value is escaped.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from jinja2 import nodes

from tenantdocs.errors import Location, Problem, Severity
from tenantdocs.keys import did_you_mean, lookup_key, suggest_key
from tenantdocs.mdparser import Parses

if TYPE_CHECKING:  # markdown_it is loaded by the runs that scan a guide only
    from markdown_it.token import Token

# `%metadata:<anything but % and blanks>%`, or a bare `%Identifier%` (resolved only when the
# identifier is a known key, so `50%` and `%PATH%` pass through untouched).
_PLACEHOLDER = re.compile(
    r"%(?:(?P<ns>[Mm][Ee][Tt][Aa][Dd][Aa][Tt][Aa]):(?P<key>[^%\s]*)|(?P<bare>[A-Za-z]\w*))%"
)
# Any `%metadata:` text; one that starts no well-formed placeholder would be published raw.
_NAMESPACE = re.compile(r"%metadata:", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

JINJA_PRAGMA = "{# tenantdocs: jinja #}"
"""A template whose first line is exactly this opts in to real Jinja."""


class Context(Enum):
    """Where in the Markdown a placeholder stands, which decides its escaping."""

    PROSE = "prose"
    TABLE_CELL = "table cell"
    LINK_URL = "link target"
    LINK_URL_PART = "part of a link target"
    INLINE_CODE = "inline code"
    CODE_BLOCK = "code block"
    HTML = "HTML"
    HTML_URL = "HTML link attribute"


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One placeholder occurrence in a template."""

    location: Location
    """File, line and column of its opening ``%``."""
    start: int
    """Offset of the opening ``%`` in the template text."""
    end: int
    """Offset just past the closing ``%``."""
    spelling: str
    """The key as written (any case, possibly an alias)."""
    key: str | None
    """The canonical key, or None when the spelling is not a known key."""
    context: Context
    """The Markdown context, which decides the escaping of the value."""

    @property
    def text(self) -> str:
        """The placeholder as it would be written canonically, for messages."""
        return f"%metadata:{self.key or self.spelling}%"


@dataclass(frozen=True, slots=True)
class ScannedTemplate:
    """A template part after scanning: its text, placeholders and Jinja source."""

    path: Path
    """The template file."""
    text: str
    """The decoded text (UTF-8, BOM removed), otherwise byte for byte the file."""
    placeholders: tuple[Placeholder, ...]
    """Every placeholder in order of appearance."""
    jinja_source: str
    """The text as a Jinja template: placeholders become ``{{ ph(i) }}`` calls."""
    uses_jinja: bool
    """True when the template opted in to real Jinja with :data:`JINJA_PRAGMA`."""
    metadata_refs: tuple[tuple[str, Location], ...] = ()
    """Keys referenced as ``metadata.Key`` in Jinja expressions (opt-in templates only)."""


def line_starts(text: str) -> list[int]:
    """Return the offset at which each line of ``text`` starts (CRLF, CR and LF all end one)."""
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def locate(starts: Sequence[int], offset: int, path: Path) -> Location:
    """Turn an offset into a 1-based line and column using :func:`line_starts` output."""
    line = bisect.bisect_right(starts, offset)
    return Location(path, line, offset - starts[line - 1] + 1)


def _find_spans(text: str) -> Iterator[re.Match[str]]:
    """Yield placeholder matches; an unknown bare ``%Word%`` gives its closing % another try."""
    pos = 0
    while (match := _PLACEHOLDER.search(text, pos)) is not None:
        bare = match.group("bare")
        if bare is not None and lookup_key(bare) is None:
            pos = match.start() + 1
            continue
        yield match
        pos = match.end()


def scan_placeholders(
    text: str, path: Path, *, contexts: bool = True, parses: Parses | None = None
) -> tuple[Placeholder, ...]:
    """Find every placeholder in ``text`` with its location and Markdown context.

    ``contexts=False`` skips the Markdown parse (every context is then prose), for callers
    that need only spans and locations. ``parses`` shares the parse with other scans.
    """
    matches = list(_find_spans(text))
    if not matches:
        return ()
    starts = line_starts(text)
    offsets = [m.start() for m in matches]
    found_contexts = (
        _contexts(text, offsets, starts, parses or Parses())
        if contexts
        else [Context.PROSE] * len(offsets)
    )
    found = []
    for match, context in zip(matches, found_contexts, strict=True):
        spelling = match.group("key") if match.group("ns") else match.group("bare")
        spec = lookup_key(spelling)
        found.append(
            Placeholder(
                location=locate(starts, match.start(), path),
                start=match.start(),
                end=match.end(),
                spelling=spelling,
                key=spec.name if spec else None,
                context=context,
            )
        )
    return tuple(found)


def placeholder_problems(template: ScannedTemplate) -> list[Problem]:
    """Unknown keys (errors) and non-canonical spellings (warnings) in one template."""
    problems = []
    for ph in template.placeholders:
        if ph.key is None:
            problems.append(
                Problem(
                    ph.location,
                    f"unknown key '{ph.spelling}' in %metadata:{ph.spelling}%"
                    + did_you_mean(suggest_key(ph.spelling)),
                )
            )
        elif ph.spelling != ph.key:
            problems.append(
                Problem(
                    ph.location,
                    f"'{ph.spelling}' is a non-canonical spelling of '{ph.key}'",
                    Severity.WARNING,
                )
            )
    starts = line_starts(template.text)
    covered = {ph.start for ph in template.placeholders}
    for match in _NAMESPACE.finditer(template.text):
        if match.start() not in covered:
            problems.append(
                Problem(
                    locate(starts, match.start(), template.path),
                    "malformed placeholder: write %metadata:Key% with a key of letters and"
                    " digits and a closing %",
                )
            )
    for spelling, location in template.metadata_refs:
        spec = lookup_key(spelling)
        if spec is None:
            problems.append(
                Problem(
                    location,
                    f"unknown key 'metadata.{spelling}'" + did_you_mean(suggest_key(spelling)),
                )
            )
    return problems


# --- Markdown contexts ------------------------------------------------------------------


def _contexts(text: str, offsets: list[int], starts: list[int], parses: Parses) -> list[Context]:
    """Decide the context of the placeholders at ``offsets`` (sorted)."""
    lines = [bisect.bisect_right(starts, off) - 1 for off in offsets]  # 0-based line of each
    contexts: list[Context | None] = [None] * len(offsets)

    def take(first_line: int, last_line: int, count: int) -> list[int]:
        """Claim the next ``count`` unassigned placeholders within the line range."""
        claimed = [
            i
            for i in range(len(offsets))
            if first_line <= lines[i] < last_line and contexts[i] is None
        ]
        return claimed[:count]

    base = Context.PROSE
    for token in parses.tokens(text):
        if token.type in ("th_open", "td_open"):
            base = Context.TABLE_CELL
        elif token.type in ("th_close", "td_close"):
            base = Context.PROSE
        if token.map is None:
            continue
        first, last = token.map
        if token.type in ("fence", "code_block"):
            for i in take(first, last, len(offsets)):
                contexts[i] = Context.CODE_BLOCK
        elif token.type == "html_block":
            for i in take(first, last, len(offsets)):
                contexts[i] = _html_context(text, offsets[i], starts[lines[i]])
        elif token.type == "inline":
            expected = sum(1 for _ in _find_spans(token.content))
            claimed = take(first, last, expected)
            inline = _inline_contexts(token.children or [], base)
            if len(inline) == len(claimed):
                for i, context in zip(claimed, inline, strict=True):
                    contexts[i] = context
            # Otherwise the parse does not line up with the raw text (reference links,
            # broken markup): these placeholders fall through to the line heuristic below.

    return [
        context if context is not None else _line_context(text, off, starts[line])
        for context, off, line in zip(contexts, offsets, lines, strict=True)
    ]


def _inline_contexts(children: Sequence[Token], base: Context) -> list[Context]:
    """Contexts of the placeholders in an inline token's children, in source order."""
    found: list[Context] = []
    pending_urls: list[list[Context]] = []  # link targets come after the link text
    in_autolink = False  # an autolink's text repeats its target: count the target only
    for child in children:
        if child.type == "text":
            if not in_autolink:
                found += [base] * _count(child.content)
        elif child.type == "code_inline":
            found += [Context.INLINE_CODE] * _count(child.content)
        elif child.type == "html_inline":
            found += [_tag_context(child.content, m.start()) for m in _find_spans(child.content)]
        elif child.type == "link_open":
            in_autolink = child.markup == "autolink"
            pending_urls.append(_url_contexts(child))
        elif child.type == "link_close" and pending_urls:
            in_autolink = False
            found += pending_urls.pop()
        elif child.type == "image":
            found += _inline_contexts(child.children or [], base)
            found += _url_contexts(child)
    return found


def _url_contexts(token: Token) -> list[Context]:
    href = str(token.attrs.get("href", token.attrs.get("src", "")))
    contexts = [
        Context.LINK_URL if m.start() == 0 else Context.LINK_URL_PART for m in _find_spans(href)
    ]
    title = token.attrs.get("title")
    if title:
        contexts += [Context.PROSE] * _count(str(title))
    return contexts


def _count(text: str) -> int:
    return sum(1 for _ in _find_spans(text))


_OPEN_URL_ATTRIBUTE = re.compile(r"""\b(?:href|src)\s*=\s*["']?$""", re.IGNORECASE)


def _tag_context(html: str, offset: int) -> Context:
    """HTML_URL when the placeholder starts an href/src value inside a tag, else HTML."""
    return Context.HTML_URL if _OPEN_URL_ATTRIBUTE.search(html[:offset]) else Context.HTML


def _html_context(text: str, offset: int, line_start: int) -> Context:
    return _tag_context(text[line_start:offset], offset - line_start)


# The line up to a placeholder in a link destination: `[text](` or `[label]: `, then `<` and
# the start of the URL, if any.
_IN_LINK_DESTINATION = re.compile(r"(?:\]\(|^\s{0,3}\[[^\]]+\]:\s*)<?(?P<url>[^\s<>()]*)$")


def _line_context(text: str, offset: int, line_start: int) -> Context:
    """Fallback when the parse does not line up: look at the line before the placeholder."""
    before = text[line_start:offset]
    if destination := _IN_LINK_DESTINATION.search(before):
        return Context.LINK_URL_PART if destination["url"] else Context.LINK_URL
    if before.count("`") % 2 == 1:
        return Context.INLINE_CODE
    if before.rfind("<") > before.rfind(">"):
        return _tag_context(before, len(before))
    return Context.PROSE


# --- Jinja conversion -------------------------------------------------------------------

# A `{` just before a CR goes into the CR's string too: `{` + `{{ '\r' }}` would lex as `{{`.
_JINJA_SYNTAX_IN_TEXT = re.compile(r"\{[{%#]|\{?\r")


def _literal(text: str) -> str:
    """Jinja source that renders ``text`` byte for byte (delimiters and CRs kept)."""
    return _JINJA_SYNTAX_IN_TEXT.sub(lambda m: "{{ %r }}" % m.group(0), text)


def to_jinja(text: str, placeholders: Sequence[Placeholder], *, uses_jinja: bool) -> str:
    """Convert a template to Jinja: placeholder i becomes ``{{ ph(i) }}``.

    In a plain template every other byte is kept literally, even text that looks like Jinja
    (``{{ }}``, ``{% %}``, ``${{ github.workspace }}``). In an opt-in template the text is
    the writer's Jinja.
    """
    keep = (lambda s: s) if uses_jinja else _literal
    parts = []
    pos = 0
    for index, ph in enumerate(placeholders):
        before = keep(text[pos : ph.start])
        if before.endswith("{"):
            # `{` + `{{ ph(i) }}` would lex as `{{` + `{ ph(i) }}`: write that brace as a string.
            before = before[:-1] + "{{ '{' }}"
        parts.append(before)
        parts.append("{{ ph(%d) }}" % index)
        pos = ph.end
    parts.append(keep(text[pos:]))
    return "".join(parts)


def scan_template(
    text: str, path: Path, rewritten: str | None = None, parses: Parses | None = None
) -> ScannedTemplate:
    """Scan one template part; problems are reported by :func:`placeholder_problems`.

    ``rewritten`` is the text after :mod:`tenantdocs.rewrite`: the Jinja source is made
    from it and contexts are decided on it (it is what MkDocs gets), while locations stay
    those of the file. Rewrites never touch placeholder spans; should they ever disagree,
    the file's own text is used. ``parses`` shares the parse with the rewrites.
    """
    uses_jinja = text.startswith(JINJA_PRAGMA)
    rewrites = rewritten is not None and rewritten != text
    # Contexts are decided on the text MkDocs gets: the file's own only when not rewritten.
    placeholders = scan_placeholders(text, path, contexts=not rewrites, parses=parses)
    source = None
    if rewritten is not None and rewrites:
        moved = scan_placeholders(rewritten, path, parses=parses)
        if [p.spelling for p in moved] == [p.spelling for p in placeholders]:
            source = to_jinja(rewritten, moved, uses_jinja=uses_jinja)
            placeholders = tuple(
                replace(p, context=m.context) for p, m in zip(placeholders, moved, strict=True)
            )
    if source is None:
        source = to_jinja(text, placeholders, uses_jinja=uses_jinja)
    refs = _metadata_refs(source, path) if uses_jinja else ()
    return ScannedTemplate(path, text, placeholders, source, uses_jinja, refs)


def _metadata_refs(source: str, path: Path) -> tuple[tuple[str, Location], ...]:
    """Keys read as ``metadata.Key`` or ``metadata['Key']`` in an opt-in template."""
    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError:
        return ()  # reported when the template is compiled for rendering
    refs = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "metadata"):  # type: ignore[attr-defined]
            continue
        if isinstance(node, nodes.Getattr):
            refs.append((node.attr, Location(path, node.lineno)))
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            refs.append((node.arg.value, Location(path, node.lineno)))
    return tuple(refs)
