"""``serve``: a real preview server in its own process, edited while it runs."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO, free_port, wait_for
from idp import entra_metadata

from tenantdocs import sitebuild, templates
from tenantdocs.errors import Location, TemplateError
from tenantdocs.pipeline import Project, Selection, build
from tenantdocs.serve import Preview, _PathTexts
from tenantdocs.sitebuild import LiveSite, NavItem, SitePlan, build_site
from tenantdocs.skeleton import sentinel
from tenantdocs.templates import ScanCache, load_templates


def fetch(url: str) -> str:
    """The page at ``url``, or "" while the server does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, ConnectionError):
        return ""


class Output:
    """Lines a server process prints, collected by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        """Whether some line printed so far contains ``text``."""
        return any(text in line for line in list(self.lines))

    def join(self) -> str:
        """Everything printed, once the process has ended."""
        self._thread.join(timeout=10)
        return "\n".join(self.lines)


Server = tuple[str, Path, subprocess.Popen[str], Output]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "build.py"),
            "serve",
            "--tenant",
            "contoso",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: "Litware CRM" in fetch(f"{base}/contoso/litware-crm/index.html"))
        yield base, tmp_path, process, output
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        output.join()
        process.stdout.close()
    # Stopped (SIGTERM), the server removed its preview folder (Jinja's cache of the theme's
    # compiled templates is the user's, kept as ``build`` keeps it).
    left = [p.name for p in (tmp_path / "tmp").iterdir()]
    assert [name for name in left if not name.startswith("_jinja2-cache-")] == []


def test_serve_rebuilds_on_edits_and_survives_a_broken_template(
    server: Server,
) -> None:
    base, root, process, output = server
    guide_url = f"{base}/contoso/litware-crm/index.html"
    home_url = f"{base}/contoso/index.html"

    tenant = root / "tenants" / "contoso.yml"
    tenant.write_text(tenant.read_text().replace("name: Contoso Ltd", "name: Contoso Group"))
    assert wait_for(lambda: "Contoso Group" in fetch(home_url))

    guide = root / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text().replace("### Configure", "### Set up", 1))
    assert wait_for(lambda: "Set up Litware CRM" in fetch(guide_url))
    # One guide edited: only its page was converted and rendered again.
    assert wait_for(lambda: output.has("preview: contoso built (6 pages, 1 page changed,"))

    shared = root / "templates" / "_" / "sso_suffix.md"
    shared.write_text(shared.read_text() + "\nShared closing words.\n")
    assert wait_for(lambda: "Shared closing words." in fetch(guide_url))
    # The page viewed (asked for) comes first, the others when the rebuild ends.
    travel_url = f"{base}/contoso/tailspin-travel/index.html"
    assert wait_for(lambda: "Shared closing words." in fetch(travel_url))
    assert wait_for(lambda: output.has("2 viewed pages shown first"))  # the home, the guide

    guide.write_text(guide.read_text() + "\nBroken: %metadata:IssuerUrl%\n")
    unknown = "unknown key 'IssuerUrl' in %metadata:IssuerUrl% (did you mean 'IssuerUri'?)"
    assert wait_for(lambda: output.has(unknown)), "the watcher rebuilt and reported the error"
    assert process.poll() is None, "the server must survive a broken template"
    assert "Set up Litware CRM" in fetch(guide_url), "the last good page stays served"
    assert "Broken:" not in fetch(guide_url)

    guide.write_text(guide.read_text().replace("%metadata:IssuerUrl%", "%metadata:IssuerUri%"))
    assert wait_for(lambda: "Broken:" in fetch(guide_url))
    assert "IssuerUrl" not in fetch(guide_url)

    metadata = root / "tenants" / "contoso" / "litware-crm.xml"
    metadata.write_text(
        metadata.read_text().replace(
            "https://login.microsoftonline.com/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2",
            "https://login.microsoftonline.com/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2/new",
        )
    )
    assert wait_for(lambda: "saml2/new" in fetch(guide_url))


def test_serve_switches_tenants_without_a_restart(
    server: Server,
) -> None:
    base, _, _, _ = server
    directory = fetch(f"{base}/")
    assert 'href="contoso/index.html"' in directory and 'href="fabrikam/index.html"' in directory
    page = fetch(f"{base}/fabrikam/litware-crm/index.html")
    assert "https://idp.fabrikam.example/realms/fabrikam/protocol/saml" in page
    assert "livereload" in page  # pages reload themselves on the next change


# --- what the preview reuses gives the pages a full build gives -------------------------


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Previews made in this process keep their folders under the test's own folder."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))


def site_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Checked:
    """A preview of one tenant in this process, compared with a fresh ``build`` after edits."""

    def __init__(self, root: Path, slug: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.slug = slug
        self.capsys = capsys
        self.project = Project(root / "templates", root / "tenants", root / "site", root / ".c")
        self.preview = Preview(self.project, slug)
        self.builds = 0

    def rebuild(self, show: Callable[[], None] | None = None) -> str:
        """Rebuild the preview; return what it printed."""
        self.capsys.readouterr()
        self.preview.rebuild(show)
        captured = self.capsys.readouterr()
        return captured.out + captured.err

    def assert_as_built(self) -> None:
        """The preview's site is byte for byte what a fresh build of the same inputs gives."""
        self.builds += 1
        fresh = replace(self.project, site=self.root / f"fresh-{self.builds}")
        result = build(fresh, Selection(slugs=(self.slug,), jobs=1))
        assert [t.status for t in result.tenants] == ["built"]
        ours = site_files(self.preview.root / self.slug)
        theirs = site_files(fresh.site / self.slug)
        assert sorted(ours) == sorted(theirs)
        assert [p for p in sorted(ours) if ours[p] != theirs[p]] == []


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("files", ["just written", "settled"])
def test_every_kind_of_edit_gives_the_site_a_full_build_gives(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, files: str
) -> None:
    if files == "settled":  # app folders whose files did not change are not read again
        settled(monkeypatch)
    checked = Checked(project, "contoso", capsys)
    assert "full build" in checked.rebuild()
    checked.assert_as_built()

    # A guide: a new section (new search entries) on one page, converted alone.
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    edit(guide, "### Configure", "## A new section\n\nNew words here.\n\n### Configure")
    assert "(6 pages, 1 page changed," in checked.rebuild()
    checked.assert_as_built()

    # A shared part: every page that uses it, here all guides, which is most of the site:
    # built whole (as fast, and swapped in at once).
    shared = project / "templates" / "_" / "sso_suffix.md"
    shared.write_text(shared.read_text() + "\n## Shared heading\n\nShared words.\n")
    assert "(6 pages, full build," in checked.rebuild()
    checked.assert_as_built()

    # A metadata file, its sign-out URL (until now the sign-on URL's equal): the pages of
    # the two apps that use it filled in (each value stood as its own sentinel), the home
    # converted again (its quick reference now tells the two apart) and each app's
    # published copy of the file.
    metadata = project / "tenants" / "contoso" / "litware-crm.xml"
    edit(metadata, "55ff55ff55ff/saml2", "55ff55ff55ff/saml2/new")
    assert "(6 pages, 1 page and 2 files changed, 2 pages filled in" in checked.rebuild()
    checked.assert_as_built()
    # And equal again: still one sentinel each, filled in.
    edit(metadata, "55ff55ff55ff/saml2/new", "55ff55ff55ff/saml2")
    assert "(6 pages, 1 page and 2 files changed, 2 pages filled in" in checked.rebuild()
    checked.assert_as_built()

    # A tenant-wide value in the tenant file.
    tenant = project / "tenants" / "contoso.yml"
    edit(tenant, "ChangePassword.aspx", "ChangePassword.aspx?edited=1")
    # Only plain values changed: the kept skeleton filled in again, no MkDocs run.
    assert "(6 pages, 2 pages filled in with new values," in checked.rebuild()
    checked.assert_as_built()

    # A line added on top of the tenant file: every value from it moves down a line, as
    # the provenance panel of the page that shows one says (tenants/contoso.yml:14); each
    # place is a value of its own, filled in.
    tenant.write_text("# Contoso's tenant file\n" + tenant.read_text())
    assert "(6 pages, 1 page filled in with new values," in checked.rebuild()
    checked.assert_as_built()

    # The tenant's name (on every page, in the navigation and the site name): filled in.
    edit(tenant, "name: Contoso Ltd", "name: Contoso Renamed Ltd")
    assert "(6 pages, 7 pages filled in with new values," in checked.rebuild()
    checked.assert_as_built()

    # A value that is not plain (an ampersand is escaped on the way to the page): its
    # pages are rebuilt by MkDocs, never filled in.
    edit(tenant, "ChangePassword.aspx?edited=1", "ChangePassword.aspx?a=1&b=2")
    out = checked.rebuild()
    assert "filled in" not in out and "changed," in out
    checked.assert_as_built()

    # A title, shown in the navigation of every page: it is also the app's name value, so
    # its guide is converted again (the heading) and every other page filled in.
    edit(project / "templates" / "litware-crm" / "app.yml", "Litware CRM", "Litware CRM Online")
    assert "(6 pages, 1 page changed, 6 pages filled in with new values," in checked.rebuild()
    checked.assert_as_built()

    # A broken edit: nothing is written, the last good site stays.
    before = site_files(checked.preview.root / "contoso")
    edit(guide, "New words here.", "New words here. %metadata:IssuerUrl%")
    assert "not rebuilt; the last good pages stay served" in checked.rebuild()
    assert site_files(checked.preview.root / "contoso") == before

    # Mended: the page the last good site had, rebuilt on its own again.
    edit(guide, " %metadata:IssuerUrl%", "")
    assert "(6 pages, nothing changed," in checked.rebuild()
    edit(guide, "New words here.", "Other words here.")
    assert "(6 pages, 1 page changed," in checked.rebuild()
    checked.assert_as_built()


