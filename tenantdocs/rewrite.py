"""Rewrites that make real portal guides render in MkDocs as the portal rendered them.

Real guides were written for DocFX/CommonMark; MkDocs renders with Python-Markdown. These
rewrites, done once per template before placeholders are turned into Jinja, close the gap
and touch nothing else (every other byte passes through):

1. A list item that directly follows a paragraph line (or an indented note, image or code
   fence) gets a blank line before it, so Python-Markdown starts the list or the next step
   there as CommonMark does, instead of folding ``* …`` or ``3. …`` into the paragraph.
2. DocFX alerts (``> [!NOTE]``, ``> [!TIP]``…, ``> [AZURE.NOTE] …``) become admonitions.
3. List continuations indented as CommonMark allows (e.g. 3 spaces under ``2.``) are
   indented to the 4 spaces per level Python-Markdown needs, so a step's notes and lettered
   sub-steps stay inside the step instead of ending the list or becoming code.
4. Relative image and link targets are fixed when the file exists under another spelling
   (``.\\media\\X.PNG`` → ``media/x.png``); links to ``*-tutorial.md`` pages, which live
   outside the templates, point at the published tutorial.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from tenantdocs.mdparser import Parses

if TYPE_CHECKING:  # markdown_it is loaded by the runs that scan a guide only
    from markdown_it.token import Token

TUTORIAL_BASE = "https://docs.microsoft.com/azure/active-directory/"
"""Where the full tutorials behind ``active-directory-saas-*-tutorial.md`` links live."""

_ALERT = re.compile(
    r"^(?P<indent>[ \t]*)>[ \t]*\[(?:!|AZURE\.)(?P<kind>NOTE|TIP|IMPORTANT|CAUTION|WARNING)\][ \t]*(?P<rest>.*?)(?P<eol>\r?\n|\r|$)",
    re.IGNORECASE,
)
_QUOTE_LINE = re.compile(r"^(?P<indent>[ \t]*)>[ \t]?(?P<body>.*?)(?P<eol>\r?\n|\r|$)")
_ADMONITION = {
    "note": ("note", ""),
    "tip": ("tip", ""),
    "important": ("info", ' "Important"'),
    "caution": ("warning", ' "Caution"'),
    "warning": ("warning", ""),
}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_TUTORIAL = re.compile(
    r"(?:\./)?(?P<name>active-directory-saas-[^/#?]+?-tutorial)\.md(?P<anchor>#.*)?"
)


def rewrite_markdown(text: str, assets: Collection[str] = (), parses: Parses | None = None) -> str:
    """Apply every rewrite; ``assets`` are the app folder's files, '/'-separated.

    ``parses`` shares the parse of each text with the caller's other scans: a rewrite that
    changes nothing leaves the next one the same text, so it is parsed once.
    """
    parses = parses or Parses()
    text = _list_starts(text, parses)  # first: a list in a DocFX alert is still in a quote here
    text = _alerts(text)
    text = _list_continuations(text, parses)
    return _references(text, assets, parses)


# --- 1. list starts ---------------------------------------------------------------------

_ITEM_LINE = re.compile(r"^[ \t>]*(?:\d{1,9}[.)]|[-+*])(?:[ \t]|$)", re.MULTILINE)
_MARKER = re.compile(r"[ \t]*(?:\d{1,9}[.)]|[-+*])(?:[ \t]|\r?\n|\r|$)")
_QUOTE_PREFIX = re.compile(r"(?:[ \t]*>)*")


def _list_starts(text: str, parses: Parses) -> str:
    """A blank line before each list item Python-Markdown would fold into the text above it.

    CommonMark starts a list item on the line after a paragraph line; Python-Markdown does
    so only inside a block (lines between blank lines) that opens with a list item at the
    same or a shallower level. Elsewhere (after a paragraph, an indented note or image, a
    code fence) it reads ``* …`` or ``3. …`` as more text of the paragraph.
    """
    if not _ITEM_LINE.search(text):
        return text
    lines = text.splitlines(keepends=True)
    before: list[int] = []  # indexes of the lines that need a blank line before them
    for token in parses.tokens(text):
        if token.type != "list_item_open" or not token.map:
            continue
        at = token.map[0]
        if not 0 < at < len(lines) or _is_blank(lines[at - 1]):
            continue
        start = at - 1  # the first line of the block Python-Markdown sees the item in
        while start > 0 and not _is_blank(lines[start - 1]) and start not in before:
            start -= 1
        opening = _unquoted(lines[start])
        if _MARKER.match(opening) and _indent_width(opening) <= _indent_width(_unquoted(lines[at])):
            continue  # a list block already: Python-Markdown starts the item itself
        before.append(at)
    for at in reversed(before):
        previous = lines[at - 1]
        eol = previous[len(previous.rstrip("\r\n")) :] or "\n"
        lines.insert(at, _quote_prefix(lines[at]) + eol)  # a blank line inside a quote too
    return "".join(lines)


def _is_blank(line: str) -> bool:
    return not line.strip(" \t>\r\n")


def _quote_prefix(line: str) -> str:
    match = _QUOTE_PREFIX.match(line)
    return match.group(0) if match else ""


def _unquoted(line: str) -> str:
    return line[len(_quote_prefix(line)) :]


# --- 2. DocFX alerts --------------------------------------------------------------------


def _alerts(text: str) -> str:
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        alert = _ALERT.match(lines[i])
        if alert is None:
            out.append(lines[i])
            i += 1
            continue
        indent, eol = alert["indent"], alert["eol"] or "\n"
        kind, title = _ADMONITION[alert["kind"].lower()]
        if out and out[-1].strip():
            out.append(eol)  # an admonition must start its own block
        out.append(f"{indent}!!! {kind}{title}{eol}")
        body = indent + " " * 4
        if alert["rest"].strip():
            out.append(f"{body}{alert['rest']}{eol}")
        i += 1
        while (
            i < len(lines) and (quote := _QUOTE_LINE.match(lines[i])) and quote["indent"] == indent
        ):
            content = quote["body"]
            out.append(f"{body}{content}{quote['eol']}" if content.strip() else quote["eol"] or eol)
            i += 1
    return "".join(out)


# --- 3. list continuations --------------------------------------------------------------


def _indent_width(line: str) -> int:
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += 4 - width % 4
        else:
            break
    return width


_SHALLOW_LINE = re.compile(r"^ {1,3}\S", re.MULTILINE)


def _list_continuations(text: str, parses: Parses) -> str:
    if not _SHALLOW_LINE.search(text):
        return text  # no line indented less than Python-Markdown needs: nothing to do
    lines = text.splitlines(keepends=True)
    shifts: dict[int, int] = {}  # line index -> indentation it must have
    tokens = parses.tokens(text)
    for depth, token, content in _list_items(tokens, lines):
        first, last = token.map or (0, 0)
        need = 4 * depth
        if content >= need:
            continue
        for index in range(first + 1, min(last, len(lines))):
            width = _indent_width(lines[index])
            if lines[index].strip() and content <= width < need:
                shifts[index] = max(shifts.get(index, 0), need + (width - content))
    for index, width in shifts.items():
        stripped = lines[index].lstrip(" \t")
        lines[index] = " " * width + stripped
    return "".join(lines)


def _list_items(tokens: list[Token], lines: list[str]) -> Iterator[tuple[int, Token, int]]:
    """(nesting depth, list_item_open token, CommonMark content column) for each list item."""
    depth = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "list_item_open" and token.map:
            line = lines[token.map[0]] if token.map[0] < len(lines) else ""
            marker = re.match(r"[ \t]*(?:\d{1,9}[.)]|[-+*])[ \t]*", line)
            yield depth, token, len(marker.group(0).expandtabs(4)) if marker else 0


# --- 4. references ----------------------------------------------------------------------


def resolve_reference(target: str, assets: Collection[str]) -> str | None:
    """The working form of a relative image/link target, or None when nothing matches.

    Returns ``target`` itself when it already works.
    """
    path, _, anchor = target.partition("#")
    if tutorial := _TUTORIAL.fullmatch(target.replace("\\", "/")):
        return TUTORIAL_BASE + tutorial["name"].replace(" ", "%20") + (tutorial["anchor"] or "")
    normal = posixpath.normpath(unquote(path.replace("\\", "/")))
    if normal.startswith("../") or normal == "..":
        return None
    if normal in assets:
        return target
    by_case = {a.casefold(): a for a in assets}
    match = by_case.get(normal.casefold())
    if match is None:
        return None
    return match + (f"#{anchor}" if anchor else "")


def relative_targets(text: str, parses: Parses | None = None) -> list[tuple[str, int]]:
    """Relative image and link targets in Markdown, with the offset where each is written."""
    found: list[tuple[str, int]] = []
    if "](" not in text and "]:" not in text:
        # Every link or image with a target written as-is has `](` (inline) or `]:` (a
        # reference definition); autolinks always carry a scheme. Nothing to parse for.
        return found
    pos = 0

    def visit(tokens: list[Token]) -> None:
        nonlocal pos
        for token in tokens:
            target = token.attrs.get("src") if token.type == "image" else token.attrs.get("href")
            if isinstance(target, str) and _is_relative(target):
                offset = text.find(target, pos)
                if offset >= 0:
                    found.append((target, offset))
                    pos = offset + len(target)
            visit(token.children or [])

    visit((parses or Parses()).tokens(text))
    return found


def _is_relative(target: str) -> bool:
    placeholder = re.search(r"%[A-Za-z]", target)  # `%20` is an escape, `%metadata:` is not
    return (
        bool(target)
        and not _SCHEME.match(target)
        and not target.startswith(("#", "/"))
        and not placeholder
    )


def _references(text: str, assets: Collection[str], parses: Parses) -> str:
    for target, offset in reversed(relative_targets(text, parses)):
        fixed = resolve_reference(target, assets)
        if fixed is not None and fixed != target:
            text = text[:offset] + fixed + text[offset + len(target) :]
    return text
