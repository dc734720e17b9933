"""Render pages: each placeholder's value escaped for the Markdown context it stands in.

Prose gets Markdown and HTML escaping (and values an admin copies, such as URLs and IDs,
are marked up as ``<code class="td-value">`` so they stand out and get a copy button); link
targets must be http(s) or a file published in the site and are percent-encoded; code keeps
values literally (copy-paste commands must carry real values). A missing value is never
rendered empty: it is an error naming the template line, the tenant and the key.
"""

from __future__ import annotations

import functools
import html
import posixpath
import re
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from tenantdocs.errors import Location, Problem, TemplateError, TenantError
from tenantdocs.keys import key_spec, lookup_key
from tenantdocs.placeholders import Context, Placeholder, ScannedTemplate
from tenantdocs.templates import App, TemplateSet
from tenantdocs.values import ResolvedValue, ValueSet

_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]#|]")
# What opens a block when a value starts a line: indentation (code), `-` `+` (lists, rules,
# setext headings), `=` (setext), `!!!` `???` (admonitions, details), `~~~` (fences), `:` and
# `/` (definition lists, blocks), and the `.` or `)` after a number (ordered lists).
_BLOCK_START = re.compile(r"^(?P<number>\d+)?(?P<mark>(?(number)[.)]|[ \-+=!?~:/]))")
_URL = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)
_URL_SAFE = ":/?#[]@!$&'*+,;=%~"
_ENTITY_LIKE = re.compile(r"&(?=#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z0-9]+;)")

VALUE_CLASS = "td-value"
"""The class of values admins copy (:attr:`KeySpec.copyable`): in prose they are a marked code
span that stands out and gets a copy button in the site."""


class ValueContextError(ValueError):
    """Raised by :func:`escape_value` when a value cannot stand in a context."""


def escape_prose(text: str) -> str:
    """Escape text for Markdown prose: no emphasis, links, code, HTML or table cells.

    A value may start or end a line, so what opens a block there (``- x``, ``1. x``,
    ``===``, ``!!! note``, indentation) or breaks it (two trailing spaces) is escaped too.
    """
    text = _MARKDOWN_SPECIAL.sub(r"\\\g<0>", html.escape(text, quote=False))
    text = _BLOCK_START.sub(lambda m: f"{m['number'] or ''}&#{ord(m['mark'])};", text, count=1)
    return text[:-1] + "&#32;" if text.endswith(" ") else text


def link_href(value: ResolvedValue, page_dir: str) -> str:
    """The URL for a link to ``value``: page-relative for published files, else http(s)."""
    if value.site_path is not None:
        relative = posixpath.relpath(value.site_path, page_dir or ".")
        return quote(relative, safe="/")
    if not _URL.fullmatch(value.text):
        raise ValueContextError("is not an http(s) URL, so it cannot be a link target")
    return quote(value.text, safe=_URL_SAFE)


def escape_value(value: ResolvedValue, context: Context, page_dir: str) -> str:
    """Return ``value`` as it must be written at a placeholder in ``context``."""
    if value.site_path is not None and context in (Context.PROSE, Context.TABLE_CELL):
        # A published file in running text becomes a link named after the file.
        name = escape_prose(posixpath.basename(value.site_path))
        return f"[{name}]({link_href(value, page_dir)})"
    shown = posixpath.relpath(value.site_path, page_dir or ".") if value.site_path else value.text
    match context:
        case Context.PROSE | Context.TABLE_CELL if key_spec(value.key).copyable:
            # Python-Markdown still reads the text between inline HTML tags as Markdown, so
            # the value keeps its prose escaping inside the code element.
            return f'<code class="{VALUE_CLASS}">{escape_prose(shown)}</code>'
        case Context.PROSE | Context.TABLE_CELL:
            return escape_prose(shown)
        case Context.INLINE_CODE | Context.CODE_BLOCK:
            return shown
        case Context.LINK_URL:
            # Python-Markdown copies `&lt;` in a link target into href as is, where the
            # browser would read it as `<`: such text is written `&amp;lt;`.
            return _ENTITY_LIKE.sub("&amp;", link_href(value, page_dir))
        case Context.LINK_URL_PART:
            return quote(shown, safe="")
        case Context.HTML:
            return html.escape(shown)
        case Context.HTML_URL:
            return html.escape(link_href(value, page_dir))
    raise AssertionError(context)  # pragma: no cover - every context is handled above


class _MissingValue(jinja2.Undefined):
    """Falsy in ``{% if metadata.x %}``, but an error when printed: never an empty value."""

    __str__ = jinja2.Undefined._fail_with_undefined_error
    __iter__ = jinja2.Undefined._fail_with_undefined_error


