"""The admin's site without a browser: the tenant home (shared values, table of apps), guide
panels, certificate warnings, provenance, downloads, directory, search index, assets and
colour schemes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import markdown
import markupsafe
import pytest
from conftest import build

from tenantdocs.adminpages import ABOUT_HEADING, add_guide_panels, render_home
from tenantdocs.certificates import (
    Certificate,
    CertificateState,
    certificate_state,
    load_certificate,
)
from tenantdocs.cli import main
from tenantdocs.errors import Location
from tenantdocs.metadata import parse_metadata
from tenantdocs.pipeline import Project, Selection, load_template_set, load_tenants, plan_tenant
from tenantdocs.render import Page, html_block, open_html_blocks
from tenantdocs.sitebuild import SEARCH_SEPARATOR, SitePlan, build_site, mark_downloads, site_assets
from tenantdocs.sources import MetadataLoader
from tenantdocs.values import (
    LoadedMetadata,
    Origin,
    Provenance,
    ResolvedValue,
    ValueSet,
    metadata_identity,
)

REPO = Path(__file__).resolve().parents[1]
CONTOSO_TID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
ENTITY_ID = f"https://sts.windows.net/{CONTOSO_TID}/"
LOGIN_URL = f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2"
# The sample certificates are valid from 2026-01-01 to 2036-01-01 (scripts/make_sample_metadata.py).
SAMPLE_NOT_AFTER = datetime(2036, 1, 1, tzinfo=UTC)


class _Page(HTMLParser):
    """What an admin sees of a page: marked values, links and their attributes, headings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.headings: list[str] = []
        self._value: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "code" and "td-value" in (found.get("class") or "").split():
            self._value = []
        elif tag == "a":
            self.links.append(found)
        elif tag in ("h1", "h2"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._value is not None:
            self.values.append("".join(self._value))
            self._value = None
        elif tag in ("h1", "h2") and self._heading is not None:
            self.headings.append("".join(self._heading).strip("¶ \n"))
            self._heading = None

    def handle_data(self, data: str) -> None:
        for part in (self._value, self._heading):
            if part is not None:
                part.append(data)


def parse(text: str) -> _Page:
    parser = _Page()
    parser.feed(text)
    return parser


def article(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return text[text.index("<article") : text.index("</article>")]


def section(text: str, heading_id: str) -> str:
    """The HTML of one h2 section: from its heading to the next h2 (or the end)."""
    start = text.index(f'<h2 id="{heading_id}"')
    end = text.find("<h2 ", start + 1)
    return text[start : end if end != -1 else len(text)]


def copy_samples(root: Path) -> None:
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "tenants", root / "tenants")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The sample tenants built once for the module; the working directory is the project."""
    root = tmp_path_factory.mktemp("samples")
    copy_samples(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["build", "--jobs", "1"]) == 0
        yield root / "site"


def sample_certificate(app: str = "litware-crm") -> Certificate:
    xml = (REPO / "tenants" / "contoso" / f"{app}.xml").read_text(encoding="utf-8")
    body = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", xml)
    assert body is not None
    return load_certificate(body.group(1))


# --- certificate status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (datetime(2030, 6, 1, tzinfo=UTC), CertificateState.VALID),
        (SAMPLE_NOT_AFTER - timedelta(days=30, seconds=1), CertificateState.VALID),
        (SAMPLE_NOT_AFTER - timedelta(days=30), CertificateState.EXPIRING),
        (SAMPLE_NOT_AFTER - timedelta(seconds=1), CertificateState.EXPIRING),
        (SAMPLE_NOT_AFTER, CertificateState.EXPIRED),
        (datetime(2040, 1, 1, tzinfo=UTC), CertificateState.EXPIRED),
        (datetime(2025, 12, 31, 23, 59, tzinfo=UTC), CertificateState.NOT_YET_VALID),
    ],
)
def test_certificate_state(now: datetime, state: CertificateState) -> None:
    assert certificate_state(sample_certificate(), now) is state


# --- the tenant home ----------------------------------------------------------------------


APPS = [
    "adventure-works-learning",
    "fourth-coffee-portal",
    "litware-crm",
    "tailspin-travel",
    "wingtip-tickets",
]


def test_home_shows_shared_values_once_then_a_row_per_app(samples: Path) -> None:
    home = article(samples / "contoso" / "index.html")
    assert parse(home).headings == ["Contoso Ltd", "Values for every app", "Apps"]
    # Every app's metadata agrees on the IdP's endpoints: each is shown once, with its source.
    shared = section(home, "values-for-every-app")
    assert parse(shared).values == [LOGIN_URL, LOGIN_URL, ENTITY_ID]
    assert parse(home).values.count(ENTITY_ID) == 1
    for source in ("SingleSignOnService", "SingleLogoutService", "entityID"):
        assert f"<td>federation metadata, {source}</td>" in shared
    # What differs is one row per app: its certificate, downloads and its own values.
    apps = section(home, "apps")
    rows = re.findall(r"<tr><td><a .*?</tr>", apps)
    assert len(rows) == len(APPS)
    for app, row in zip(APPS, rows, strict=True):
        found = parse(row)
        thumbprint = sample_certificate(
            "litware-crm" if app == "fourth-coffee-portal" else app
        ).thumbprint
        assert found.values[0] == thumbprint, app
        assert "</code> 2036-01-01 <span" in row and 'td-status--valid">valid</span>' in row
        links = {str(link["href"]): "download" in link for link in found.links}
        # The app's metadata; its certificate files are on its guide.
        assert links == {f"{app}/index.html": False, f"{app}/federation-metadata.xml": True}, app
    # A value only Tailspin's guide uses (set in the tenant file) is on Tailspin's row only.
    password = "https://account.activedirectory.windowsazure.com/ChangePassword.aspx"
    assert [password in row for row in rows] == [False, False, False, True, False]
    # App defaults (app.yml) are the same for every tenant: the guide has them, not the home.
    assert "Sign-in URL example" not in home and "yourcompany.litware.example" not in home


def test_home_of_apps_sharing_one_certificate_shows_it_once(samples: Path) -> None:
    # Fabrikam's apps all use one metadata document: its certificate is a shared value too.
    home = article(samples / "fabrikam" / "index.html")
    shared = section(home, "values-for-every-app")
    assert "Signing certificate" in shared and "td-status--valid" in shared
    apps = section(home, "apps")
    assert "<th>Signing certificate, expiry</th>" not in apps
    assert parse(home).values.count(parse(shared).values[-1]) == 1


def _certificate(not_after: datetime) -> Certificate:
    return replace(sample_certificate(), not_after=not_after, sha256=not_after.isoformat())


def test_home_lists_certificates_that_need_attention_first() -> None:
    soon = _NOW + timedelta(days=5)
    sooner = _NOW + timedelta(days=2)
    apps = [("a-app", "Alpha", None), ("b-app", "Beta", soon), ("c-app", "Gamma", sooner)]
    pages = [_page(app, title) for app, title, _ in apps]
    value_sets = [
        ValueSet(app, {}, certificates=(_certificate(date or _NOW + timedelta(days=400)),))
        for app, _, date in apps
    ]
    home = render_home("Acme", pages, value_sets, _NOW)
    table = home[home.index("## Apps") :]
    order = [table.index(f'href="{app}/index.html"') for app in ("c-app", "b-app", "a-app")]
    assert order == sorted(order)
    alert = home[home.index('<div class="admonition warning td-alert">') : home.index("## ")]
    assert alert.index("Gamma") < alert.index("Beta") and "Alpha" not in alert


def test_home_shares_only_values_every_app_agrees_on() -> None:
    def values(app: str, issuer: str) -> ValueSet:
        return ValueSet(
            app,
            {
                "IssuerUri": _value("IssuerUri", issuer),
                "singleSignOnServiceUrl": _value("singleSignOnServiceUrl", LOGIN_URL),
                "DisplayName": _value("DisplayName", f"{app} (EU)"),
            },
        )

    keys = ("DisplayName", "IssuerUri", "singleSignOnServiceUrl")
    pages = [_page("one", "One", keys), _page("two", "Two", keys)]
    home = _markdown(
        render_home("Acme", pages, [values("one", ENTITY_ID), values("two", "x")], _NOW)
    )
    found = parse(home)
    assert found.values == [LOGIN_URL, ENTITY_ID, "x"]
    assert "<td>tenant file, tenants/acme.yml:3</td>" in home
    assert "Entity ID (issuer): <code" in home
    assert "App name" not in home  # a name set in the tenant file is the guide's link


def test_shared_value_from_many_lines_names_a_few_and_counts_the_rest() -> None:
    def values(app: str, line: int) -> ValueSet:
        where = Provenance(Origin.APP_ENTRY, Location(Path("tenants/acme.yml"), line))
        return ValueSet(app, {"IssuerUri": ResolvedValue("IssuerUri", ENTITY_ID, where)})

    apps = [f"app-{index}" for index in range(5)]
    pages = [_page(app, app, ("IssuerUri",)) for app in apps]
    home = open_html_blocks(
        render_home("Acme", pages, [values(app, 10 + i) for i, app in enumerate(apps)], _NOW)
    )
    assert parse(home).values == [ENTITY_ID]
    assert (
        "<td>tenant file, app entry, tenants/acme.yml:10; tenant file, app entry,"
        " tenants/acme.yml:11; tenant file, app entry, tenants/acme.yml:12;"
        " and 2 more (each guide names its own)</td>"
    ) in home


def test_home_lists_apps_without_metadata_values() -> None:
    """A tenant with neither metadata nor certificates still gets a working home page."""
    home = render_home("Northwind", [_page("litware-crm", "Litware CRM")], [_values({})], _NOW)
    rendered = _markdown(home)
    assert 'href="litware-crm/index.html"' in rendered
    assert "<th>Signing certificate, expiry</th>" not in rendered  # no app has one
    with_metadata = replace(_values({}), metadata=_loaded_sample())
    pages = [_page("litware-crm", "Litware CRM"), _page("other", "Other")]
    home = render_home("Northwind", pages, [with_metadata, _values({})], _NOW)
    assert "none in the metadata" not in home  # no certificate column either
    certified = ValueSet("other", {}, certificates=(sample_certificate(),))
    home = render_home("Northwind", pages, [with_metadata, certified], _NOW)
    assert "<td>none in the metadata</td>" in home


# --- guides: marked values, downloads, certificates, provenance -----------------------------


def test_guide_marks_values_and_ends_with_downloads_and_certificate(samples: Path) -> None:
    page = article(samples / "contoso" / "litware-crm" / "index.html")
    found = parse(page)
    # Login and logout URL (the same URL here): steps, table, quick reference, provenance.
    assert found.values.count(LOGIN_URL) == 8
    assert ENTITY_ID in found.values
    assert found.headings[-1] == "About these values"
    about = section(page, "about-these-values")
    downloads = {link["href"] for link in parse(about).links if "download" in link}
    assert downloads == {
        "signing-certificate.cer",
        "signing-certificate-raw.cer",
        "federation-metadata.xml",
    }
    certificate = sample_certificate()
    assert certificate.thumbprint in parse(about).values
    assert "CN=Microsoft Azure Federated SSO Certificate" in about
    assert 'td-status--valid">valid</span>' in about
    # Every link from a guide to a published file downloads it.
    for link in found.links:
        href = str(link["href"])
        if href.endswith((".cer", ".xml")):
            assert "download" in link, href


def test_provenance_names_tenant_file_lines_metadata_and_derivations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _project(
        tmp_path,
        guide="%metadata:DisplayName%: %metadata:IssuerUri% %metadata:changePasswordUrl%"
        " %metadata:tenantId% %metadata:singleSignOnServiceUrl%\n",
        tenant=(
            "name: Acme\n"
            f"tenant_id: {CONTOSO_TID}\n"
            "metadata:\n"
            "  changePasswordUrl: https://acme.example/password\n"
            "apps:\n"
            "  app:\n"
            "    metadata_file: idp.xml\n"
        ),
    )
    assert main(["build", "--jobs", "1"]) == 0
    panel = article(tmp_path / "site" / "acme" / "app" / "index.html")
    panel = panel[panel.index('<details class="info td-provenance">') :]
    rows = dict(
        re.findall(r"<small class=\"td-key\">(\w+)</small></td><td>.*?</td><td>(.*?)</td>", panel)
    )
    assert rows == {
        "singleSignOnServiceUrl": "federation metadata, SingleSignOnService",
        "IssuerUri": "federation metadata, entityID",
        "tenantId": "derived from tenant_id, tenants/acme.yml:2",
        "changePasswordUrl": "tenant file, tenants/acme.yml:4",
        "DisplayName": "app default, templates/app/app.yml:2",
    }
    digest = hashlib.sha256((tmp_path / "tenants" / "idp.xml").read_bytes()).hexdigest()
    assert (
        f"Built from the federation metadata <code>idp.xml</code> (SHA-256 <code>{digest}</code>)"
        in panel
    )


def test_values_no_template_of_a_page_uses_are_not_shown_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = "https://acme.example/only-for-the-first-app"
    app_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    _project(
        tmp_path,
        guide="Entity ID: %metadata:IssuerUri%\n",
        tenant=(
            "name: Acme\n"
            f"tenant_id: {CONTOSO_TID}\n"
            "apps:\n"
            "  app:\n"
            f"    app_id: {app_id}\n"
            "    metadata_file: idp.xml\n"
            "  other:\n"
            "    metadata_file: idp.xml\n"
            f"    metadata: {{changePasswordUrl: '{secret}'}}\n"
        ),
    )
    other = tmp_path / "templates" / "other"
    other.mkdir()
    (other / "sso_configure.md").write_text("Change it at %metadata:changePasswordUrl%.\n")
    assert main(["build", "--jobs", "1"]) == 0
    site = tmp_path / "site" / "acme"
    assert secret in (site / "other" / "index.html").read_text()
    assert secret not in (site / "app" / "index.html").read_text()
    # The app ID (and the metadata URL derived from it) is used by no template at all.
    published = [p for p in site.rglob("*") if p.is_file() and p.suffix in (".html", ".json")]
    assert len(published) == 5  # home, two guides, 404 page, search index
    for path in published:
        assert app_id not in path.read_text(encoding="utf-8"), path


# --- certificate warnings: "now" is injected ------------------------------------------------


def _plan_at(root: Path, now: datetime) -> dict[str, str]:
    project = Project(root / "templates", root / "tenants", root / "site", root / ".cache")
    templates, renderer = load_template_set(project)
    [(tenant, warnings)], failed = load_tenants(project, templates, Selection(slugs=("contoso",)))
    assert failed == []
    loader = MetadataLoader(project.tenants, project.cache, False, now)
    return dict(plan_tenant(tenant, warnings, templates, renderer, loader).site.pages)


@pytest.fixture
def contoso(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy_samples(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_certificate_expiring_within_30_days_warns_on_home_and_guides(contoso: Path) -> None:
    pages = _plan_at(contoso, SAMPLE_NOT_AFTER - timedelta(days=10))
    guide = pages["litware-crm/index.md"]
    assert guide.startswith('<div class="admonition warning td-alert">')
    assert "The signing certificate expires soon" in guide
    assert "expires on 2036-01-01 00:00:00 UTC, within 30 days" in guide
    assert 'td-status--expiring">expires soon</span>' in guide
    home = pages["index.md"]
    alert = home[home.index('<div class="admonition warning td-alert">') :]
    alert = alert[: alert.index("</div>")]
    assert alert.count("<li>") == 5
    assert '<a href="litware-crm/index.html">Litware CRM</a>: expires on 2036-01-01' in alert


def test_certificate_with_more_than_30_days_left_gives_no_warning(contoso: Path) -> None:
    pages = _plan_at(contoso, SAMPLE_NOT_AFTER - timedelta(days=31))
    assert all("td-alert" not in text for text in pages.values())
    assert 'td-status--valid">valid</span>' in pages["litware-crm/index.md"]


def test_expired_certificate_published_on_purpose_is_a_danger_warning(contoso: Path) -> None:
    tenant = contoso / "tenants" / "contoso.yml"
    tenant.write_text(tenant.read_text() + "allow_expired_certificate: true\n")
    pages = _plan_at(contoso, SAMPLE_NOT_AFTER + timedelta(days=1))
    guide = pages["wingtip-tickets/index.md"]
    assert guide.startswith('<div class="admonition danger td-alert">')
    assert "The signing certificate has expired" in guide
    assert "expired on 2036-01-01 00:00:00 UTC" in guide
    assert '<div class="admonition danger td-alert">' in pages["index.md"]


def test_same_inputs_and_now_give_the_same_pages(contoso: Path) -> None:
    now = SAMPLE_NOT_AFTER - timedelta(days=3)
    assert _plan_at(contoso, now) == _plan_at(contoso, now)


# --- escaping in the panels ----------------------------------------------------------------

_NOW = datetime(2030, 1, 1, tzinfo=UTC)
HOSTILE = "https://a.example/<script>alert('x')</script>?a=1&b=\"2\"*_[x](y)|"


def _value(key: str, text: str, site_path: str | None = None) -> ResolvedValue:
    location = Location(Path("tenants/acme.yml"), 3)
    return ResolvedValue(key, text, Provenance(Origin.TENANT_FILE, location), site_path)


def _values(values: dict[str, ResolvedValue]) -> ValueSet:
    return ValueSet("litware-crm", values)


def _page(app: str, title: str, keys: tuple[str, ...] = ()) -> Page:
    return Page(f"{app}/index.md", title, "Guide text.\n", Location(Path("g.md")), keys)


def _markdown(text: str) -> str:
    """The page's HTML as the site build makes it (HTML blocks put back after conversion)."""
    return open_html_blocks(
        markdown.Markdown(extensions=["toc", "tables", "admonition"]).convert(text)
    )


def test_home_and_panels_escape_every_value() -> None:
    values = _values(
        {
            "IssuerUri": _value("IssuerUri", HOSTILE),
            "SignInUrlExample": _value("SignInUrlExample", HOSTILE),
            "metadataDownloadUrl": _value(
                "metadataDownloadUrl", "x", "litware-crm/fed <meta>&.xml"
            ),
        }
    )
    keys = ("IssuerUri", "SignInUrlExample", "metadataDownloadUrl")
    page = _page("litware-crm", "Litware <b>CRM</b> & *co*", keys)
    home = _markdown(render_home("Acme <i>Ltd</i> [x](y)", [page], [values], _NOW))
    guide = _markdown(add_guide_panels(page, values, _NOW).markdown)
    for rendered in (home, guide):
        assert "<script" not in rendered and "<b>" not in rendered and "<i>" not in rendered
        assert HOSTILE in parse(rendered).values
        assert str(markupsafe.escape(HOSTILE)) in rendered  # the example is plain text
    assert ">Acme &lt;i&gt;Ltd&lt;/i&gt; [x](y)</h1>" in home
    assert 'href="litware-crm/fed%20%3Cmeta%3E%26.xml"' in home
    assert 'href="fed%20%3Cmeta%3E%26.xml"' in guide


HTML_HOOKS = """
from pathlib import Path

def on_page_content(html, page, config, files):
    Path(config.site_dir).parent.joinpath("seen.html").write_text(html)
    return html
"""


def test_html_blocks_reach_the_page_whole_before_any_plugin_sees_it(tmp_path: Path) -> None:
    """The closing section's and the home's tables pass Markdown conversion as comments and
    are opened again first of all plugins. A block holding what ends a comment stays raw
    HTML (else the page would end the block early and show the rest as text); a plugin of
    the base configuration sees the opened HTML (else it would get the comment)."""
    inner = '<div class="x"><!-- a note --><p>after the note</p></div>'
    table = "<table>\n\n<tr><td>v</td></tr>\n</table>"
    assert html_block(inner) == inner
    assert html_block(table).startswith("<!--")
    page = f"# Guide\n\n{html_block(table)}\n\n{html_block(inner)}\n\nThe end.\n"
    (tmp_path / "hooks.py").write_text(HTML_HOOKS)
    base = tmp_path / "mkdocs.yml"
    base.write_text(f"hooks:\n  - {tmp_path / 'hooks.py'}\n")
    plan = SitePlan("T", {"index.md": page}, {}, [{"Home": "index.md"}], base, {"": Location(base)})
    build_site(plan, tmp_path / "work", tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<table>\n<tr><td>v</td></tr>\n</table>" in html
    assert inner in html
    assert "tenantdocs:html" not in html
    assert "tenantdocs:html" not in (tmp_path / "seen.html").read_text(encoding="utf-8")
    index = (tmp_path / "site" / "search" / "search_index.json").read_text(encoding="utf-8")
    assert "after the note" in index and "tenantdocs:html" not in index


def test_panels_are_appended_after_the_guide_unchanged() -> None:
    page = _page("litware-crm", "Litware CRM", ("IssuerUri",))
    values = _values({"IssuerUri": _value("IssuerUri", ENTITY_ID)})
    text = add_guide_panels(page, values, _NOW).markdown
    assert text.startswith("Guide text.\n\n" + ABOUT_HEADING + "\n\n")
    assert text.count("<details") == 1


def test_certificate_warning_goes_after_front_matter() -> None:
    values = ValueSet("litware-crm", {}, certificates=(sample_certificate(),))
    expiring = SAMPLE_NOT_AFTER - timedelta(days=1)
    plain = add_guide_panels(_page("litware-crm", "Litware CRM"), values, expiring).markdown
    assert plain.startswith('<div class="admonition warning td-alert">\n')
    assert "\n</div>\n\nGuide text.\n\n## About these values\n" in plain
    page = replace(_page("litware-crm", "Litware CRM"), markdown="---\ntitle: X\n---\nGuide.\n")
    text = add_guide_panels(page, values, expiring).markdown
    assert text.startswith('---\ntitle: X\n---\n<div class="admonition warning td-alert">\n')
    assert "\n</div>\n\nGuide.\n" in text


def test_provenance_names_the_metadata_document_once() -> None:
    loaded = _loaded_sample()
    value = ResolvedValue(
        "IssuerUri",
        ENTITY_ID,
        Provenance(Origin.METADATA, loaded.location, document=loaded.detail, element="entityID"),
    )
    values = ValueSet("litware-crm", {"IssuerUri": value}, metadata=loaded)
    text = add_guide_panels(_page("litware-crm", "Litware CRM", ("IssuerUri",)), values, _NOW)
    assert "<td>federation metadata, entityID</td>" in text.markdown
    assert text.markdown.count("contoso/litware-crm.xml") == 1
    assert "sha256 0123" not in text.markdown  # the loader's note; the page has the digest


@pytest.mark.parametrize(
    ("detail", "source"),
    [
        ("contoso/idp.xml (sha256 0123456789abcdef)", "contoso/idp.xml"),
        ("idp (eu).xml (sha256 0123)", "idp (eu).xml"),
        (
            'https://idp.example/md?x=1 (fetched 2026-11-26T06:00:00+00:00, ETag "a")',
            "https://idp.example/md?x=1",
        ),
        ("https://idp.example/md", "https://idp.example/md"),
    ],
)
def test_metadata_identity_leaves_out_the_fetch_time(detail: str, source: str) -> None:
    loaded = _loaded_sample()
    digest = hashlib.sha256(loaded.document.raw).hexdigest()
    assert metadata_identity(replace(loaded, detail=detail, source=source)) == (source, digest)


def _loaded_sample() -> LoadedMetadata:
    path = REPO / "tenants" / "contoso" / "litware-crm.xml"
    document = parse_metadata(path.read_bytes(), path)
    return LoadedMetadata(
        document, Location(path), "contoso/litware-crm.xml (sha256 0123)", "contoso/litware-crm.xml"
    )


# --- links that download ---------------------------------------------------------------------

DOWNLOADS = frozenset({"app/signing-certificate.cer", "a b@x/federation-metadata.xml"})


@pytest.mark.parametrize(
    ("page_path", "before", "after"),
    [
        (
            "app/index.md",
            '<a href="signing-certificate.cer">x</a>',
            '<a download href="signing-certificate.cer">x</a>',
        ),
        (
            "index.md",
            '<a href="app/signing-certificate.cer#top" title="t">x</a>',
            '<a download href="app/signing-certificate.cer#top" title="t">x</a>',
        ),
        (
            "other/index.md",
            '<a class="c" href="../a%20b%40x/federation-metadata.xml">x</a>',
            '<a download class="c" href="../a%20b%40x/federation-metadata.xml">x</a>',
        ),
        ("index.md", '<a href="signing-certificate.cer">x</a>', None),
        ("app/index.md", '<a href="index.html">x</a>', None),
        ("app/index.md", '<a href="https://a.example/app/signing-certificate.cer">x</a>', None),
        ("app/index.md", '<a href="/app/signing-certificate.cer">x</a>', None),
        ("app/index.md", '<a download="c.cer" href="signing-certificate.cer">x</a>', None),
        ("app/index.md", '<abbr title="x">y</abbr>', None),
    ],
)
def test_mark_downloads(page_path: str, before: str, after: str | None) -> None:
    assert mark_downloads(before, page_path, DOWNLOADS) == (after or before)


# --- the directory, search, assets, colour schemes ------------------------------------------


def test_directory_lists_every_tenant_and_app_without_javascript(samples: Path) -> None:
    directory = (samples / "index.html").read_text(encoding="utf-8")
    found = parse(directory)
    hrefs = [link["href"] for link in found.links]
    for slug in ("contoso", "fabrikam"):
        assert f"{slug}/index.html" in hrefs
        for app in ("litware-crm", "wingtip-tickets", "fourth-coffee-portal"):
            assert f"{slug}/{app}/index.html" in hrefs
    # The filter box is progressive enhancement: hidden until the inline script shows it.
    assert '<form class="filter" id="filter" role="search" hidden>' in directory
    assert "form.hidden = false;" in directory
    assert re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", directory) is None


def test_directory_is_readable_by_a_web_server_and_rendered_again_only_when_it_changes(
    project: Path,
) -> None:
    """The directory gets a new file's usual mode (a web server running as another user
    serves it). A no-op rebuild leaves it as it is (rendering it was a tenth of a no-op
    rebuild of 500 tenants); a renamed tenant, or a directory that went missing, has it
    written again."""
    mask = os.umask(0)
    os.umask(mask)
    assert build() == 0
    directory = project / "site" / "index.html"
    assert directory.stat().st_mode & 0o777 == 0o666 & ~mask  # 0o644 with the usual umask
    first = directory.stat().st_mtime_ns
    directory.write_text("edited by hand: kept, as the entries did not change")
    assert build() == 0
    assert directory.read_text() == "edited by hand: kept, as the entries did not change"
    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text().replace("Fabrikam Inc", "Fabrikam Group"))
    assert build() == 0
    assert "Fabrikam Group" in directory.read_text(encoding="utf-8")
    assert directory.stat().st_mtime_ns != first
    directory.unlink()
    assert build() == 0
    assert "Fabrikam Group" in directory.read_text(encoding="utf-8")


def test_search_index_has_app_names_and_values(samples: Path) -> None:
    index = json.loads((samples / "contoso" / "search" / "search_index.json").read_text())
    assert index["config"]["separator"] == SEARCH_SEPARATOR
    docs = index["docs"]
    titles = {doc["title"]: doc["location"] for doc in docs if "#" not in doc["location"]}
    assert titles["Litware CRM"] == "litware-crm/index.html"
    assert titles["Wingtip Tickets"] == "wingtip-tickets/index.html"
    litware = " ".join(doc["text"] for doc in docs if doc["location"].startswith("litware-crm/"))
    assert ENTITY_ID in litware and LOGIN_URL in litware
    assert sample_certificate().thumbprint in litware
    separator = re.compile(SEARCH_SEPARATOR)
    assert [t for t in separator.split(ENTITY_ID) if t] == [
        "https",
        "sts",
        "windows",
        "net",
        "11bb11bb",
        "cc22",
        "dd33",
        "ee44",
        "55ff55ff55ff",
    ]


def test_every_page_loads_the_site_assets_and_offers_light_and_dark(samples: Path) -> None:
    site = samples / "contoso"
    for docs_path, data in site_assets().items():
        assert (site / docs_path).read_bytes() == data
    # (MkDocs links the 404 page's assets from the server root, as for its theme files.)
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) == 6
    for page in pages:
        text = page.read_text(encoding="utf-8")
        prefix = "../" if page.parent != site else ""
        assert f'<link rel="stylesheet" href="{prefix}_tenantdocs/tenantdocs.css">' in text, page
        assert f'<script src="{prefix}_tenantdocs/tenantdocs.js"></script>' in text, page
        assert 'data-md-color-scheme="default"' in text and 'data-md-color-scheme="slate"' in text
        assert '"content.code.copy"' in text


