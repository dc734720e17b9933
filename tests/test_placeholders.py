"""The placeholder engine, driven by fixture files: contexts, spans and the Jinja round trip."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from cases import fixture_cases, read_cases

from tenantdocs.errors import Location
from tenantdocs.placeholders import (
    JINJA_PRAGMA,
    Placeholder,
    line_starts,
    locate,
    placeholder_problems,
    scan_placeholders,
    scan_template,
    to_jinja,
)
from tenantdocs.render import Renderer
from tenantdocs.templates import App, TemplateSet
from tenantdocs.values import Origin, Provenance, ResolvedValue, ValueSet

PATH = Path("guide.md")


PLACEHOLDER_CASES = fixture_cases("placeholders.md")
JINJA_CASES = fixture_cases("jinja.md")


def listing(placeholders: tuple[Placeholder, ...]) -> str:
    """One ``line:col key context`` line per placeholder, as the fixture files write them."""
    if not placeholders:
        return "(none)\n"
    lines = []
    for ph in placeholders:
        key = ph.key if ph.key is not None else "?" + ph.spelling
        if ph.key is not None and ph.spelling != ph.key:
            key += f" (as {ph.spelling})"
        lines.append(f"{ph.location.line}:{ph.location.column} {key} {ph.context.value}")
    return "\n".join(lines) + "\n"


# --- the reader itself --------------------------------------------------------------------


def test_reader_translates_markers_and_titles(tmp_path: Path) -> None:
    fixture = tmp_path / "f.md"
    fixture.write_text(
        "comment\n\nfirst\n.\na␍\n→b⍽\n.\nout\n.\n\nsecond\n.\nno newline␄\n.\nx\n.\n",
        encoding="utf-8",
    )
    assert read_cases(fixture) == [
        ("first", "a\r\n\tb\u00a0\n", "out\n"),
        ("second", "no newline", "x\n"),
    ]


def test_reader_rejects_an_unclosed_case(tmp_path: Path) -> None:
    fixture = tmp_path / "f.md"
    fixture.write_text("title\n.\ninput\n.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="case 'title' is not closed"):
        read_cases(fixture)


def test_fixture_files_have_cases() -> None:
    # Guards against a format slip that would silently turn every case into a comment.
    assert len(PLACEHOLDER_CASES) >= 60
    assert len(JINJA_CASES) >= 25


# --- scanning -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), PLACEHOLDER_CASES)
def test_scan_placeholders(text: str, expected: str) -> None:
    assert listing(scan_placeholders(text, PATH)) == expected


_SPAN = re.compile(r"%(?:metadata:)?(?P<spelling>[^%]*)%", re.IGNORECASE)


@pytest.mark.parametrize(("text", "expected"), PLACEHOLDER_CASES)
def test_spans_and_locations_agree(text: str, expected: str) -> None:
    """Each placeholder's span is exactly its token, and its location is its start offset."""
    starts = line_starts(text)
    for ph in scan_placeholders(text, PATH):
        token = _SPAN.fullmatch(text[ph.start : ph.end])
        assert token is not None, text[ph.start : ph.end]
        assert token["spelling"] == ph.spelling
        assert locate(starts, ph.start, PATH) == ph.location


def test_location_names_the_file() -> None:
    (ph,) = scan_placeholders("a\r\n  %metadata:IssuerUri%", Path("t/app/sso_configure.md"))
    assert ph.location == Location(Path("t/app/sso_configure.md"), 2, 3)


# --- Jinja conversion ---------------------------------------------------------------------


def plain_environment() -> jinja2.Environment:
    """The environment :class:`Renderer` compiles plain (not opt-in) templates with."""
    return jinja2.Environment(
        keep_trailing_newline=True, autoescape=False, undefined=jinja2.StrictUndefined
    )


def round_trip(text: str) -> tuple[str, str]:
    """Render ``to_jinja(text)`` with ``ph(i) = <Vi>``; also return the text with spans replaced."""
    placeholders = scan_placeholders(text, PATH)
    source = to_jinja(text, placeholders, uses_jinja=False)
    rendered = plain_environment().from_string(source).render(ph=lambda i: "<V%d>" % i)
    replaced, pos = [], 0
    for index, ph in enumerate(placeholders):
        replaced += [text[pos : ph.start], "<V%d>" % index]
        pos = ph.end
    replaced.append(text[pos:])
    return rendered, "".join(replaced)


@pytest.mark.parametrize(("text", "expected"), JINJA_CASES)
def test_jinja_round_trip(text: str, expected: str) -> None:
    rendered, replaced = round_trip(text)
    assert rendered == expected
    assert rendered == replaced


@pytest.mark.parametrize(("text", "expected"), PLACEHOLDER_CASES)
def test_jinja_round_trip_keeps_placeholder_fixtures(text: str, expected: str) -> None:
    rendered, replaced = round_trip(text)
    assert rendered == replaced


