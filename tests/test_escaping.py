"""Values escaped for the Markdown context of their placeholder (``tenantdocs.render``)."""

from __future__ import annotations

import html
from pathlib import Path

import markdown
import pytest

from tenantdocs.errors import Location
from tenantdocs.placeholders import Context
from tenantdocs.render import (
    ValueContextError,
    escape_prose,
    escape_value,
    join_parts,
    link_href,
)
from tenantdocs.values import Origin, Provenance, ResolvedValue


def value(text: str, site_path: str | None = None, key: str = "IssuerUri") -> ResolvedValue:
    """A tenant-file value, by default of a key whose value admins copy (the entity ID)."""
    provenance = Provenance(Origin.TENANT_FILE, Location(Path("t.yml"), 1, 1))
    return ResolvedValue(key, text, provenance, site_path=site_path)


def marked(escaped: str) -> str:
    """A copyable value as it is written in prose: a marked code element."""
    return f'<code class="td-value">{escaped}</code>'


# --- prose --------------------------------------------------------------------------------

PROSE = [
    ("a_b*c", r"a\_b\*c"),
    ("[x](y)", r"\[x\](y)"),
    ("<script>", "&lt;script&gt;"),
    ("AT&T", "AT&amp;T"),
    ("`x`", r"\`x\`"),
    ("a|b", r"a\|b"),
    ("#1", r"\#1"),
    ("{: .x}", r"\{: .x\}"),
    ("C:\\dir\\_x", r"C:\\dir\\\_x"),
    ("**bold** __strong__", r"\*\*bold\*\* \_\_strong\_\_"),
    ("x <!-- c --> &amp; y", "x &lt;!-- c --&gt; &amp;amp; y"),
    ("Contoso Ltd. (EU), 50% off!", "Contoso Ltd. (EU), 50% off!"),
]


@pytest.mark.parametrize(("text", "expected"), PROSE)
def test_escape_prose(text: str, expected: str) -> None:
    assert escape_prose(text) == expected


def site_markdown() -> markdown.Markdown:
    """Python-Markdown as MkDocs runs it, with the extensions that give characters meaning."""
    return markdown.Markdown(extensions=["tables", "attr_list", "md_in_html"])


@pytest.mark.parametrize("text", [text for text, _ in PROSE])
def test_escaped_prose_renders_as_the_literal_text(text: str) -> None:
    shown = html.escape(text, quote=False)
    assert site_markdown().convert("Value: " + escape_prose(text)) == f"<p>Value: {shown}</p>"


@pytest.mark.parametrize("text", [text for text, _ in PROSE])
def test_escaped_table_cell_renders_as_one_literal_cell(text: str) -> None:
    table = f"| Setting | Value |\n| --- | --- |\n| Entity ID | {escape_prose(text)} |\n"
    rendered = site_markdown().convert(table)
    assert f"<td>{html.escape(text, quote=False)}</td>" in rendered
    assert rendered.count("<td>") == 2


# --- values admins copy: a marked code element in prose --------------------------------------


@pytest.mark.parametrize("text", [text for text, _ in PROSE])
def test_copyable_value_in_prose_renders_as_one_code_element(text: str) -> None:
    written = escape_value(value(text), Context.PROSE, "app")
    assert written == marked(escape_prose(text))
    shown = html.escape(text, quote=False)
    rendered = site_markdown().convert(f"**Identifier** : {written} and more")
    assert rendered == (
        f'<p><strong>Identifier</strong> : <code class="td-value">{shown}</code> and more</p>'
    )


@pytest.mark.parametrize("text", [text for text, _ in PROSE])
def test_copyable_value_in_a_table_cell_stays_one_cell(text: str) -> None:
    written = escape_value(value(text), Context.TABLE_CELL, "app")
    rendered = site_markdown().convert(
        f"| Setting | Value |\n| --- | --- |\n| Issuer | {written} |\n"
    )
    assert f'<td><code class="td-value">{html.escape(text, quote=False)}</code></td>' in rendered
    assert rendered.count("<td>") == 2


@pytest.mark.parametrize("key", ["DisplayName", "SignInUrlExample", "ExternalArticleUrl"])
def test_other_values_in_prose_are_plain_text(key: str) -> None:
    assert escape_value(value("Litware_CRM", key=key), Context.PROSE, "app") == r"Litware\_CRM"


@pytest.mark.parametrize("context", [Context.INLINE_CODE, Context.CODE_BLOCK, Context.HTML])
def test_copyable_values_are_not_marked_outside_prose(context: Context) -> None:
    assert "td-value" not in escape_value(value(URL), context, "app")


# --- every context, one URL value ----------------------------------------------------------

URL = "https://a.example/sso_1?x=1&y=2"

URL_IN_CONTEXT = [
    (Context.PROSE, marked(r"https://a.example/sso\_1?x=1&amp;y=2")),
    (Context.TABLE_CELL, marked(r"https://a.example/sso\_1?x=1&amp;y=2")),
    (Context.LINK_URL, "https://a.example/sso_1?x=1&y=2"),
    (Context.LINK_URL_PART, "https%3A%2F%2Fa.example%2Fsso_1%3Fx%3D1%26y%3D2"),
    (Context.INLINE_CODE, "https://a.example/sso_1?x=1&y=2"),
    (Context.CODE_BLOCK, "https://a.example/sso_1?x=1&y=2"),
    (Context.HTML, "https://a.example/sso_1?x=1&amp;y=2"),
    (Context.HTML_URL, "https://a.example/sso_1?x=1&amp;y=2"),
]


