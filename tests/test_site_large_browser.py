"""A 750-guide tenant in a real browser: find an app, open its guide, copy a value.

The workload of ``../shared/bench/make_workload.py`` (one tenant, 750 generated guides) is
built once for the module and served on 127.0.0.1; Debian's Chromium opens it through
Playwright. The navigation is walked as a reader would: from the tenant home, open whichever
section leads to the app (a category, a first letter, a range such as "A–F", a name prefix)
until its link shows, so the test holds however large sets are grouped. axe-core checks the
home and a guide at this size. Every test fails on a console error, an uncaught exception or
a request to another host.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
from browsing import CHROMIUM, Tab, chromium, serve, violations, watched_tab
from mkdocs.commands.build import build
from mkdocs.config import load_config
from playwright.sync_api import Browser, Locator, Page, expect

from tenantdocs.cli import main

if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[1]
WORKLOAD = REPO.parent / "shared" / "bench" / "make_workload.py"
GUIDES = 750
TENANT = "tenant-000"
# The app looked for: deep in the set, named by its folder and by its guide's title.
APP = "app-417"
APP_NAMES = ("app-417", "App 417 Cloud")
APP_TITLE = "Configure App 417 Cloud for single sign-on"
# Material's search builds its index of 750 pages in a worker before it answers.
SEARCH_TIMEOUT_MS = 60_000

if not WORKLOAD.is_file():  # pragma: no cover - depends on the checkout
    pytest.skip(f"no workload generator at {WORKLOAD}", allow_module_level=True)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 750-guide workload, built once; returns its folder (templates/, tenants/, site/)."""
    root = tmp_path_factory.mktemp("large")
    subprocess.run([sys.executable, str(WORKLOAD), "1", str(GUIDES), str(root)], check=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        argv = ["build", "--templates", "templates", "--tenants", "tenants", "--site", "site"]
        assert main(argv) == 0
    return root


@pytest.fixture(scope="module")
def server(workload: Path) -> Iterator[str]:
    with serve(workload / "site") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Browser, server: str) -> Iterator[Tab]:
    with watched_tab(browser, server) as opened:
        opened.page.set_default_timeout(15_000)
        yield opened


def login_url(workload: Path) -> str:
    """The sign-on URL the workload's tenant file gives."""
    tenant = yaml.safe_load((workload / "tenants" / f"{TENANT}.yml").read_text(encoding="utf-8"))
    return str(tenant["metadata"]["singleSignOnServiceUrl"])


# --- walking the navigation -------------------------------------------------------------


def leads_to(label: str, name: str) -> bool:
    """Whether a navigation section titled ``label`` is where ``name`` would be filed: the
    name starts with the label ("A", "App 4"), or falls in its range ("A–F", "app-400 – app-499")."""
    label, name = " ".join(label.split()).casefold(), name.casefold()
    if not label:
        return False
    span = (
        re.fullmatch(r"(.+?)\s*[–—]\s*(.+)", label)  # en or em dash
        or re.fullmatch(r"(.+?)\s+-\s+(.+)", label)  # a hyphen with spaces around it
        or re.fullmatch(r"(\w)-(\w)", label)  # a hyphen between two letters
    )
    if span:
        low, high = span.group(1), span.group(2)
        return low <= name[: len(low)] and name[: len(high)] <= high
    return name.startswith(label)


def test_leads_to_reads_letters_prefixes_and_ranges() -> None:
    assert leads_to("A", "app-417") and leads_to(" App\n4 ", "App 417 Cloud")
    assert leads_to("A–F", "app-417") and leads_to("a-f", "app-417")
    assert leads_to("app-400 - app-499", "app-417") and leads_to("App 400–App 499", "App 417")
    assert not leads_to("B", "app-417") and not leads_to("G–M", "app-417")
    assert not leads_to("app-418", "app-417") and not leads_to("Home", "app-417")
    assert not leads_to("app-000 – app-399", "app-417") and not leads_to("", "app-417")


def _visible(locator: Locator) -> list[Locator]:
    return [item for item in locator.all() if item.is_visible()]


# A section shown as a heading (navigation.sections) is open and cannot be clicked; a section
# whose toggle is checked is open already, and a click would close it.
_IS_OPEN = """el => el.parentElement.classList.contains("md-nav__item--section")
    || Boolean(el.htmlFor && document.getElementById(el.htmlFor)?.checked)"""


# A section that is a link to another page (pruned navigation) rather than a toggle.
_LEADS_AWAY = """el => el.tagName === "A" && !(el.getAttribute("href") || "#").startsWith("#")"""


def find_in_navigation(page: Page, app: str, names: tuple[str, ...]) -> None:
    """From the current page, open navigation sections that lead to ``app`` until its link
    shows, then follow it. Fails, naming what the navigation offered, when no visible
    section leads there."""
    nav = page.locator("nav.md-nav--primary")
    opened: list[str] = []
    for _ in range(8):
        link = _visible(nav.locator(f'a.md-nav__link[href$="{app}/index.html"]'))
        if link:
            link[0].click()
            return
        sections = _visible(nav.locator("label.md-nav__link, a.md-nav__link"))
        offered = [" ".join(section.inner_text().split()) for section in sections]
        ahead = [
            (text, section)
            for text, section in zip(offered, sections, strict=True)
            if text not in opened
            and any(leads_to(text, name) for name in names)
            and not section.evaluate(_IS_OPEN)
        ]
        assert ahead, f"no navigation section leads to {app} after {opened}; shown: {offered}"
        text, section = ahead[0]
        opened.append(text)
        if section.evaluate(_LEADS_AWAY):
            # A pruned section is a link to its first page: read the navigation of that
            # page, not the one being left (reading too early made this test flaky).
            with page.expect_navigation():
                section.click()
        else:
            section.click()
    pytest.fail(f"{app} is not in the navigation after opening {opened}")


