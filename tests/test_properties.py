"""Properties of the placeholder engine, checked with Hypothesis on generated templates and values.

- Text without placeholders passes through scanning, Jinja conversion and rendering byte for byte.
- A value written in prose or a table cell never becomes markup: rendered by Python-Markdown
  (with the extensions that give characters meaning), the page has the same elements as with
  a harmless value, and its text is the value exactly.
- Substitution leaves no placeholder behind, and writes exactly the escaped value at each one.
- A plain part, rendered without Jinja, gives what Jinja renders from its source.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import jinja2
import markdown
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tenantdocs.errors import Location, Severity
from tenantdocs.keys import KEYS, key_spec, value_problem
from tenantdocs.placeholders import (
    JINJA_PRAGMA,
    Context,
    placeholder_problems,
    scan_placeholders,
    scan_template,
)
from tenantdocs.render import Renderer, _plain_part, escape_value
from tenantdocs.templates import App, TemplateSet
from tenantdocs.values import Origin, Provenance, ResolvedValue, ValueSet

PATH = Path("templates/demo/sso_configure.md")
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- helpers -------------------------------------------------------------------------------


def render(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """Scan ``text`` as an app's guide and render it with the real Renderer."""
    guide = scan_template(text, PATH)
    app = App("demo", PATH.parent, guide, {})
    renderer = Renderer(TemplateSet(PATH.parent.parent, {"demo": app}, None, None, None))
    value_set = ValueSet("demo", {key: resolved(key, text) for key, text in values.items()})
    output, problems = renderer.render_part(guide, value_set, "demo", "acme")
    return output, [str(p) for p in problems]


def resolved(key: str, text: str) -> ResolvedValue:
    return ResolvedValue(key, text, Provenance(Origin.TENANT_FILE, Location(Path("t.yml"), 1, 1)))


# Characters that mean something to Markdown, HTML, Jinja or the placeholder scanner, mixed
# into otherwise arbitrary text so that Hypothesis tries them often.
SPECIAL = [*"\\`*_{}[]()#+-.!|<>&;:\"'=~^%$@/?\t\r\n ", "\u00a0", "\ufeff", "\u2028"]
PIECES = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "${{ github.workspace }}",
    "{{ x }}",
    "{% raw %}",
    "\r\n",
    "50%",
    "%PATH%",
    "%metadata",
    "%IssuerUri",
    "&amp;",
    "&#60;",
    "<!--",
    "    ",
    "  \n",
    "- ",
    "1. ",
    "===",
    "!!! note",
]
_any_char = st.characters(exclude_categories=["Cs"])
_special_char = st.sampled_from(SPECIAL)
TEXT = st.lists(
    st.one_of(
        st.text(_any_char, max_size=12), st.text(_special_char, max_size=6), st.sampled_from(PIECES)
    ),
    max_size=12,
).map("".join)


# --- 1. text without placeholders passes through byte for byte -----------------------------


@PROPERTY
@given(TEXT)
@example("{{ x }} {% if y %}{# c #}${{ github.x }} 50% %PATH% \r\n\r{")
@example("{%metadata%}")
@example("```json\r\n{\r\n}\r\n```\r\n")  # found by Hypothesis: `{` before a CR broke Jinja
def test_text_without_placeholders_passes_through_byte_for_byte(text: str) -> None:
    # Defence: placeholders.to_jinja writes every other byte as a literal (no Jinja syntax
    # is interpreted, CRs are kept); without it `{{ x }}` would be evaluated or dropped.
    assume(not scan_placeholders(text, PATH) and not text.startswith(JINJA_PRAGMA))
    output, problems = render(text, {})
    assert problems == []
    assert output.encode("utf-8", "surrogatepass") == text.encode("utf-8", "surrogatepass")


# --- 2. a value in prose never becomes markup ----------------------------------------------


