"""The published sample sites in a real browser: Playwright driving Debian's Chromium.

One browser and one build for the module; the site is served by a real HTTP server on
127.0.0.1. Every test fails on a console error, an uncaught exception or a request to any
other host. Screenshots go to ``test-artifacts/`` at the repository root (git-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
from browsing import (
    ARTIFACTS,
    CHROMIUM,
    Tab,
    build_samples,
    chromium,
    serve,
    watched_tab,
)
from playwright.sync_api import Browser, expect

from tenantdocs.certificates import Certificate, load_certificate
from tenantdocs.cli import main

if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[1]
CONTOSO_TID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
ENTITY_ID = f"https://sts.windows.net/{CONTOSO_TID}/"
LOGIN_URL = f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2"


def metadata_certificate(app: str) -> Certificate:
    """The signing certificate in a sample tenant's metadata document."""
    xml = (REPO / "tenants" / "contoso" / f"{app}.xml").read_text(encoding="utf-8")
    body = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", xml)
    assert body is not None
    return load_certificate(body.group(1))


# --- the site, the server, the browser ----------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples built once; plus Contoso built as if ten days before its certificates expire."""
    return build_samples(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1."""
    with serve(site) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Tab]:
    with watched_tab(browser, server) as opened:
        yield opened


# --- the tenant directory -----------------------------------------------------------------


def test_directory_lists_the_tenants_and_filters_them(tab: Tab) -> None:
    page = tab.open("/index.html")
    tenants = page.locator("ul.tenants > li > a.tenant")
    expect(tenants).to_have_text(["Contoso Ltd", "Fabrikam Inc"])
    expect(page.locator("ul.tenants a", has_text="Wingtip Tickets")).to_have_count(2)
    tab.shoot("directory.png")

    box = page.locator("#filter-text")
    box.fill("wingtip")
    expect(page.locator("ul.apps > li:visible")).to_have_text(["Wingtip Tickets"] * 2)
    box.fill("fabrik")
    expect(page.locator("ul.tenants > li:visible > a.tenant")).to_have_text(["Fabrikam Inc"])
    expect(page.locator("ul.apps > li:visible")).to_have_count(5)
    expect(page.locator("#count")).to_have_text("1 of 2 tenants")
    box.fill("no such app")
    expect(page.locator("ul.tenants > li:visible")).to_have_count(0)
    expect(page.locator("#none")).to_be_visible()
    box.fill("")
    expect(page.locator("ul.apps > li:visible")).to_have_count(10)
    page.locator("ul.tenants a", has_text="Contoso Ltd").click()
    expect(page.locator("article h1")).to_contain_text("Contoso Ltd")


def test_directory_list_works_without_javascript(browser: Browser, server: str) -> None:
    with watched_tab(browser, server, java_script_enabled=False) as tab:
        page = tab.open("/index.html")
        expect(page.locator("#filter")).to_be_hidden()
        expect(page.locator("ul.tenants > li > a.tenant")).to_have_text(
            ["Contoso Ltd", "Fabrikam Inc"]
        )
        expect(page.locator("ul.apps > li:visible")).to_have_count(10)


# --- guides and the tenant home -------------------------------------------------------------


def test_guide_shows_the_tenants_values_with_copy_buttons(tab: Tab) -> None:
    page = tab.open("/contoso/litware-crm/index.html")
    expect(page.locator("article h1")).to_have_text("Litware CRM")
    values = page.locator("article code.td-value")
    texts = values.all_text_contents()
    assert LOGIN_URL in texts and ENTITY_ID in texts
    assert metadata_certificate("litware-crm").thumbprint in texts
    # Every marked value has its copy button right after it.
    expect(page.locator("article code.td-value + button.td-copy")).to_have_count(len(texts))
    expect(page.locator("article h2", has_text="About these values")).to_be_visible()
    tab.shoot("guide-contoso-litware-crm.png")


def test_copy_button_puts_the_value_on_the_clipboard(tab: Tab) -> None:
    page = tab.open("/contoso/litware-crm/index.html")
    button = page.locator("article code.td-value + button.td-copy").nth(2)
    expect(page.locator("article code.td-value").nth(2)).to_have_text(ENTITY_ID)
    button.click()
    expect(button).to_have_attribute("title", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == ENTITY_ID

    page = tab.open("/contoso/index.html")
    thumbprint = metadata_certificate("wingtip-tickets").thumbprint
    wingtip = page.locator("div.td-apps tbody tr", has_text="Wingtip Tickets")
    wingtip.locator("code.td-value", has_text=thumbprint).locator("+ button.td-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == thumbprint


def test_certificate_links_download_the_certificate_in_the_metadata(tab: Tab) -> None:
    expected = metadata_certificate("litware-crm")
    page = tab.open("/contoso/litware-crm/index.html")
    with page.expect_download() as base64_download:
        page.locator('article a[href="signing-certificate.cer"]').first.click()
    pem = Path(base64_download.value.path()).read_text(encoding="ascii")
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert load_certificate("".join(pem.splitlines()[1:-1])).der == expected.der
    assert base64_download.value.suggested_filename == "signing-certificate.cer"

    with page.expect_download() as raw_download:
        page.locator('article a[href="signing-certificate-raw.cer"]').first.click()
    assert Path(raw_download.value.path()).read_bytes() == expected.der


def test_metadata_links_download_the_xml_byte_for_byte(tab: Tab) -> None:
    page = tab.open("/contoso/wingtip-tickets/index.html")
    with page.expect_download() as download:
        page.locator('article a[href="federation-metadata.xml"]').first.click()
    source = (REPO / "tenants" / "contoso" / "wingtip-tickets.xml").read_bytes()
    assert Path(download.value.path()).read_bytes() == source

    page = tab.open("/contoso/index.html")
    with page.expect_download() as from_home:
        page.locator('a[href="litware-crm/federation-metadata.xml"]').click()
    source = (REPO / "tenants" / "contoso" / "litware-crm.xml").read_bytes()
    assert Path(from_home.value.path()).read_bytes() == source


def _search(tab: Tab, query: str) -> list[str]:
    """Type into Material's search box on a freshly opened home page; the result links."""
    page = tab.open("/contoso/index.html")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially(query)
    results = page.locator("a.md-search-result__link")
    expect(results.first).to_be_visible()
    return [str(href) for href in results.evaluate_all("links => links.map(a => a.href)")]


def test_search_finds_a_guide_by_app_name_and_by_value(tab: Tab) -> None:
    found = _search(tab, "Wingtip Tickets")
    assert found[0].startswith(f"{tab.base}/contoso/wingtip-tickets/index.html")

    found = _search(tab, ENTITY_ID)
    guides = {url.split("?")[0] for url in found}
    assert f"{tab.base}/contoso/litware-crm/index.html" in guides

    thumbprint = metadata_certificate("tailspin-travel").thumbprint
    found = _search(tab, thumbprint)
    # Only Tailspin's guide and its row in the home's table of apps carry its thumbprint.
    assert {url.split("?")[0] for url in found} == {
        f"{tab.base}/contoso/index.html",
        f"{tab.base}/contoso/tailspin-travel/index.html",
    }
    page = tab.page
    page.locator('a.md-search-result__link[href*="tailspin-travel/index.html"]').first.click()
    expect(page.locator("article h1")).to_have_text("Tailspin Travel")
    page.locator("code.td-value", has_text=thumbprint).first.locator("+ button.td-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == thumbprint


def test_home_and_guide_in_light_and_dark(browser: Browser, server: str) -> None:
    for scheme, material in (("light", "default"), ("dark", "slate")):
        with watched_tab(browser, server, color_scheme=scheme) as tab:
            page = tab.open("/contoso/index.html")
            expect(page.locator("body")).to_have_attribute("data-md-color-scheme", material)
            expect(page.locator("div.td-apps tbody tr")).to_have_count(5)
            suffix = "" if scheme == "light" else "-dark"
            tab.shoot(f"home-contoso{suffix}.png")
            tab.open("/contoso/litware-crm/index.html")
            tab.shoot(f"guide-contoso-litware-crm{suffix}.png")
            # The palette toggle switches to the other scheme.
            page.locator("form[data-md-component=palette] label:visible").click()
            other = "slate" if material == "default" else "default"
            expect(page.locator("body")).to_have_attribute("data-md-color-scheme", other)


def test_guides_print_with_their_panels_and_without_buttons(tab: Tab) -> None:
    page = tab.open("/contoso/litware-crm/index.html")
    expect(page.locator("button.td-copy").first).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("button.td-copy").first).to_be_hidden()
    expect(page.locator(".md-sidebar--primary")).to_be_hidden()
    expect(page.locator("div.td-certificates table")).to_be_visible()
    expect(page.locator("details.td-provenance table")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "guide-contoso-litware-crm.pdf"
    page.pdf(path=str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")


def test_certificate_about_to_expire_is_a_visible_warning(tab: Tab) -> None:
    page = tab.open("/contoso-expiring/index.html")
    alert = page.locator("article .admonition.warning.td-alert")
    expect(alert).to_be_visible()
    expect(alert.locator("li")).to_have_count(5)
    expect(alert).to_contain_text("Litware CRM: expires on 2036-01-01 00:00:00 UTC, within 30 days")
    tab.shoot("home-contoso-certificate-expiring.png")
    page = tab.open("/contoso-expiring/litware-crm/index.html")
    expect(page.locator("article .admonition.warning.td-alert")).to_contain_text(
        "The signing certificate expires soon"
    )
    expect(page.locator("article .td-status--expiring").first).to_be_visible()
    tab.shoot("guide-contoso-certificate-expiring.png")


def test_every_page_loads_without_errors_or_other_hosts(tab: Tab, site: Path) -> None:
    pages = sorted(
        path.relative_to(site).as_posix()
        for slug in ("contoso", "fabrikam")
        for path in (site / slug).rglob("*.html")
        if path.name != "404.html"
    )
    assert len(pages) == 12
    for path in ["index.html", *pages]:
        page = tab.open("/" + path)
        expect(page.locator("h1").first).to_be_visible()
    assert len({url for url in tab.requests if url.endswith(".js")}) >= 3


WORKLOAD = REPO.parent / "shared" / "bench" / "make_workload.py"
SCREEN = 900


@pytest.mark.skipif(not WORKLOAD.is_file(), reason="../shared/bench is not here")
def test_home_of_30_apps_fits_in_about_two_screens(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run([sys.executable, str(WORKLOAD), "1", "30", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--jobs", "1"]) == 0
    tenant = re.search(
        r"^tenant_id: (\S+)$", (tmp_path / "tenants" / "tenant-000.yml").read_text(), re.M
    )
    assert tenant is not None
    tenant_id = tenant.group(1)
    login_url = f"https://login.microsoftonline.com/{tenant_id}/saml2"
    with serve(tmp_path / "site") as base, watched_tab(browser, base) as tab:
        page = tab.open("/tenant-000/index.html")
        expect(page.locator("div.td-apps tbody tr")).to_have_count(30)
        tab.shoot("home-30-apps.png")
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 2.1 * SCREEN, height
        # The sign-on URL every app shares is shown once, with its copy button and source.
        shared = page.locator("article code.td-value", has_text=login_url)
        expect(shared).to_have_count(2)  # the sign-on and the sign-out URL
        row = page.locator("div.td-shared tr", has_text="Sign-on URL")
        expect(row.locator("code.td-value + button.td-copy")).to_have_count(1)
        expect(row).to_contain_text("tenant file, tenants/tenant-000.yml:4")
        row.locator("button.td-copy").click()
        assert page.evaluate("navigator.clipboard.readText()") == login_url