def test_a_theme_override_edit_rebuilds_the_site(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = project / "templates" / "overrides"
    overrides.mkdir()
    (overrides / "main.html").write_text(
        '{% extends "base.html" %}{% block announce %}Override one{% endblock %}'
    )
    config = project / "templates" / "mkdocs.yml"
    edit(config, "  name: material\n", "  name: material\n  custom_dir: overrides\n")
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    page = checked.preview.root / "contoso" / "litware-crm" / "index.html"
    assert "Override one" in page.read_text()
    (overrides / "main.html").write_text(
        '{% extends "base.html" %}{% block announce %}Override two{% endblock %}'
    )
    assert "full build" in checked.rebuild()
    assert "Override two" in page.read_text()
    checked.assert_as_built()


def test_a_plugin_that_is_not_search_always_gets_full_builds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plugin may show one page's content on others (tags, blog): a dirty build of one
    # page would leave the others stale.
    config = project / "templates" / "mkdocs.yml"
    config.write_text(config.read_text() + "plugins:\n  - search\n  - tags\n")
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    edit(project / "templates" / "litware-crm" / "sso_configure.md", "### Configure", "### Set up")
    assert "(6 pages, full build," in checked.rebuild()
    checked.assert_as_built()


CORPUS = REPO.parent / "shared" / "corpus" / "azure-sso-tutorials"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_real_guides_after_edits_give_the_site_a_full_build_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Full builds spread their pages over a forked copy of the process, as large ones do.
    monkeypatch.setattr(sitebuild, "SPREAD_PAGES", 10)
    shutil.copytree(CORPUS, tmp_path / "templates")
    (tmp_path / "tenants").mkdir()
    tid = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
    xml = entra_metadata(tid)
    (tmp_path / "tenants" / "idp.xml").write_bytes(xml)
    (tmp_path / "tenants" / "acme.yml").write_text(
        f"name: Acme\ntenant_id: {tid}\nmetadata_file: idp.xml\n"
    )
    checked = Checked(tmp_path, "acme", capsys)
    assert "full build" in checked.rebuild()
    converted, rendered = checked.preview._kept["acme"].site.spread_pages
    assert converted > 0 and rendered > 0
    checked.assert_as_built()
    guides = sorted((tmp_path / "templates").glob("servicenow*/sso_configure.md"))
    for guide in guides:  # real quirks: tabs, alerts, lists run into paragraphs
        guide.write_text(guide.read_text(encoding="utf-8") + "\n## Added\n\nAdded words.\n")
    assert f"pages, {len(guides)} pages changed," in checked.rebuild()
    # An image beside a guide: a new file (the site's files change), then new bytes.
    image = tmp_path / "templates" / "arcgis" / "media" / "step.png"
    image.parent.mkdir()
    image.write_bytes(b"\x89PNG\r\n\x1a\n one")
    assert "full build" in checked.rebuild()
    image.write_bytes(b"\x89PNG\r\n\x1a\n two")
    assert "pages, 1 file changed," in checked.rebuild()
    checked.assert_as_built()


CODE = "\n```bash\ncurl %metadata:singleSignOnServiceUrl%\n```\n"
"""A value in highlighted code that a lexer does not keep as one string token."""


def test_values_are_filled_in_only_where_that_is_exact(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    tenant = project / "tenants" / "contoso.yml"
    checked = Checked(project, "contoso", capsys)
    assert "full build," in checked.rebuild()
    # A value in highlighted code, on a page MkDocs converts again: that page could not be
    # filled in exactly, so the site is built with its values from then on.
    guide.write_text(guide.read_text(encoding="utf-8") + CODE)
    out = checked.rebuild()
    assert "full build; not filled in: a sentinel stands outside a string in highlighted" in out
    checked.assert_as_built()
    edit(tenant, "ChangePassword.aspx", "ChangePassword.aspx?plain=1")
    out = checked.rebuild()
    assert "changed," in out and "filled in" not in out
    checked.assert_as_built()


def test_a_guide_that_compares_its_values_itself_is_served_as_built(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rendered from marked values, this guide reads otherwise (the marks make the two URLs
    # differ): it gets its form by text, and every edit still gives the page a build gives.
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(
        "{# tenantdocs: jinja #}\n"
        + guide.read_text(encoding="utf-8")
        + "\n{% if metadata.singleSignOutServiceUrl == metadata.singleSignOnServiceUrl %}"
        "One URL for both.{% else %}Two URLs.{% endif %}\n"
    )
    checked = Checked(project, "contoso", capsys)
    assert "full build" in checked.rebuild()
    checked.assert_as_built()
    page = checked.preview.root / "contoso" / "litware-crm" / "index.html"
    assert "One URL for both." in page.read_text(encoding="utf-8")
    metadata = project / "tenants" / "contoso" / "litware-crm.xml"
    edit(metadata, "55ff55ff55ff/saml2", "55ff55ff55ff/saml2/new")
    assert "changed" in checked.rebuild()
    assert "Two URLs." in page.read_text(encoding="utf-8")
    checked.assert_as_built()


def test_a_guide_that_holds_a_sentinel_is_never_filled_in(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text(encoding="utf-8") + f"\nCode {sentinel('tenant:name')}\n")
    checked = Checked(project, "contoso", capsys)
    assert "full build," in checked.rebuild()
    checked.assert_as_built()


def test_a_skeleton_that_cannot_be_filled_in_is_built_with_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text(encoding="utf-8") + CODE)
    checked = Checked(project, "contoso", capsys)
    out = checked.rebuild()
    assert "full build; not filled in: a sentinel stands outside a string in highlighted" in out
    checked.assert_as_built()


def test_a_skeleton_mkdocs_warned_about_is_built_again_for_new_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text(encoding="utf-8") + "\nSee [the notes](#no-notes).\n")
    config = project / "templates" / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8") + "validation:\n  anchors: warn\n")
    tenant = project / "tenants" / "contoso.yml"
    checked = Checked(project, "contoso", capsys)
    assert "#no-notes" in checked.rebuild()  # MkDocs warns: no such anchor
    edit(tenant, "ChangePassword.aspx", "ChangePassword.aspx?warned=1")
    out = checked.rebuild()
    assert "full build; not filled in: MkDocs warned on the last build" in out
    assert "#no-notes" in out  # said again, as a build would
    checked.assert_as_built()


# --- the pages a writer looks at come first ---------------------------------------------

WINGTIP = """  wingtip-tickets:
    app_id: c4b81f7d-2e6a-4d90-8a13-6f5e2b9c0d33
    metadata_file: contoso/wingtip-tickets.xml
"""


def test_a_long_rebuild_shows_the_pages_viewed_first(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    site = checked.preview.root / "contoso"
    checked.preview.requested("contoso/litware-crm/index.html")
    checked.preview.requested("contoso/litware-crm/signing-certificate.cer")  # not a page
    checked.preview.requested("contoso/search/search_index.json")  # not a page either
    before = site_files(site)
    seen: list[dict[str, bytes]] = []

    # An app less: the navigation of every page changes, a full build.
    tenant = project / "tenants" / "contoso.yml"
    edit(tenant, WINGTIP, "")
    out = checked.rebuild(lambda: seen.append(site_files(site)))
    assert "(5 pages, full build; 1 viewed page shown first," in out
    after = site_files(site)
    [early] = seen
    viewed, other = "litware-crm/index.html", "tailspin-travel/index.html"
    assert before[viewed] != early[viewed] == after[viewed]
    assert before[other] == early[other] != after[other]  # the rest followed at the end
    assert "wingtip-tickets/index.html" in early  # removed with the rest, not before
    checked.assert_as_built()

    # Values only (filled in without MkDocs, as fast): nothing is shown first, also when
    # the value is the site's name, in every page's navigation.
    edit(tenant, "ChangePassword.aspx", "ChangePassword.aspx?edited=1")
    assert "shown first" not in checked.rebuild(lambda: seen.append({}))
    edit(tenant, "name: Contoso Ltd", "name: Contoso Renamed Ltd")
    assert "(5 pages, 6 pages filled in with new values," in checked.rebuild(
        lambda: seen.append({})
    )
    # Most guides edited (a shared part): MkDocs renders every page, the viewed one first.
    shared = project / "templates" / "_" / "sso_suffix.md"
    shared.write_text(shared.read_text() + "\nShared words.\n")
    out = checked.rebuild(lambda: seen.append(site_files(site)))
    assert "full build; 1 viewed page shown first," in out
    assert len(seen) == 2 and b"Shared words." in seen[1][viewed]
    assert b"Shared words." not in seen[1][other]
    checked.assert_as_built()
    # One guide edited: that page alone is rebuilt, nothing to show first.
    edit(project / "templates" / "litware-crm" / "sso_configure.md", "### Configure", "### Set")
    out = checked.rebuild(lambda: seen.append({}))
    assert "(5 pages, 1 page changed," in out and len(seen) == 2


def test_the_pages_viewed_of_every_tenant_come_before_any_rebuild(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    preview = checked.preview
    preview.requested("fabrikam/litware-crm/index.html")  # previewed from now on too
    preview.requested("contoso/litware-crm/index.html")
    sites = {slug: preview.root / slug for slug in ("contoso", "fabrikam")}
    seen: list[dict[str, dict[str, bytes]]] = []
    shared = project / "templates" / "_" / "sso_suffix.md"
    shared.write_text(shared.read_text() + "\nShared words.\n")
    out = checked.rebuild(lambda: seen.append({s: site_files(d) for s, d in sites.items()}))
    assert out.count("full build; 1 viewed page shown first,") == 2
    [early] = seen  # both tenants' pages at once, before either site was rebuilt
    for slug in sites:
        assert b"Shared words." in early[slug]["litware-crm/index.html"]
        assert b"Shared words." not in early[slug]["tailspin-travel/index.html"]
        assert b"Shared words." in (sites[slug] / "tailspin-travel" / "index.html").read_bytes()
    checked.assert_as_built()


def test_pages_shown_first_are_never_written_over_in_place(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tenant of the three apps whose guides show the app's sign-in URL example.
    contoso = (project / "tenants" / "contoso.yml").read_text()
    tailspin = contoso.index("  tailspin-travel:")
    fourth = contoso.index("  fourth-coffee-portal:")
    trio = contoso[:tailspin] + contoso[contoso.index(WINGTIP) : fourth]
    (project / "tenants" / "trio.yml").write_text(trio)
    checked = Checked(project, "trio", capsys)
    checked.rebuild()
    checked.preview.requested("trio/litware-crm/index.html")
    seen: list[dict[str, bytes]] = []
    # Every app's example edited: values only, which would be filled in over the served
    # pages; but the pages viewed were shown first and requests are answered meanwhile (one
    # could read a page half written), so the rest is built anew and swapped in.
    trio_apps = ("adventure-works-learning", "litware-crm", "wingtip-tickets")
    for app in trio_apps:
        edit(project / "templates" / app / "app.yml", "yourcompany", "yourorg")
    out = checked.rebuild(lambda: seen.append({}))
    assert "(4 pages, full build; 1 viewed page shown first," in out and len(seen) == 1
    checked.assert_as_built()
    # Not shown first (no show function, as for a rebuild outside the server): filled in.
    for app in trio_apps:
        edit(project / "templates" / app / "app.yml", "yourorg", "yourteam")
    assert "(4 pages, 3 pages filled in with new values," in checked.rebuild()
    checked.assert_as_built()
    # Every app's files edited, but one page changed: filled in, nothing shown first.
    for app in trio_apps[:2]:  # a default for a key their guides do not show
        path = project / "templates" / app / "app.yml"
        path.write_text(path.read_text() + "  changePasswordUrl: https://example.com/pw\n")
    edit(project / "templates" / trio_apps[2] / "app.yml", "yourteam", "yourorg")
    out = checked.rebuild(lambda: seen.append({}))
    assert "(4 pages, 1 page filled in with new values," in out and len(seen) == 1
    checked.assert_as_built()


def test_pages_shown_first_go_back_when_the_rebuild_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Strict, with absolute links warned about: a page with one fails the whole build, but
    # not the viewed page rendered alone, which is shown first and then taken back.
    config = project / "templates" / "mkdocs.yml"
    strict = "strict: true\nvalidation:\n  links:\n    absolute_links: warn\n"
    config.write_text(config.read_text(encoding="utf-8") + strict)
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    site = checked.preview.root / "contoso"
    checked.preview.requested("contoso/litware-crm/index.html")
    before = site_files(site)
    seen: list[dict[str, bytes]] = []
    edit(project / "tenants" / "contoso.yml", WINGTIP, "")
    guide = project / "templates" / "tailspin-travel" / "sso_configure.md"
    guide.write_text(guide.read_text() + "\nSee [the portal](/portal/page).\n")
    out = checked.rebuild(lambda: seen.append(site_files(site)))
    assert out.splitlines() == [
        "templates/tailspin-travel/sso_configure.md: error: MkDocs: Doc file"
        " 'tailspin-travel/index.md' contains an absolute link '/portal/page', it was left as is.",
        "templates/mkdocs.yml: error: MkDocs: Aborted with 1 warnings in strict mode!",
        "preview: not rebuilt; the last good pages stay served",
    ]
    assert len(seen) == 2  # shown, then shown again as it was
    assert seen[0]["litware-crm/index.html"] != before["litware-crm/index.html"]
    assert seen[1] == before == site_files(site)


def test_strict_mode_holds_in_the_preview_as_in_a_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # MkDocs counts its own notice of a dirty build as a warning: in strict mode every
    # page-by-page rebuild stopped on it. Now only the edit's own warnings stop one.
    config = project / "templates" / "mkdocs.yml"
    config.write_text(config.read_text(encoding="utf-8") + "strict: true\n")
    checked = Checked(project, "contoso", capsys)
    checked.rebuild()
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    edit(guide, "### Configure", "### Set up")
    assert "(6 pages, 1 page changed," in checked.rebuild()
    checked.assert_as_built()
    edit(config, "strict: true", "strict: true\nvalidation:\n  anchors: warn")
    checked.rebuild()
    edit(guide, "### Set up", "[Nowhere](#nowhere)\n\n### Set up")
    out = checked.rebuild()
    assert "contains a link '#nowhere', but there is no such anchor on this page" in out
    assert "Aborted with 1 warnings in strict mode!" in out
    assert "not rebuilt; the last good pages stay served" in out


def test_pages_shown_now_are_served_while_the_rebuild_goes_on(tmp_path: Path) -> None:
    from mkdocs.livereload import LiveReloadServer

    (tmp_path / "index.html").write_text("<html><body>new</body></html>")
    port = free_port()
    server = LiveReloadServer(builder=lambda: None, host="127.0.0.1", port=port, root=str(tmp_path))
    server.server_bind()
    server.server_activate()
    server.serve_thread.start()
    answered: list[str] = []
    polled: list[str] = []
    try:
        shown = server._visible_epoch  # what a page served until now knows
        with server._epoch_cond:  # a rebuild starts, as MkDocs' build loop starts one
            server._wanted_epoch = server._visible_epoch + 1
        asking = threading.Thread(
            target=lambda: answered.append(fetch(f"http://127.0.0.1:{port}/index.html"))
        )
        # An open page asks whether to reload; answered once there is a newer version.
        polling = threading.Thread(
            target=lambda: polled.append(fetch(f"http://127.0.0.1:{port}/livereload/{shown}/1"))
        )
        asking.start()
        polling.start()
        asking.join(timeout=0.5)
        assert answered == [] and polled == []  # MkDocs holds both while a rebuild runs
        sitebuild._show_now(server)
        asking.join(timeout=5)
        polling.join(timeout=5)
        assert len(answered) == 1 and "new" in answered[0]
        assert len(polled) == 1 and int(polled[0]) > shown  # so the page reloads
    finally:
        server.shutdown()
        server.serve_thread.join(timeout=5)


def test_pages_are_rendered_alone_as_a_full_build_renders_them(tmp_path: Path) -> None:
    pages = {
        "index.md": "# Home\n\n[App](app/index.md)\n",
        "app/index.md": "# App\n\n## Steps\n\n[file](file.bin) and [home](../index.md)\n",
        "other/index.md": "# Other\n",
    }
    apps: list[NavItem] = [{"App": "app/index.md"}, {"Other": "other/index.md"}]
    nav: list[NavItem] = [{"Home": "index.md"}, {"Apps": apps}]

    def plan(config: Path, name: str) -> SitePlan:
        sources = {"": Location(tmp_path / "tenants" / "acme.yml")}
        return SitePlan(name, pages, {"app/file.bin": b"1"}, nav, config, sources)

    def live_site(plugins: str) -> tuple[LiveSite, Path]:
        config = tmp_path / f"{plugins}.yml"
        config.write_text(f"theme:\n  name: material\nplugins: [{plugins}]\n")
        live = LiveSite(tmp_path / f"live-{plugins}")
        live.build(plan(config, "Acme"), tmp_path / f"site-{plugins}")
        return live, config

    live, config = live_site("search")
    alone = live.render_pages(plan(config, "Acme Renamed"), ["app/index.html", "gone/index.html"])
    build_site(plan(config, "Acme Renamed"), tmp_path / "work", tmp_path / "reference")
    assert list(alone) == ["app/index.html"]
    assert alone["app/index.html"] == (tmp_path / "reference" / "app" / "index.html").read_bytes()
    assert b"Acme Renamed" in alone["app/index.html"]
    # A plugin that may read every page (tags lists them): never rendered alone.
    live, config = live_site("search, tags")
    assert live.render_pages(plan(config, "Acme Renamed"), ["app/index.html"]) == {}


def test_files_mkdocs_copies_are_copied_without_a_run_only_where_it_copied_them(
    tmp_path: Path,
) -> None:
    # Defence: LiveSite.update writes a changed file itself, without a MkDocs run, only
    # when no page changed and MkDocs copied that file before: a file MkDocs leaves out
    # (its default exclude_docs has /templates/) stays out, as in a full build.
    def plan(data: bytes) -> SitePlan:
        return SitePlan(
            "Acme",
            {"index.md": "# Home\n", "app/index.md": "# App\n\n[file](file.bin)\n"},
            {"app/file.bin": data, "templates/left-out.bin": data},
            [{"Home": "index.md"}, {"App": "app/index.md"}],
            None,
            {"": Location(tmp_path / "tenants" / "acme.yml")},
        )

    live = LiveSite(tmp_path / "live")
    site = tmp_path / "site"
    live.build(plan(b"one"), site)
    assert not (site / "templates" / "left-out.bin").exists()
    assert live.can_update(plan(b"two"))
    changed, _ = live.update(plan(b"two"), site)
    assert sorted(changed) == ["app/file.bin", "templates/left-out.bin"]
    build_site(plan(b"two"), tmp_path / "work", tmp_path / "reference")
    assert site_files(site) == site_files(tmp_path / "reference")


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_filling_in_the_served_site_never_writes_through_a_link(tmp_path: Path, link: str) -> None:
    """A served file of its own is rewritten in place (a new file costs a new inode on
    every edit); one linked from elsewhere is replaced (take out the check and the other
    file gets the tenant's value); one the skeleton no longer has is removed."""
    from tenantdocs.serve import _Filled

    mark = sentinel("tenant:name")
    skeleton, served = tmp_path / "skeleton", tmp_path / "served"
    skeleton.mkdir()
    served.mkdir()
    (skeleton / "linked.html").write_text(f"<h1>{mark}</h1>")
    (skeleton / "own.html").write_text(f"<p>{mark}</p>")
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("kept")
    if link == "hard":
        (served / "linked.html").hardlink_to(elsewhere)
    else:
        (served / "linked.html").symlink_to(elsewhere)
    (served / "own.html").write_text("old")
    (served / "gone.html").write_text("old")
    with (served / "own.html").open() as own:  # the file itself, whatever its name leads to
        _Filled(skeleton, {mark: "Contoso Ltd"}, True).refill(
            served, ["gone.html", "linked.html", "own.html"]
        )
        assert own.read() == "<p>Contoso Ltd</p>"
    assert (served / "linked.html").read_text() == "<h1>Contoso Ltd</h1>"
    assert elsewhere.read_text() == "kept"
    assert not (served / "gone.html").exists()


# --- a rebuild reads again only the app folders that changed --------------------------------


def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file's last change, as the next loads see it, a minute ago."""
    monkeypatch.setattr(templates, "_now_ns", lambda: time.time_ns() + 60 * 10**9)


def test_a_rebuild_reads_again_only_the_app_folders_that_changed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project / "templates"
    settled(monkeypatch)
    # A guide that is a link to a file elsewhere in the templates.
    (root / "_" / "linked.md").write_text("# Linked\n\nOld words.\n", encoding="utf-8")
    linked = root / "litware-crm" / "sso_configure.md"
    linked.unlink()
    linked.symlink_to(root / "_" / "linked.md")
    cache = ScanCache()
    first = load_templates(root, cache)
    apps = sorted(first.apps)
    assert len(apps) >= 3 and "litware-crm" in apps
    same = load_templates(root, cache)
    assert all(same.apps[name] is first.apps[name] for name in apps)

    # Rewritten with the same size and modification time: only its change time shows.
    edited = next(name for name in apps if name != "litware-crm")
    rewritten = root / edited / "sso_configure.md"
    text, before = rewritten.read_text(encoding="utf-8"), rewritten.stat()
    assert "e" in text
    rewritten.write_text(text.replace("e", "E", 1), encoding="utf-8")
    os.utime(rewritten, ns=(before.st_atime_ns, before.st_mtime_ns))
    # What the link leads to is edited; the link itself is not.
    (root / "_" / "linked.md").write_text("# Linked\n\nNew words.\n", encoding="utf-8")

    after = load_templates(root, cache)
    guide = after.apps[edited].guide
    assert guide is not None and guide.text == text.replace("e", "E", 1)
    linked_guide = after.apps["litware-crm"].guide
    assert linked_guide is not None and "New words." in linked_guide.text
    unchanged = [n for n in apps if n not in (edited, "litware-crm")]
    assert unchanged and all(after.apps[n] is first.apps[n] for n in unchanged)


def test_a_folder_changed_just_before_it_was_read_is_read_again(project: Path) -> None:
    # Written a moment ago: a file written again within the same tick of the clock, with
    # the same size, would look unchanged, so nothing is taken from the last load.
    root = project / "templates"
    cache = ScanCache()
    first = load_templates(root, cache)
    again = load_templates(root, cache)
    assert all(again.apps[name] is not first.apps[name] for name in first.apps)


def test_a_kept_app_folder_whose_guide_now_leads_outside_is_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project / "templates"
    settled(monkeypatch)
    cache = ScanCache()
    load_templates(root, cache)
    outside = project / "secret.md"
    outside.write_text("# Not for publishing\n", encoding="utf-8")
    guide = root / "litware-crm" / "sso_configure.md"
    guide.unlink()
    guide.symlink_to(outside)
    with pytest.raises(TemplateError, match="symbolic link to outside the templates folder"):
        load_templates(root, cache)


def test_the_texts_of_docs_paths_are_asked_as_listing_them_all_would_answer() -> None:
    """A value is kept out of the sentinels when it is part of a docs path: asked text by
    text, the answer is what the set of every part of every path gives (random paths and
    texts, a text spanning two paths, an empty one)."""
    rng = random.Random(7)
    alphabet = "ab-/.\n"
    for _ in range(300):
        paths = tuple(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            for _ in range(rng.randint(0, 4))
        )
        every = {p[i:j] for p in paths for i in range(len(p)) for j in range(i + 1, len(p) + 1)}
        joined = "\n".join(paths)
        asked = [joined, "", "x", *every]
        asked += [
            joined[i:j] for i in range(len(joined)) for j in range(i, min(len(joined), i + 6))
        ]
        texts = _PathTexts(paths)
        assert [t in texts for t in asked] == [t in every for t in asked]
        assert [t in texts for t in asked] == [t in every for t in asked]  # remembered alike