class _Shape(HTMLParser):
    """The elements (with their attributes) and the text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, tuple(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def shape(fragment: str) -> tuple[list[tuple[str, tuple[tuple[str, str | None], ...]]], str]:
    parser = _Shape()
    parser.feed(fragment)
    parser.close()
    return parser.elements, "".join(parser.text)


def site_markdown() -> markdown.Markdown:
    """Python-Markdown with the extensions that give characters meaning in the sample base
    configuration (tables, attribute lists, admonitions, details, fenced code…)."""
    return markdown.Markdown(
        extensions=[
            "tables",
            "attr_list",
            "md_in_html",
            "toc",
            "admonition",
            "pymdownx.details",
            "pymdownx.superfences",
        ]
    )


# Where a value can stand: mid-sentence, starting or ending a line (block syntax and hard
# line breaks live there), right after another line (setext headings), in a table cell.
LAYOUTS = {
    "mid-sentence": "Copy the **value** : {} and paste it.\n",
    "line start": "{} is the value.\n",
    "line end": "The value is {}\nand more text.\n",
    "alone after a line": "The value:\n{}\n",
    "table cell": "| Setting | Value |\n| --- | --- |\n| Name | {} |\n",
}
_value_char = st.one_of(
    st.characters(exclude_categories=("Cs", "Cc")),
    st.sampled_from(list("\\`*_{}[]()#+-.!|&;:\"'=~^%$@/? ")),
)
VALUES = st.text(_value_char, min_size=1, max_size=40).filter(lambda v: value_problem(v) is None)
NEUTRAL = "NEUTRALVALUE"


@PROPERTY
@given(
    value=VALUES,
    key=st.sampled_from(["IssuerUri", "DisplayName"]),
    layout=st.sampled_from(sorted(LAYOUTS)),
)
@example(value="- item", key="DisplayName", layout="line start")
@example(value="1. item", key="DisplayName", layout="line start")
@example(value="===", key="DisplayName", layout="alone after a line")
@example(value="x  ", key="DisplayName", layout="line end")
@example(value="    code", key="DisplayName", layout="line start")
@example(value="!!! note", key="DisplayName", layout="line start")
@example(value="[x](javascript:alert(1))", key="DisplayName", layout="mid-sentence")
@example(value="&lt;script&gt;", key="IssuerUri", layout="table cell")
def test_value_in_prose_never_becomes_markup(value: str, key: str, layout: str) -> None:
    # Defence: render.escape_prose (Markdown and HTML characters, and what opens a block at
    # the start of a line or breaks it at the end). Without it `- x` would become a list,
    # `[x](y)` a link, `&lt;` a `<`.
    context = Context.TABLE_CELL if layout == "table cell" else Context.PROSE
    page = LAYOUTS[layout]
    written = escape_value(resolved(key, value), context, "demo")
    expected_elements, expected_text = shape(
        site_markdown().convert(page.format(escape_value(resolved(key, NEUTRAL), context, "demo")))
    )
    elements, text = shape(site_markdown().convert(page.format(written)))
    assert elements == expected_elements
    assert text == expected_text.replace(NEUTRAL, value)
    if key_spec(key).copyable:
        assert written.startswith('<code class="td-value">')


# --- 3. substitution leaves no placeholder behind -------------------------------------------

SPELLINGS = [s for spec in KEYS for s in (spec.name, *spec.aliases)]
_spelling = st.sampled_from(SPELLINGS).flatmap(lambda s: st.sampled_from([s, s.upper(), s.lower()]))
_placeholder = st.one_of(
    _spelling.flatmap(lambda s: st.sampled_from([f"%metadata:{s}%", f"%METADATA:{s}%"])),
    st.sampled_from([f"%{spec.name}%" for spec in KEYS]),
)
TEMPLATES = st.lists(st.one_of(TEXT, _placeholder), max_size=10).map("".join)
_no_percent = st.text(
    st.one_of(st.characters(exclude_categories=("Cs", "Cc")), st.sampled_from(list("_*[]&#{}"))),
    min_size=1,
    max_size=30,
).filter(lambda v: value_problem(v) is None and "%" not in v)


@PROPERTY
@given(template=TEMPLATES, value=_no_percent)
@example(template="%metadata:IssuerUri%%metadata:tenantId%", value="x")
@example(template="{%metadata:DisplayName%}{{%IssuerUri%}}", value="{{ 1 }}")
@example(template="%%metadata:signonurl%%", value="metadata:x")
def test_substitution_leaves_no_placeholder_behind(template: str, value: str) -> None:
    # Defence: scan_placeholders finds every placeholder (any case, aliases, bare known keys)
    # and to_jinja turns each into a call; placeholder_problems refuses malformed
    # `%metadata:` text, so a template that passes it publishes none.
    scanned = scan_template(template, PATH)
    assume(not scanned.uses_jinja)
    assume(not any(p.severity is Severity.ERROR for p in placeholder_problems(scanned)))
    values = {spec.name: value for spec in KEYS}
    output, problems = render(template, values)
    assert problems == []
    # Exactly the escaped value at every placeholder, every other byte as written.
    expected, pos = [], 0
    for placeholder in scanned.placeholders:
        assert placeholder.key is not None
        expected += [
            template[pos : placeholder.start],
            escape_value(resolved(placeholder.key, value), placeholder.context, "demo"),
        ]
        pos = placeholder.end
    expected.append(template[pos:])
    assert output == "".join(expected)
    # With a value that cannot form one, nothing in the output reads as a placeholder.
    plain, _ = render(template, dict.fromkeys(values, "V"))
    assert "%metadata:" not in plain.lower()
    assert scan_placeholders(plain, PATH) == ()


# --- 4. a plain part renders without Jinja as Jinja renders it -----------------------------

PLAIN_PIECES = [*PIECES, "%metadata:IssuerUri%", "%LoginUrl%", "{", "\r", "{\r", "'", "}}"]
PLAIN_TEXT = st.lists(
    st.one_of(st.text(_special_char, max_size=4), st.sampled_from(PLAIN_PIECES)), max_size=16
).map("".join)


def _by_jinja(source: str) -> str:
    env = jinja2.Environment(keep_trailing_newline=True, autoescape=False)
    return env.from_string(source).render(ph=lambda index: f"<value {index}>")


def _without_jinja(source: str) -> str | None:
    plain = _plain_part(source)
    return None if plain is None else plain.render(lambda index: f"<value {index}>", None)


@PROPERTY
@given(PLAIN_TEXT)
@example("{{{%metadata:IssuerUri%\r{\r\n{%metadata:IssuerUri%")
def test_plain_part_renders_as_jinja_renders_it(text: str) -> None:
    # The renderer reads a plain part's source as text and placeholders instead of
    # compiling it; every source placeholders.to_jinja writes must be read so, exactly.
    assume(not text.startswith(JINJA_PRAGMA))
    source = scan_template(text, PATH).jinja_source
    assert _without_jinja(source) == _by_jinja(source)


@pytest.mark.parametrize(
    "source",
    [
        "a {% if true %}b{% endif %} {{ ph(0) }}",  # syntax in the text
        "a {# c #} {{ ph(0) }}",
        "a {{ ph(0) }}\r\n",  # Jinja turns a CR in the text into LF
        "a\r {{ ph(0) }}",
        "{{{ ph(0) }}",  # `{` runs into the expression: Jinja reads `{{` + `{ ph(0) }}`
        "{{ 'x' }} {{ ph(0) }}",  # strings to_jinja never writes
        "{{ '\\x41' }} {{ ph(0) }}",
        "a {{ ph(0) }} {{ '{{' }} {{ '\\r' }} {{ '{\\r' }} b",
    ],
)
def test_a_source_not_read_as_plain_is_left_to_jinja(source: str) -> None:
    # Defence: _plain_part gives up (None) on any source it cannot render exactly as Jinja.
    try:
        expected: str | None = _by_jinja(source)
    except jinja2.TemplateSyntaxError:
        expected = None
    found = _without_jinja(source)
    assert found is None or found == expected