# --- opt-in Jinja -------------------------------------------------------------------------

OPT_IN = f"""{JINJA_PRAGMA}
# Sign out
{{% if metadata.singleSignOutServiceUrl %}}
Logout URL: %metadata:singleSignOutServiceUrl%
{{% else %}}
This tenant has no logout URL.
{{% endif %}}
Issuer: {{{{ metadata['IssuerUri'] }}}} `{{{{ x }}}}`
"""

ISSUER = "https://sts.windows.net/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/"
LOGOUT = "https://login.microsoftonline.com/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2"


def marked(url: str) -> str:
    """A copyable value in prose, as a placeholder writes it (``metadata.Key`` does not)."""
    return f'<code class="td-value">{url}</code>'


def value(key: str, text: str) -> ResolvedValue:
    return ResolvedValue(key, text, Provenance(Origin.TENANT_FILE, Location(Path("t.yml"), 1, 1)))


def render_guide(template: str, values: dict[str, str]) -> str:
    """Render one guide for one tenant with the real :class:`Renderer`."""
    guide = scan_template(template, Path("templates/app/sso_configure.md"))
    app = App("app", Path("templates/app"), guide, {})
    renderer = Renderer(TemplateSet(Path("templates"), {"app": app}, None, None, None))
    value_set = ValueSet("app", {key: value(key, text) for key, text in values.items()})
    text, problems = renderer.render_part(guide, value_set, "app", "contoso")
    assert problems == []
    return text


def test_opt_in_template_is_scanned_as_jinja() -> None:
    template = scan_template(OPT_IN, PATH)
    assert template.uses_jinja
    assert [(key, loc.line) for key, loc in template.metadata_refs] == [
        ("singleSignOutServiceUrl", 3),
        ("IssuerUri", 8),
    ]
    assert [(ph.key, ph.location.line) for ph in template.placeholders] == [
        ("singleSignOutServiceUrl", 4)
    ]
    assert "{% if metadata.singleSignOutServiceUrl %}" in template.jinja_source


def test_opt_in_template_runs_jinja() -> None:
    with_logout = {"singleSignOutServiceUrl": LOGOUT, "IssuerUri": ISSUER}
    assert render_guide(OPT_IN.replace(" `{{ x }}`", ""), with_logout) == (
        f"# Sign out\nLogout URL: {marked(LOGOUT)}\nIssuer: {ISSUER}\n"
    )
    without_logout = {"IssuerUri": ISSUER}
    assert render_guide(OPT_IN.replace(" `{{ x }}`", ""), without_logout) == (
        f"# Sign out\nThis tenant has no logout URL.\nIssuer: {ISSUER}\n"
    )


def test_plain_template_does_not_run_jinja() -> None:
    plain = OPT_IN.removeprefix(JINJA_PRAGMA + "\n")
    template = scan_template(plain, PATH)
    assert not template.uses_jinja
    assert template.metadata_refs == ()
    assert render_guide(plain, {"singleSignOutServiceUrl": LOGOUT}) == plain.replace(
        "%metadata:singleSignOutServiceUrl%", marked(LOGOUT)
    )


def test_pragma_must_open_the_template() -> None:
    template = scan_template("# Guide\n" + JINJA_PRAGMA + "\n{% if x %}\n", PATH)
    assert not template.uses_jinja
    assert template.metadata_refs == ()


def test_renderer_keeps_crlf_and_jinja_lookalikes_byte_for_byte() -> None:
    template = "${{ github.workspace }}\r\n{%metadata:IssuerUri%} {# x #}\r\n{% endraw %}"
    assert render_guide(template, {"IssuerUri": ISSUER}) == template.replace(
        "%metadata:IssuerUri%", marked(ISSUER)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Paste %metadata:Issuer Uri% here.\n",
            [
                "t.md:1:7: error: malformed placeholder: write %metadata:Key% with a key of"
                " letters and digits and a closing %"
            ],
        ),
        (
            "a\nb %metadata:IssuerUri and no closing sign\n",
            [
                "t.md:2:3: error: malformed placeholder: write %metadata:Key% with a key of"
                " letters and digits and a closing %"
            ],
        ),
        (
            "x %metadata:IssuerUrl% y %metadata:SignOnUrl%\n",
            [
                "t.md:1:3: error: unknown key 'IssuerUrl' in %metadata:IssuerUrl%"
                " (did you mean 'IssuerUri'?)",
                "t.md:1:26: warning: 'SignOnUrl' is a non-canonical spelling of"
                " 'singleSignOnServiceUrl'",
            ],
        ),
        ("50% off, %PATH% and %metadata:IssuerUri%\n", []),
    ],
)
def test_template_problems_are_located(text: str, expected: list[str]) -> None:
    template = scan_template(text, Path("t.md"))
    assert [str(p) for p in placeholder_problems(template)] == expected
