"""End to end: real MkDocs builds of the samples, the seed guide and the corpus of real guides."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tenantdocs import publish
from tenantdocs.certificates import load_certificate
from tenantdocs.cli import main
from tenantdocs.rewrite import rewrite_markdown

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "azure-sso-tutorials"
SEED = SHARED / "seed" / "citrix-gotomeeting-sso_configure.md"
CONTOSO_TID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"


def run(*args: str) -> int:
    return main(["build", "--jobs", "1", *args])


def tree_digest(root: Path) -> dict[str, str]:
    """Every published file under ``root`` with its SHA-256 (the tool's state folder aside)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tenantdocs" not in p.relative_to(root).parts
    }


class _Refs(HTMLParser):
    """Collects the URLs a page loads (scripts, styles, images, icons) and links to."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img", "source", "iframe") and found.get("src"):
            self.loads.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.loads.append(str(found["href"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))


def refs(page: Path) -> _Refs:
    parser = _Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def article_text(page: Path) -> str:
    html = page.read_text(encoding="utf-8")
    return html[html.index("<article") : html.index("</article>")]


# --- the samples ------------------------------------------------------------------------


def test_samples_build_into_one_site_per_tenant(project: Path) -> None:
    assert run() == 0
    site = project / "site"
    directory = (site / "index.html").read_text(encoding="utf-8")
    assert "Contoso Ltd" in directory and "Fabrikam Inc" in directory
    assert 'href="contoso/litware-crm/index.html"' in directory

    guide = site / "contoso" / "litware-crm" / "index.html"
    text = article_text(guide)
    assert text.count("<h1") == 1 and '<h1 id="guide">Litware CRM</h1>' in text
    assert f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2" in text
    assert f"https://sts.windows.net/{CONTOSO_TID}/" in text
    fabrikam = article_text(site / "fabrikam" / "litware-crm" / "index.html")
    assert "https://idp.fabrikam.example/realms/fabrikam/protocol/saml" in fabrikam

    home = article_text(site / "contoso" / "index.html")
    for title in ("Litware CRM", "Tailspin Travel", "Wingtip Tickets", "Fourth Coffee Portal"):
        assert title in home
    # The app without a guide of its own gets the shared fallback guide.
    assert (site / "contoso" / "fourth-coffee-portal" / "index.html").is_file()


def test_certificate_and_metadata_links_download_the_right_bytes(project: Path) -> None:
    assert run() == 0
    xml_path = project / "tenants" / "contoso" / "litware-crm.xml"
    xml = xml_path.read_bytes()
    body = re.search(rb"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", xml)
    assert body is not None
    expected = load_certificate(body.group(1).decode())

    guide = project / "site" / "contoso" / "litware-crm" / "index.html"
    links = refs(guide).links
    cert_links = [link for link in links if link.endswith(".cer")]
    assert cert_links, links
    for link in cert_links:
        downloaded = (guide.parent / link).read_bytes()
        if downloaded.startswith(b"-----BEGIN CERTIFICATE-----"):
            assert (
                load_certificate(b"".join(downloaded.splitlines()[1:-1]).decode()).der
                == expected.der
            )
        else:
            assert downloaded == expected.der
    wingtip = project / "site" / "contoso" / "wingtip-tickets" / "index.html"
    metadata_links = [link for link in refs(wingtip).links if link.endswith(".xml")]
    assert metadata_links
    source = (project / "tenants" / "contoso" / "wingtip-tickets.xml").read_bytes()
    assert (wingtip.parent / metadata_links[0]).read_bytes() == source


def test_no_page_has_an_unresolved_placeholder_or_loads_from_another_host(project: Path) -> None:
    assert run() == 0
    pages = sorted((project / "site").rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "%metadata:" not in html, page
        for url in refs(page).loads:
            assert not re.match(r"(https?:)?//", url), (page, url)
    index = (project / "site" / "contoso" / "search" / "search_index.json").read_text()
    assert "%metadata:" not in index
    assert f"{CONTOSO_TID}/saml2" in index


def test_same_inputs_give_byte_identical_sites(project: Path) -> None:
    assert run("--site", "one") == 0
    assert run("--site", "two") == 0
    one, two = tree_digest(project / "one"), tree_digest(project / "two")
    assert len(one) > 20
    assert one == two


def test_unchanged_tenants_are_skipped_and_changed_ones_rebuilt(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run() == 0
    capsys.readouterr()
    assert run("--report", "report.json") == 0
    statuses = {
        t["slug"]: t["status"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert statuses == {"contoso": "unchanged", "fabrikam": "unchanged"}

    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text().replace("Fabrikam Inc", "Fabrikam Group"))
    assert run("--report", "report.json") == 0
    report = json.loads(Path("report.json").read_text())
    by_slug = {t["slug"]: t for t in report["tenants"]}
    assert by_slug["contoso"]["status"] == "unchanged"
    assert by_slug["fabrikam"]["status"] == "built"
    assert "page index.md" in by_slug["fabrikam"]["reason"]
    assert "Fabrikam Group" in (project / "site" / "fabrikam" / "index.html").read_text()

    assert run("--force", "--report", "report.json") == 0
    report = json.loads(Path("report.json").read_text())
    assert [t["status"] for t in report["tenants"]] == ["built", "built"]


def test_a_tenant_published_by_another_build_before_the_lock_is_judged_again(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: build() reads every published manifest before taking the site lock (to know
    # which guides to check) and trusts that read inside the lock only while the tenant's
    # published stamp is unchanged. Here another build publishes fabrikam from other inputs
    # in between (simulated where the lock is taken): fabrikam must be rebuilt.
    assert run() == 0
    recover = publish.recover

    def another_build_ended(site: Path) -> list[str]:
        recorded = publish.read_manifest(site, "fabrikam")[0]
        assert recorded is not None
        publish.write_manifest(site, "fabrikam", replace(recorded, inputs="other", digests={}))
        return recover(site)

    monkeypatch.setattr(publish, "recover", another_build_ended)
    capsys.readouterr()
    assert run("--report", "report.json") == 0
    statuses = {
        t["slug"]: t["status"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert statuses == {"contoso": "unchanged", "fabrikam": "built"}


def test_unchanged_inputs_skip_rendering_until_a_certificate_threshold(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run() == 0
    assert run("--report", "report.json") == 0
    reasons = {
        t["slug"]: t["reason"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert reasons == {"contoso": "inputs unchanged", "fabrikam": "inputs unchanged"}
    manifest_path = project / "site" / ".tenantdocs" / "manifests" / "contoso.json"
    manifest = json.loads(manifest_path.read_text())
    # The sample certificates expire in 2036: the pages could next change 30 days before.
    assert manifest["stable_until"] == "2035-12-02T00:00:00+00:00"
    # Once that moment has passed the tenant is rendered again to see what changed.
    manifest["stable_until"] = "2020-01-01T00:00:00+00:00"
    manifest_path.write_text(json.dumps(manifest))
    assert run("--report", "report.json") == 0
    reasons = {
        t["slug"]: t["reason"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert reasons == {"contoso": "pages unchanged", "fabrikam": "inputs unchanged"}
    # A metadata file is an input too.
    xml = project / "tenants" / "fabrikam" / "idp-metadata.xml"
    xml.write_bytes(xml.read_bytes() + b"\n")
    assert run("--report", "report.json") == 0
    fabrikam = json.loads(Path("report.json").read_text())["tenants"][1]
    assert fabrikam["status"] == "built" and "federation-metadata.xml" in fabrikam["reason"]


def test_parallel_build_publishes_the_same_site(project: Path) -> None:
    assert main(["build", "--jobs", "2", "--site", "parallel"]) == 0
    assert run("--site", "serial") == 0
    assert tree_digest(project / "parallel") == tree_digest(project / "serial")


def test_selected_tenants_and_shards(project: Path) -> None:
    assert run("--tenant", "fabrikam") == 0
    assert (project / "site" / "fabrikam").is_dir()
    assert not (project / "site" / "contoso").exists()
    covered = []
    for k in (1, 2, 3):
        report = project / f"shard{k}.json"
        assert run("--shard", f"{k}/3", "--site", f"shard{k}", "--report", str(report)) == 0
        covered += [t["slug"] for t in json.loads(report.read_text())["tenants"]]
    assert sorted(covered) == ["contoso", "fabrikam"]


def test_removed_tenant_is_unpublished(project: Path) -> None:
    assert run() == 0
    (project / "tenants" / "fabrikam.yml").unlink()
    assert run() == 0
    assert not (project / "site" / "fabrikam").exists()
    assert "Fabrikam" not in (project / "site" / "index.html").read_text()


# --- failures: located messages, exit codes, nothing lost -------------------------------


def test_failed_tenant_keeps_its_previous_site_and_others_publish(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run() == 0
    before = tree_digest(project / "site" / "contoso")
    (project / "tenants" / "contoso" / "litware-crm.xml").write_text("<md:EntityDescriptor\n  oops")
    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text().replace("Fabrikam Inc", "Fabrikam Group"))
    capsys.readouterr()

    assert run() == 1
    err = capsys.readouterr().err
    assert (
        "tenants/contoso/litware-crm.xml:1:1: error: metadata is not well-formed XML:"
        " unclosed token\n" in err
    )
    assert tree_digest(project / "site" / "contoso") == before
    assert "Fabrikam Group" in (project / "site" / "fabrikam" / "index.html").read_text()
    assert not list((project / "site" / ".tenantdocs" / "staging").glob("*"))


def test_typo_in_a_template_key_is_a_configuration_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text("Intro\n\nPaste %metadata:IssuerUrl% here.\n")
    assert run() == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "templates/litware-crm/sso_configure.md:3:7: error: unknown key 'IssuerUrl' in"
        " %metadata:IssuerUrl% (did you mean 'IssuerUri'?)"
    ]
    assert not (project / "site").exists()


def test_missing_value_names_template_line_tenant_and_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tenants" / "northwind.yml").write_text("name: Northwind\n")
    assert run("--tenant", "northwind") == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "templates/adventure-works-learning/sso_configure.md:15:22: error: no value for"
        " 'IssuerUri' (IdP entity ID (SAML issuer)) in tenant 'northwind': set it under"
        " 'metadata:' in the tenant file, or give a metadata file that has it (and 12 more places)"
    )
    assert len(err) == 8  # one line per missing key, not one per place
    assert not (project / "site" / "northwind").exists()


def test_malformed_tenant_yaml_is_located(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tenants" / "northwind.yml").write_text('name: "Northwind\ntenant_id: x\n')
    assert run() == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "tenants/northwind.yml:3:1: error: invalid YAML: found unexpected end of stream"
        " (while scanning a quoted scalar that starts at line 1, column 7)"
    ]
    assert (project / "site" / "contoso").is_dir()


def test_unknown_tenant_and_bad_options_are_usage_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--tenant", "contosso") == 2
    assert "no tenant 'contosso' (no contosso.yml here) (did you mean 'contoso'?)" in (
        capsys.readouterr().err
    )
    assert run("--shard", "3/2") == 2
    assert "'3/2' is not K/N with 1 <= K <= N" in capsys.readouterr().err


def test_check_writes_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "checked 2 tenants: 0 errors" in capsys.readouterr().out
    assert not (project / "site").exists()


# --- the seed guide and the real guides -------------------------------------------------


def _tenant_with_metadata(root: Path) -> None:
    (root / "tenants").mkdir()
    shutil.copy(REPO / "tenants" / "contoso" / "litware-crm.xml", root / "tenants" / "idp.xml")
    (root / "tenants" / "acme.yml").write_text(
        f"name: Acme Corp\ntenant_id: {CONTOSO_TID}\nmetadata_file: idp.xml\n"
    )


@pytest.mark.skipif(not SEED.is_file(), reason="../shared/seed is not here")
def test_seed_guide_gets_the_tenants_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates" / "citrix-gotomeeting").mkdir(parents=True)
    shutil.copy(SEED, tmp_path / "templates" / "citrix-gotomeeting" / "sso_configure.md")
    _tenant_with_metadata(tmp_path)
    assert run() == 0
    guide = tmp_path / "site" / "acme" / "citrix-gotomeeting" / "index.html"
    text = article_text(guide)
    assert f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2" in text
    assert f"https://sts.windows.net/{CONTOSO_TID}/" in text
    # The guide's own links (its "About these values" section links the files again).
    links = _Refs()
    links.feed(article_text(guide).split('<h2 id="about-these-values"')[0])
    pem = [link for link in links.links if link.endswith(".cer")]
    assert pem == ["signing-certificate.cer", "signing-certificate.cer"]
    xml = (tmp_path / "tenants" / "idp.xml").read_text()
    body = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", xml)
    assert body is not None
    published = (guide.parent / pem[0]).read_text()
    assert (
        load_certificate("".join(published.splitlines()[1:-1])).der
        == load_certificate(body.group(1)).der
    )


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_every_real_guide_publishes_with_the_tenants_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenantdocs.keys import key_spec
    from tenantdocs.pipeline import (
        Project,
        Selection,
        load_template_set,
        load_tenants,
        metadata_loader,
        plan_tenant,
    )
    from tenantdocs.placeholders import scan_placeholders

    monkeypatch.chdir(tmp_path)
    _tenant_with_metadata(tmp_path)
    assert run("--templates", str(CORPUS)) == 0

    apps = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert len(apps) == 67
    site = tmp_path / "site" / "acme"
    expected = {
        "singleSignOnServiceUrl": f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2",
        "singleSignOutServiceUrl": f"https://login.microsoftonline.com/{CONTOSO_TID}/saml2",
        "IssuerUri": f"https://sts.windows.net/{CONTOSO_TID}/",
        "changePasswordUrl": "https://account.activedirectory.windowsazure.com/ChangePassword.aspx",
    }
    for app in apps:
        page = site / app / "index.html"
        html = page.read_text(encoding="utf-8")
        assert "%metadata:" not in html and "%SignOnUrl%" not in html, app
        guide = (CORPUS / app / "sso_configure.md").read_text(encoding="utf-8")
        for placeholder in scan_placeholders(guide, Path(app)):
            if placeholder.key in expected:
                assert expected[placeholder.key] in html, (app, placeholder.key)

    # As the portal rendered them: DocFX alerts are admonitions (with no base configuration
    # in the templates folder), and a step's note no longer turns the next step into code.
    assert 'class="admonition note"' in (site / "fluxxlabs" / "index.html").read_text()
    # Every guide is titled with its app's name, even with a "# Next steps" further down.
    fluxx = article_text(site / "fluxxlabs" / "index.html")
    assert fluxx.count("<h1") == 2 and '<h1 id="guide">fluxxlabs</h1>' in fluxx
    assert "[!NOTE]" not in (site / "m-files" / "index.html").read_text()
    servicenow = article_text(site / "servicenow@67ac63e" / "index.html")
    assert "<pre" not in servicenow and "f. Click <strong>Save</strong>" in servicenow

    # The Markdown handed to MkDocs is the guide with only the placeholder spans and the
    # documented rewrites (tenantdocs.rewrite) changed.
    project = Project(CORPUS, tmp_path / "tenants", tmp_path / "unused", tmp_path / ".cache")
    templates, renderer = load_template_set(project)
    [(tenant, warnings)], _ = load_tenants(project, templates, Selection())
    plan = plan_tenant(tenant, warnings, templates, renderer, metadata_loader(project, Selection()))
    links = {
        "certificateDownloadBase64Url": "signing-certificate.cer",
        "CertificateDownloadRawUrl": "signing-certificate-raw.cer",
        "metadataDownloadUrl": "federation-metadata.xml",
    }
    for app in apps:
        source = rewrite_markdown((CORPUS / app / "sso_configure.md").read_text(encoding="utf-8"))
        rendered = plan.site.pages[f"{app}/index.md"]
        pos = 0
        literal_start = 0
        for placeholder in scan_placeholders(source, Path(app)):
            literal = source[literal_start : placeholder.start]
            found = rendered.index(literal, pos)
            assert found == pos or literal_start == 0, (app, placeholder.location)
            pos = found + len(literal)
            key = placeholder.key or ""
            value = expected.get(key) or links.get(key) or app
            if key in links and placeholder.context.value not in ("link target",):
                value = f"[{links[key]}]({links[key]})"
            elif key_spec(key).copyable and placeholder.context.value in ("prose", "table cell"):
                # Values admins copy are marked up in prose, to stand out and get a copy button.
                value = f'<code class="td-value">{value}</code>'
            assert rendered.startswith(value, pos), (
                app,
                placeholder.location,
                rendered[pos : pos + 80],
            )
            pos += len(value)
            literal_start = placeholder.end
        assert rendered.find(source[literal_start:], pos) == pos, app


def test_a_large_site_groups_its_navigation_and_each_page_carries_only_its_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    for index in range(90):
        folder = templates / f"app-{index:02d}"
        folder.mkdir(parents=True)
        (folder / "sso_configure.md").write_text(
            f"# App {index:02d}\n\nSign in at %metadata:singleSignOnServiceUrl%.\n"
        )
        if index % 9 == 0:  # a few in a category, the rest by letter
            (folder / "app.yml").write_text("category: Finance\n")
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.yml").write_text(
        f"name: Acme\ntenant_id: {CONTOSO_TID}\n"
        "metadata:\n  singleSignOnServiceUrl: https://login.example.com/acme/saml2\n"
    )
    monkeypatch.chdir(tmp_path)
    assert run() == 0
    page = (tmp_path / "site" / "acme" / "app-01" / "index.html").read_text()
    # Its own run of 40 is there, the other runs and the category's guides are not.
    assert 'href="../app-02/index.html"' in page
    assert "app-89/index.html" not in page and "app-09/index.html" not in page
    for section in ("Finance", "Other apps", "app-01 – app-44", "app-46 – app-89"):
        assert section in page
    # Search still finds every guide.
    index = json.loads((tmp_path / "site" / "acme" / "search" / "search_index.json").read_text())
    locations = {doc["location"] for doc in index["docs"]}
    assert all(f"app-{i:02d}/index.html" in locations for i in range(90))


def test_a_base_configuration_mkdocs_refuses_is_a_located_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sitebuild._build_failed: the reasons MkDocs logs before it aborts, at the base
    # configuration; the tenant fails and keeps its previous site.
    assert run("--tenant", "contoso") == 0
    before = (project / "site" / "contoso" / "index.html").read_bytes()
    (project / "templates" / "mkdocs.yml").write_text("theme:\n  name: no-such-theme\n")
    capsys.readouterr()
    assert run("--tenant", "contoso") == 1
    [line] = capsys.readouterr().err.splitlines()
    # (MkDocs ends the message with the themes installed: not ours to pin.)
    assert line.startswith(
        "templates/mkdocs.yml: error: MkDocs: Config value 'theme': Unrecognised theme name:"
        " 'no-such-theme'. The available installed themes are: "
    )
    assert (project / "site" / "contoso" / "index.html").read_bytes() == before