def _grouped_site(root: Path, groups: list[tuple[str, list[str]]], prune: bool) -> Path:
    """A real MkDocs + Material site whose navigation files the apps under "A", then under
    ``groups`` (collapsed sections, or pruned ones: links to their first page)."""
    apps = [app for _, members in groups for app in members]
    for app in ["index", *apps]:
        (root / "docs" / app).mkdir(parents=True)
        (root / "docs" / app / "index.md").write_text(f"# {app}\n", encoding="utf-8")
    nav = [
        {"Home": "index/index.md"},
        {"A": [{title: [f"{app}/index.md" for app in members]} for title, members in groups]},
    ]
    features = ["navigation.sections", *(["navigation.prune"] if prune else [])]
    config = {
        "site_name": "Grouped",
        "use_directory_urls": False,
        "nav": nav,
        "theme": {"name": "material", "font": False, "features": features},
    }
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    build(load_config(str(root / "mkdocs.yml")))
    return root / "site"


@pytest.mark.parametrize("prune", [False, True], ids=["collapsed", "pruned"])
def test_navigation_walk_opens_the_sections_that_lead_to_the_app(
    browser: Browser, tmp_path: Path, prune: bool
) -> None:
    groups = [("app-0 – app-3", ["app-000", "app-399"]), ("app-4 – app-7", ["app-400", APP])]
    with (
        serve(_grouped_site(tmp_path, groups, prune)) as base,
        watched_tab(browser, base) as tab,
    ):
        page = tab.open("/index/index.html")
        expect(page.locator(f'nav.md-nav--primary a[href$="{APP}/index.html"]')).to_be_hidden()
        find_in_navigation(page, APP, (APP,))
        expect(page).to_have_url(re.compile(rf"/{APP}/index\.html$"))
        expect(page.locator("article h1")).to_contain_text(APP)


def test_navigation_walk_fails_when_no_section_leads_to_the_app(
    browser: Browser, tmp_path: Path
) -> None:
    groups = [("Group 1", ["app-000", "app-399"]), ("Group 2", ["app-400", APP])]
    with (
        serve(_grouped_site(tmp_path, groups, False)) as base,
        watched_tab(browser, base) as tab,
    ):
        page = tab.open("/index/index.html")
        with pytest.raises(AssertionError) as failure:
            find_in_navigation(page, APP, (APP,))
    assert str(failure.value).startswith(
        f"no navigation section leads to {APP} after []; shown: ['Home', 'A', 'Group 1', 'Group 2']"
    )


# --- the 750-guide tenant ------------------------------------------------------------------------------


def test_every_guide_is_published(workload: Path) -> None:
    site = workload / "site" / TENANT
    guides = sorted(path.parent.name for path in site.glob("app-*/index.html"))
    assert len(guides) == GUIDES and guides[0] == "app-000" and guides[-1] == "app-749"


def test_app_is_found_through_the_navigation_and_its_value_copied(tab: Tab, workload: Path) -> None:
    page = tab.open(f"/{TENANT}/index.html")
    expect(page.locator("article h1").first).to_be_visible()
    find_in_navigation(page, APP, APP_NAMES)
    expect(page).to_have_url(re.compile(rf"/{TENANT}/{APP}/(index\.html)?$"))
    expect(page.locator("article h1")).to_contain_text(APP_TITLE)

    value = page.locator("article code.td-value").first
    expect(value).to_have_text(login_url(workload))
    button = value.locator("+ button.td-copy")
    button.click()
    expect(button).to_have_attribute("title", "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == login_url(workload)


def test_app_is_found_through_search(tab: Tab) -> None:
    page = tab.open(f"/{TENANT}/index.html")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("App 417 Cloud")
    first = page.locator("a.md-search-result__link").first
    expect(first).to_be_visible(timeout=SEARCH_TIMEOUT_MS)
    expect(first).to_have_attribute("href", re.compile(rf"(^|/){APP}/"))
    first.click()
    expect(page.locator("article h1")).to_contain_text(APP_TITLE)
    button = page.locator("article code.td-value + button.td-copy").nth(2)
    button.click()
    expect(button).to_have_attribute("title", "Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("article code.td-value").nth(2).inner_text()
    assert copied.startswith("https://sts.windows.net/")


def test_home_and_guide_have_no_serious_accessibility_violation(tab: Tab) -> None:
    """axe-core on the home of 750 apps and on a guide, with the navigation of 750 guides
    (Material's markup for large sets)."""
    pytest.importorskip("axe_playwright_python")
    failures: list[str] = []
    for path in (f"/{TENANT}/index.html", f"/{TENANT}/{APP}/index.html"):
        page = tab.open(path)
        expect(page.locator("article code.td-value + button.td-copy").first).to_be_attached()
        failures += [f"{path}: {line}" for line in violations(page)]
    assert not failures, "\n".join(failures)