class _MetadataView:
    """``metadata`` in opt-in Jinja templates: ``metadata.Key`` gives the prose-escaped value."""

    def __init__(self, values: Mapping[str, ResolvedValue]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> str | jinja2.Undefined:
        spec = lookup_key(name)
        value = self._values.get(spec.name) if spec else None
        if value is None:
            return _MissingValue(name=f"metadata.{name}")
        return escape_prose(value.text)

    __getitem__ = __getattr__


@dataclass(frozen=True, slots=True)
class Page:
    """One rendered Markdown page of a tenant's site."""

    docs_path: str
    """Path in the docs folder, e.g. ``litware-crm/index.md``."""
    title: str
    """Navigation title."""
    markdown: str
    """The page's Markdown."""
    source: Location
    """The guide it was rendered from (the app's own or the shared fallback)."""
    keys: tuple[str, ...] = ()
    """Canonical keys the page's template parts use, sorted (only these may be shown on it)."""
    category: str | None = None
    """The app's category, which groups the navigation and the tenant home."""


# What :func:`tenantdocs.placeholders.to_jinja` writes into a plain part's source besides its
# text: a placeholder, or a string holding text that Jinja would otherwise read as syntax.
_PLAIN_EXPRESSION = re.compile(r"\{\{ (?:ph\((?P<index>\d+)\)|(?P<string>'[^']*')) \}\}")
_PLAIN_STRINGS = {repr(text): text for text in ("{{", "{%", "{#", "{", "\r", "{\r")}
_JINJA_SYNTAX = re.compile(r"\{[{%#]|\r")


@dataclass(frozen=True, slots=True)
class _PlainPart:
    """A plain part read from its Jinja source as text and placeholders: no Jinja needed."""

    pieces: tuple[str | int, ...]
    """Text as the page gets it, and the index of each placeholder, in order."""

    def render(self, ph: Callable[[int], str], metadata: object) -> str:
        """What Jinja renders from the source, given the same ``ph``."""
        return "".join(piece if isinstance(piece, str) else ph(piece) for piece in self.pieces)


def _plain_part(source: str) -> _PlainPart | None:
    """The part as text and placeholders when Jinja would render its source just so.

    That is when the text between the expressions holds no Jinja syntax (no ``{{``, ``{%``,
    ``{#``, CR) and no ``{`` runs into the expression after it; otherwise None (Jinja then
    compiles it, as it would any source).
    """
    pieces: list[str | int] = []
    pos = 0
    for match in _PLAIN_EXPRESSION.finditer(source):
        text = source[pos : match.start()]
        if _JINJA_SYNTAX.search(text) or text.endswith("{"):
            return None
        if match["index"] is not None:
            value: str | int = int(match["index"])
        elif (value := _PLAIN_STRINGS.get(match["string"], "")) == "":
            return None
        pieces += [text, value]
        pos = match.end()
    rest = source[pos:]
    if _JINJA_SYNTAX.search(rest):
        return None
    pieces.append(rest)
    return _PlainPart(tuple(piece for piece in pieces if piece != ""))


class Renderer:
    """Compiles template parts once, then renders pages for any number of tenants.

    ``eager`` (``check``, ``serve``) compiles every part now and raises TemplateError listing
    every Jinja syntax error; otherwise (``build``) a part is compiled when first needed:
    :meth:`problems` says whether parts compile. Parts ``previous`` compiled from the same
    source are reused. A plain part (no opt-in Jinja) is not compiled at all: its source
    is text and placeholders, rendered as Jinja would render it.
    """

    def __init__(
        self, templates: TemplateSet, previous: Renderer | None = None, *, eager: bool = True
    ) -> None:
        self.templates = templates
        self._plain = jinja2.Environment(
            keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined
        )
        self._opt_in = self._plain.overlay(trim_blocks=True, lstrip_blocks=True)
        self._compiled: dict[str, jinja2.Template | _PlainPart | Problem] = {}
        self._sources: dict[str, tuple[str, bool]] = {}
        self._previous = previous
        if eager:
            parts = {p.path: p for app in templates.apps.values() for p in templates.parts(app)}
            problems = [
                found
                for _, part in sorted(parts.items())
                if isinstance(found := self._compile(part), Problem)
            ]
            if problems:
                raise TemplateError(problems)
        self._previous = None  # what was reused is kept here; the rest need not be

    def _compile(self, part: ScannedTemplate) -> jinja2.Template | _PlainPart | Problem:
        """The compiled part, or its Jinja syntax error; compiled once."""
        key = str(part.path)
        source = (part.jinja_source, part.uses_jinja)
        if self._sources.get(key) == source:
            return self._compiled[key]
        previous = self._previous
        if previous is not None and previous._sources.get(key) == source:
            self._compiled[key] = previous._compiled[key]
        elif not part.uses_jinja and (plain := _plain_part(part.jinja_source)) is not None:
            self._compiled[key] = plain
        else:
            env = self._opt_in if part.uses_jinja else self._plain
            try:
                code = env.compile(part.jinja_source, key, key)
            except jinja2.TemplateSyntaxError as exc:
                self._compiled[key] = Problem(
                    Location(part.path, exc.lineno), f"Jinja syntax error: {exc.message}"
                )
            else:
                self._compiled[key] = jinja2.Template.from_code(env, code, env.make_globals(None))
        self._sources[key] = source
        return self._compiled[key]

    def problems(self, parts: Sequence[ScannedTemplate]) -> list[Problem]:
        """The Jinja syntax errors of ``parts`` (compiling them now if not yet)."""
        return [found for part in parts if isinstance(found := self._compile(part), Problem)]

    def render_part(
        self, part: ScannedTemplate, values: ValueSet, page_dir: str, slug: str
    ) -> tuple[str, list[Problem]]:
        """Render one template part for one tenant × app; problems instead of missing values."""
        problems: list[Problem] = []

        def ph(index: int) -> str:
            placeholder = part.placeholders[index]
            problem = _check(placeholder, values.values, slug)
            if problem is not None:
                problems.append(problem)
                return ""
            value = values.values[placeholder.key or ""]
            try:
                return escape_value(value, placeholder.context, page_dir)
            except ValueContextError as exc:
                problems.append(
                    Problem(
                        placeholder.location,
                        f"tenant '{slug}': the value of '{value.key}' {exc}",
                        tenant=slug,
                    )
                )
                return ""

        template = self._compile(part)
        if isinstance(template, Problem):
            raise TemplateError(template)
        try:
            text = template.render(ph=ph, metadata=_MetadataView(values.values))
        except jinja2.TemplateError as exc:
            line = _template_line(part, sys.exc_info()[2])
            message = exc.message or type(exc).__name__
            problems.append(
                Problem(Location(part.path, line), f"tenant '{slug}': {message}", tenant=slug)
            )
            text = ""
        return text, problems

    def render_app(self, app: App, values: ValueSet, slug: str) -> Page:
        """Compose prefix + guide (or the fallback) + suffix for one app; raise on problems."""
        problems: list[Problem] = []
        texts = []
        parts = self.templates.parts(app)
        for part in parts:
            text, found = self.render_part(part, values, app.name, slug)
            problems += found
            texts.append(text)
        if problems:
            raise TenantError(problems)
        title = values.values["DisplayName"].text
        return Page(
            f"{app.name}/index.md",
            title,
            with_title(join_parts(texts), title),
            Location((app.guide or self.templates.fallback or parts[0]).path),
            tuple(sorted(self.templates.used_keys(app))),
            app.category,
        )


_OPENS_WITH_H1 = re.compile(r"\s*#(?!#)")


def with_title(markdown: str, title: str) -> str:
    """The page with the app's name as its heading, unless the page opens with its own.

    Real guides start at ``##`` and the shared suffix may hold a ``# Next steps``, which
    would stop the theme from showing the page title: the title is written here instead,
    as HTML with a fixed anchor (the id must not depend on the value, see skeleton).
    """
    if _OPENS_WITH_H1.match(markdown):
        return markdown
    return f'<h1 id="guide">{html.escape(title, quote=False)}</h1>\n\n{markdown}'


_HTML_BLOCK_OPEN = "<!--tenantdocs:html\n"
_HTML_BLOCK_CLOSE = "\n-->"
_HTML_BLOCK = re.compile(
    re.escape(_HTML_BLOCK_OPEN) + r"(.*?)" + re.escape(_HTML_BLOCK_CLOSE), re.DOTALL
)
_COMMENT_END = re.compile(r"--[\s!]*>")
"""What ends a comment for one HTML parser or another (``-->``, ``--!>``, ``-- >``)."""


def html_block(block: str) -> str:
    """Markdown that brings the HTML ``block`` to the page as written, without parsing it.

    Python-Markdown runs an HTML parser over each raw HTML block, and MkDocs another (for
    anchors): the tables of a guide's closing section and of a tenant's home cost more to
    convert than the guide's prose. Written as one comment they pass through whole; the site
    build opens them again (:func:`open_html_blocks`) before any plugin sees the page. The
    block must not hold ``id`` attributes (MkDocs would not see the anchors). Blank lines
    inside are dropped; a block with what could end a comment stays raw HTML.
    """
    body = "\n".join(line for line in block.strip("\n").splitlines() if line.strip())
    if _COMMENT_END.search(body):
        return block
    return f"{_HTML_BLOCK_OPEN}{body}{_HTML_BLOCK_CLOSE}"


def open_html_blocks(page_html: str) -> str:
    """A page's converted HTML with each :func:`html_block` in it put back as HTML."""
    if _HTML_BLOCK_OPEN not in page_html:
        return page_html
    return _HTML_BLOCK.sub(lambda match: match.group(1), page_html)


_STUB = "tenantdocs-block-"
_CHANGED_BY_CONVERTING = re.compile(r"[\t\r\x02\x03]|```|~~~|^ +$", re.MULTILINE)
"""What Python-Markdown changes in a comment before it sets it aside: tabs, line ends and
lines of spaces (whitespace is normalized), its own markers, and fences (read first)."""


def stub_html_blocks(markdown: str) -> tuple[str, tuple[str, ...]] | None:
    """``markdown`` with each :func:`html_block`'s body replaced by a numbered stub, and the
    bodies; None when it has none, or a body that converting would change.

    The page then converts the same whatever its blocks hold (a tenant's certificate
    table, where each value comes from), so one conversion serves every version of it:
    :func:`unstub_html_blocks` puts the bodies back into the HTML.
    """
    if _HTML_BLOCK_OPEN not in markdown:
        return None
    bodies: list[str] = []

    def stub(match: re.Match[str]) -> str:
        bodies.append(match[1])
        return f"{_HTML_BLOCK_OPEN}{_STUB}{len(bodies) - 1}{_HTML_BLOCK_CLOSE}"

    stubbed = _HTML_BLOCK.sub(stub, markdown)
    if any(_CHANGED_BY_CONVERTING.search(body) for body in bodies):
        return None
    return stubbed, tuple(bodies)


def unstub_html_blocks(html: str, bodies: Sequence[str]) -> str | None:
    """The HTML of a page converted from :func:`stub_html_blocks`' Markdown, with each body
    back in its block; None unless every stub came through as written, once."""
    stubs = [f"{_HTML_BLOCK_OPEN}{_STUB}{index}{_HTML_BLOCK_CLOSE}" for index in range(len(bodies))]
    if html.count(_STUB) != len(bodies) or any(html.count(stub) != 1 for stub in stubs):
        return None
    for stub, body in zip(stubs, bodies, strict=True):
        html = html.replace(stub, f"{_HTML_BLOCK_OPEN}{body}{_HTML_BLOCK_CLOSE}")
    return html


def join_parts(texts: Sequence[str]) -> str:
    """Join page parts so each starts a new Markdown block (a blank line between them)."""
    joined = ""
    for text in texts:
        if joined:
            joined += "\n" if joined.endswith("\n") else "\n\n"
        joined += text
    return joined


def _check(
    placeholder: Placeholder, values: Mapping[str, ResolvedValue], slug: str
) -> Problem | None:
    if placeholder.key is None:  # reported once per template by placeholder_problems
        return Problem(placeholder.location, f"unknown key '{placeholder.spelling}'", tenant=slug)
    if placeholder.key in values:
        return None
    return Problem(
        placeholder.location,
        f"no value for '{placeholder.key}' ({key_spec(placeholder.key).description}) in tenant"
        f" '{slug}': set it under 'metadata:' in the tenant file, or give a metadata file that has it",
        tenant=slug,
        missing_key=placeholder.key,
    )


def _template_line(part: ScannedTemplate, tb: types.TracebackType | None) -> int:
    """The template line of the innermost traceback frame that is in ``part``."""
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(part.path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --- the tenant directory -------------------------------------------------------------


def render_directory(entries: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]) -> str:
    """``site/index.html``: every published tenant with links to its home and its apps."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tenantdocs", "assets"),
        autoescape=True,
        keep_trailing_newline=True,
    )
    # Hundreds of tenants use the same few dozen guides, and a Jinja loop over 25,000 apps
    # took a tenth of a second: each app's part of a link is made once, each tenant's list
    # joined here. Percent-encoded paths have nothing HTML would need escaped.
    tail = functools.cache(_app_link_tail)
    tenants = []
    for slug, name, apps in entries:
        folder = quote(slug)
        head = '\n      <li><a href="' + folder
        rows = "".join([head + tail(title, path) for title, path in apps])
        tenants.append((slug, name, folder, Markup(rows)))
    return env.get_template("directory.html").render(tenants=tenants)


def _app_link_tail(title: str, path: str) -> str:
    """An app's link in the directory from the slash after the tenant's folder on."""
    return f'/{quote(path)}">{escape(title)}</a></li>'
