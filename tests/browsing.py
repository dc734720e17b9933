"""What the browser tests share: a site served on 127.0.0.1, Debian's Chromium, watched tabs.

Import with ``from browsing import …`` after the module-level skips of a browser test module
(``pytest.importorskip("playwright.sync_api")`` and :data:`CHROMIUM`).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tenantdocs.cli import main
from tenantdocs.pipeline import Project, Selection, load_template_set, load_tenants, plan_tenant
from tenantdocs.sitebuild import build_site
from tenantdocs.sources import MetadataLoader

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
# Ten days before the sample certificates expire (they are valid until 2036-01-01).
EXPIRING_NOW = datetime(2035, 12, 22, tzinfo=UTC)


def build_samples(root: Path, guides: dict[str, Path] | None = None) -> Path:
    """The sample templates and tenants, with ``guides`` (app folder → guide file) added,
    built in ``root``; plus Contoso as if ten days before its certificates expire, published
    as ``contoso-expiring``. Returns the site folder."""
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "tenants", root / "tenants")
    for app, guide in sorted((guides or {}).items()):
        (root / "templates" / app).mkdir()
        shutil.copy(guide, root / "templates" / app / "sso_configure.md")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert main(["build", "--jobs", "1"]) == 0
        project = Project(root / "templates", root / "tenants", root / "site", root / ".cache")
        templates, renderer = load_template_set(project)
        [(tenant, warnings)], _ = load_tenants(project, templates, Selection(slugs=("contoso",)))
        loader = MetadataLoader(project.tenants, project.cache, False, EXPIRING_NOW)
        plan = plan_tenant(tenant, warnings, templates, renderer, loader)
        assert build_site(plan.site, root / "work", root / "site" / "contoso-expiring") == []
    return root / "site"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1 (a free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, with a fresh profile and no background traffic."""
    args = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A browser page with everything it requested and every error it reported."""

    page: Page
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shoot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path


def open_tab(browser: Browser, base: str, **options: Any) -> tuple[BrowserContext, Tab]:
    """A new context (1280 x 900, clipboard allowed) and a page in it, watched from the start."""
    context = browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 900}, **options
    )
    if options.get("java_script_enabled", True):
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    tab = Tab(page, base)
    page.on("request", lambda request: tab.requests.append(request.url))
    page.on(
        "console",
        lambda message: tab.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return context, tab


def check_closed_network(tab: Tab) -> None:
    """No console error or uncaught exception, and nothing requested from another host."""
    assert tab.errors == []
    assert tab.requests, "the page requested nothing at all"
    elsewhere = [
        url for url in tab.requests if not url.startswith((tab.base + "/", "data:", "blob:"))
    ]
    assert elsewhere == []


@contextmanager
def watched_tab(browser: Browser, base: str, **options: Any) -> Iterator[Tab]:
    """A tab whose console errors and requests to other hosts fail the test when it closes."""
    context, tab = open_tab(browser, base, **options)
    try:
        yield tab
    finally:
        context.close()
    check_closed_network(tab)


# axe-core's rules for WCAG 2.1 levels A and AA; only violations are reported back.
WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING = ("serious", "critical")


def violations(page: Page) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA violations that axe-core finds on the page as it is
    now, one line each: rule, impact, element, why."""
    from axe_playwright_python.sync_playwright import Axe

    # Colours are measured as drawn: let transitions (Material fades search results in) end.
    page.wait_for_function(
        "() => document.getAnimations().every(a => a.playState !== 'running')", timeout=10_000
    )
    found = Axe().run(page, options=WCAG_21_AA).response["violations"]
    return [
        f"{rule['id']} ({rule['impact']}) {' '.join(map(str, node['target']))}: "
        + "; ".join(check["message"] for check in node["any"] + node["all"] + node["none"])
        for rule in found
        if rule["impact"] in BLOCKING
        for node in rule["nodes"]
    ]
