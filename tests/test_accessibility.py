"""Accessibility: axe-core checks the published pages for WCAG 2.1 A and AA in real Chromium.

Pages come from the samples (with the seed guide, and Contoso with expiring certificates) and
a few real guides of ``../shared/corpus``. Each is checked in Material's light and dark scheme,
with every ``<details>`` panel open, and so are Material's own search results and mobile
navigation drawer. A serious or critical violation fails the test; minor and moderate ones
are advice. axe-core comes inside the ``axe-playwright-python`` package: nothing is fetched.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
pytest.importorskip(
    "axe_playwright_python",
    reason="axe-playwright-python is not installed (pip install -e '.[test]')",
)
from browsing import CHROMIUM, build_samples, chromium, serve, violations
from playwright.sync_api import Browser, Page, expect

from tenantdocs.cli import main

if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = SHARED / "seed" / "citrix-gotomeeting-sso_configure.md"
# Every kind of markup a guide can hold (alerts of each type, code in several languages,
# tables, links around values), for a tenant that gets every app (Fabrikam).
TOUR = REPO / "tests" / "fixtures" / "markup_tour.md"
CORPUS = SHARED / "corpus" / "azure-sso-tutorials"
# Real guides with what the samples lack: many images and code (aws), DocFX alerts
# (servicenow), tables (saphana), a second h1 and notes (fluxxlabs).
CORPUS_GUIDES = ("aws", "fluxxlabs", "saphana", "servicenow")
CONTOSO_TID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"

Scheme = Literal["light", "dark"]
SCHEMES: dict[Scheme, str] = {"light": "default", "dark": "slate"}


# --- the sites, the server, the browser -----------------------------------------------------


def _build_corpus_guides(root: Path) -> Path:
    """A few real guides (and the corpus's shared parts) for a tenant with real metadata."""
    for folder in ("_", *CORPUS_GUIDES):
        shutil.copytree(CORPUS / folder, root / "templates" / folder)
    (root / "tenants").mkdir()
    shutil.copy(REPO / "tenants" / "contoso" / "litware-crm.xml", root / "tenants" / "idp.xml")
    (root / "tenants" / "acme.yml").write_text(
        f"name: Acme Corp\ntenant_id: {CONTOSO_TID}\nmetadata_file: idp.xml\n", encoding="utf-8"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["build", "--jobs", "1"]) == 0
    return root / "site"


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The sites built once and served from one root; yields the base URL and the pages."""
    root = tmp_path_factory.mktemp("a11y")
    guides = {"markup-tour": TOUR} | ({"citrix-gotomeeting": SEED} if SEED.is_file() else {})
    build_samples(root / "samples", guides)
    paths = [
        "samples/site/index.html",
        "samples/site/contoso/index.html",
        "samples/site/fabrikam/index.html",
        "samples/site/contoso-expiring/index.html",
        "samples/site/contoso-expiring/litware-crm/index.html",
    ]
    paths += sorted(
        path.relative_to(root).as_posix()
        for path in (root / "samples" / "site" / "contoso").glob("*/index.html")
    )
    paths += [f"samples/site/fabrikam/{app}/index.html" for app in sorted(guides)]
    if CORPUS.is_dir():
        _build_corpus_guides(root / "corpus")
        paths += [f"corpus/site/acme/{app}/index.html" for app in CORPUS_GUIDES]
    with serve(root) as base:
        yield base, paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _open(browser: Browser, base: str, scheme: Scheme, **options: Any) -> Page:
    viewport = options.pop("viewport", {"width": 1280, "height": 900})
    page = browser.new_context(color_scheme=scheme, viewport=viewport, **options).new_page()
    page.set_default_timeout(10_000)
    return page


def _load(page: Page, url: str, scheme: Scheme) -> None:
    """Open a page with its script run (copy buttons in place) and every panel open."""
    page.goto(url)
    if page.locator(".md-header").count():
        expect(page.locator("body")).to_have_attribute("data-md-color-scheme", SCHEMES[scheme])
    if page.locator("code.td-value").count():
        expect(page.locator("button.td-copy").first).to_be_attached()
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


# --- the checker itself ---------------------------------------------------------------------


def test_axe_finds_faint_text_and_links_told_apart_by_colour_only(browser: Browser) -> None:
    page = _open(browser, "", "light")
    try:
        page.set_content(
            '<html lang="en"><head><title>t</title></head><body><main>'
            '<p style="color:#000">Sign in at <a href="#x" style="color:#333;'
            'text-decoration:none">the portal</a> first.</p>'
            '<p style="color:#aaa;font-size:10px">faint</p></main></body></html>'
        )
        rules = sorted({line.split(" ")[0] for line in violations(page)})
        assert rules == ["color-contrast", "link-in-text-block"]
    finally:
        page.context.close()


# --- the published pages --------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_pages_have_no_serious_violation(
    browser: Browser, pages: tuple[str, list[str]], scheme: Scheme
) -> None:
    base, paths = pages
    assert len(paths) >= 10
    page = _open(browser, base, scheme)
    try:
        failures: list[str] = []
        for path in paths:
            _load(page, f"{base}/{path}", scheme)
            failures += [f"{path}: {line}" for line in violations(page)]
        assert not failures, "\n".join(failures)
    finally:
        page.context.close()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_material_search_results_and_drawer_have_no_serious_violation(
    browser: Browser, pages: tuple[str, list[str]], scheme: Scheme
) -> None:
    base, _ = pages
    guide = f"{base}/samples/site/contoso/litware-crm/index.html"
    page = _open(browser, base, scheme)
    try:
        _load(page, guide, scheme)
        box = page.locator("input.md-search__input")
        box.click()
        box.press_sequentially("Litware")
        expect(page.locator("a.md-search-result__link").first).to_be_visible()
        found = violations(page)
        assert not found, "\n".join(found)
    finally:
        page.context.close()

    phone = _open(browser, base, scheme, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        _load(phone, guide, scheme)
        phone.locator("label.md-header__button[for=__drawer]").click()
        expect(phone.locator("nav.md-nav--primary")).to_be_in_viewport()
        found = violations(phone)
        assert not found, "\n".join(found)
    finally:
        phone.context.close()