def test_url_table_covers_every_context() -> None:
    assert {context for context, _ in URL_IN_CONTEXT} == set(Context)


@pytest.mark.parametrize(
    ("context", "expected"), [pytest.param(c, e, id=c.value) for c, e in URL_IN_CONTEXT]
)
def test_escape_url_value(context: Context, expected: str) -> None:
    assert escape_value(value(URL), context, "litware-crm") == expected


# --- link targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "text", "expected"),
    [
        (Context.LINK_URL, "https://a.example/app(1)/x", "https://a.example/app%281%29/x"),
        (Context.HTML_URL, "https://a.example/app(1)/x", "https://a.example/app%281%29/x"),
        (Context.LINK_URL, "https://a.example/<b>", "https://a.example/%3Cb%3E"),
        (Context.HTML_URL, 'https://a.example/"x"', "https://a.example/%22x%22"),
        (Context.LINK_URL, "https://a.example/a%20b", "https://a.example/a%20b"),
        (Context.LINK_URL_PART, "Contoso Ltd (EU)", "Contoso%20Ltd%20%28EU%29"),
        (Context.LINK_URL_PART, "javascript:alert(1)", "javascript%3Aalert%281%29"),
        (Context.LINK_URL, "http://a.example/", "http://a.example/"),
    ],
)
def test_escape_link_target(context: Context, text: str, expected: str) -> None:
    assert escape_value(value(text), context, "litware-crm") == expected


@pytest.mark.parametrize("context", [Context.LINK_URL, Context.HTML_URL])
@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
        "ftp://a.example/x",
        "https://a.example/a b",
        "Contoso Ltd",
    ],
)
def test_link_target_refuses_what_is_not_an_http_url(context: Context, text: str) -> None:
    with pytest.raises(ValueContextError, match=r"^is not an http\(s\) URL, so it cannot be"):
        escape_value(value(text), context, "litware-crm")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (Context.PROSE, marked("javascript:alert(1)")),
        (Context.INLINE_CODE, "javascript:alert(1)"),
        (Context.CODE_BLOCK, "javascript:alert(1)"),
        (Context.HTML, "javascript:alert(1)"),
    ],
)
def test_script_url_is_only_text_outside_link_targets(context: Context, expected: str) -> None:
    assert escape_value(value("javascript:alert(1)"), context, "") == expected


# --- published files ------------------------------------------------------------------------

CERT = value("signing-certificate.cer", site_path="litware-crm/signing-certificate.cer")
ODD_APP = value("federation-metadata.xml", site_path="Contoso App@eu/federation-metadata.xml")


@pytest.mark.parametrize(
    ("published", "context", "page_dir", "expected"),
    [
        # from the guide page beside the file
        (CERT, Context.LINK_URL, "litware-crm", "signing-certificate.cer"),
        (CERT, Context.HTML_URL, "litware-crm", "signing-certificate.cer"),
        (
            CERT,
            Context.PROSE,
            "litware-crm",
            "[signing-certificate.cer](signing-certificate.cer)",
        ),
        (CERT, Context.INLINE_CODE, "litware-crm", "signing-certificate.cer"),
        # from the site root (the tenant's home page)
        (CERT, Context.LINK_URL, "", "litware-crm/signing-certificate.cer"),
        (
            CERT,
            Context.TABLE_CELL,
            "",
            "[signing-certificate.cer](litware-crm/signing-certificate.cer)",
        ),
        (CERT, Context.CODE_BLOCK, "", "litware-crm/signing-certificate.cer"),
        (CERT, Context.LINK_URL_PART, "", "litware-crm%2Fsigning-certificate.cer"),
        # from another app's page
        (CERT, Context.LINK_URL, "wingtip-tickets", "../litware-crm/signing-certificate.cer"),
        # an app folder name with a space and an @
        (ODD_APP, Context.LINK_URL, "", "Contoso%20App%40eu/federation-metadata.xml"),
        (ODD_APP, Context.HTML_URL, "", "Contoso%20App%40eu/federation-metadata.xml"),
        (ODD_APP, Context.INLINE_CODE, "", "Contoso App@eu/federation-metadata.xml"),
        (ODD_APP, Context.HTML, "", "Contoso App@eu/federation-metadata.xml"),
        (ODD_APP, Context.LINK_URL, "Contoso App@eu", "federation-metadata.xml"),
    ],
)
def test_escape_published_file(
    published: ResolvedValue, context: Context, page_dir: str, expected: str
) -> None:
    assert escape_value(published, context, page_dir) == expected


def test_published_file_name_is_escaped_as_link_text() -> None:
    published = value("x", site_path="app/signing_cert [old].cer")
    assert escape_value(published, Context.PROSE, "app") == (
        r"[signing\_cert \[old\].cer](signing_cert%20%5Bold%5D.cer)"
    )


def test_link_href_of_published_file_skips_the_url_check() -> None:
    # A published file's text is its name, not a URL: the link goes to the site path.
    assert link_href(CERT, "litware-crm") == "signing-certificate.cer"


# --- joining page parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], ""),
        (["only\n"], "only\n"),
        (["a", "b"], "a\n\nb"),
        (["a\n", "b\n"], "a\n\nb\n"),
        (["a\n\n", "b"], "a\n\n\nb"),
        (["a\n", "b\n", "c\n"], "a\n\nb\n\nc\n"),
    ],
)
def test_join_parts(parts: list[str], expected: str) -> None:
    assert join_parts(parts) == expected