def test_site_without_base_configuration_gets_copy_buttons_both_schemes_and_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, guide="Entity ID: %metadata:IssuerUri%\n", tenant=_ACME)
    assert main(["build", "--jobs", "1"]) == 0
    site = tmp_path / "site" / "acme"
    text = (site / "app" / "index.html").read_text(encoding="utf-8")
    assert 'data-md-color-scheme="default"' in text and 'data-md-color-scheme="slate"' in text
    assert '"content.code.copy"' in text
    assert "_tenantdocs/tenantdocs.js" in text
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert index["config"]["separator"] == SEARCH_SEPARATOR


_ACME = f"name: Acme\ntenant_id: {CONTOSO_TID}\nmetadata_file: idp.xml\n"


def _project(root: Path, guide: str, tenant: str) -> None:
    """A project in ``root`` with one app, ``app``, and one tenant, ``acme``."""
    app = root / "templates" / "app"
    app.mkdir(parents=True)
    (app / "sso_configure.md").write_text(guide)
    (app / "app.yml").write_text("metadata:\n  DisplayName: Acme App\n")
    (root / "tenants").mkdir()
    shutil.copy(REPO / "tenants" / "contoso" / "litware-crm.xml", root / "tenants" / "idp.xml")
    (root / "tenants" / "acme.yml").write_text(tenant)
