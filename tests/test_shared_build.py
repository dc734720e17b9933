"""Tenants that differ only in values share one MkDocs run; the sites must be exactly the
ones a straightforward per-tenant build gives (pages, anchors, navigation, search index,
sitemap, published files)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from idp import entra_metadata

from tenantdocs.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "azure-sso-tutorials"
GENERATOR = SHARED / "bench" / "make_workload.py"


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tenantdocs" not in p.relative_to(root).parts
    }


def build_both_ways(project: Path, *args: str) -> dict[str, str]:
    """Build every tenant in one run (shared) and one run per tenant; return the reasons."""
    report = project / "shared.json"
    assert main(["build", "--jobs", "2", "--site", "shared", "--report", str(report), *args]) == 0
    slugs = sorted(p.stem for p in (project / "tenants").glob("*.yml"))
    for slug in slugs:
        assert main(["build", "--jobs", "1", "--site", "alone", "--tenant", slug, *args]) == 0
    one, other = tree(project / "shared"), tree(project / "alone")
    assert sorted(one) == sorted(other)
    differing = [path for path in one if one[path] != other[path]]
    assert differing == []
    return {t["slug"]: t["reason"] for t in json.loads(report.read_text())["tenants"]}


def test_sample_tenants_shaped_alike_share_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    contoso = (tmp_path / "tenants" / "contoso.yml").read_text()
    for index, tid in enumerate(
        ("22cc22cc-dd33-ee44-ff55-66aa66aa66aa", "33dd33dd-ee44-ff55-aa66-77bb77bb77bb")
    ):
        (tmp_path / "tenants" / f"northwind{index}.yml").write_text(
            contoso.replace("Contoso Ltd", f"Northwind Traders {index}").replace(
                "11bb11bb-cc22-dd33-ee44-55ff55ff55ff", tid
            )
        )
    monkeypatch.chdir(tmp_path)
    reasons = build_both_ways(tmp_path)
    for slug in ("contoso", "northwind0", "northwind1"):
        assert "one MkDocs run shared by 3 tenants" in reasons[slug]
    assert "shared" not in reasons["fabrikam"]  # other apps, other metadata: a run of its own
    page = (tmp_path / "shared" / "northwind1" / "litware-crm" / "index.html").read_text()
    assert "Northwind Traders 1" in page and "33dd33dd-ee44-ff55-aa66-77bb77bb77bb" not in page
    # The values come from the copied metadata files (Contoso's directory), so the tenant
    # id in the file shows nowhere; what a shared run could mix up is whose page it is.
    home = (tmp_path / "shared" / "northwind1" / "index.html").read_text()
    assert "Northwind Traders 1" in home
    assert "Northwind Traders 0" not in home and "Contoso Ltd" not in home


@pytest.mark.skipif(not GENERATOR.is_file(), reason="../shared/bench is not here")
def test_benchmark_workload_shares_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "4", "6", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    reasons = build_both_ways(tmp_path)
    assert all("one MkDocs run shared by 4 tenants" in reason for reason in reasons.values())
    for index in range(4):
        tenant = (tmp_path / "tenants" / f"tenant-{index:03d}.yml").read_text()
        tid = tenant.split("tenant_id: ")[1].split()[0]
        page = (tmp_path / "shared" / f"tenant-{index:03d}" / "app-002" / "index.html").read_text()
        assert f"https://login.microsoftonline.com/{tid}/saml2" in page
        index_json = tmp_path / "shared" / f"tenant-{index:03d}" / "search" / "search_index.json"
        assert tid in index_json.read_text()

    # One tenant changes: the next run fills it in from the run kept from the last build,
    # and it is still exactly what building it alone gives.
    tenant_file = tmp_path / "tenants" / "tenant-002.yml"
    tenant_file.write_text(tenant_file.read_text().replace("name: Tenant 002", "name: Tenant Two"))
    report = tmp_path / "again.json"
    assert main(["build", "--jobs", "1", "--site", "shared", "--report", str(report)]) == 0
    changed = [t for t in json.loads(report.read_text())["tenants"] if t["status"] == "built"]
    assert [t["slug"] for t in changed] == ["tenant-002"]
    assert "filled in from the MkDocs run kept from an earlier build" in changed[0]["reason"]
    assert main(["build", "--jobs", "1", "--site", "alone", "--tenant", "tenant-002"]) == 0
    assert tree(tmp_path / "shared" / "tenant-002") == tree(tmp_path / "alone" / "tenant-002")
    assert "Tenant Two" in (tmp_path / "shared" / "tenant-002" / "index.html").read_text()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_real_guides_share_a_run_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tenants").mkdir()
    tids = ("11bb11bb-cc22-dd33-ee44-55ff55ff55ff", "44ee44ee-ff55-aa66-bb77-88cc88cc88cc")
    for index, tid in enumerate(tids):
        # Each tenant's own Entra metadata: its URLs, entity ID and signing certificate.
        xml = entra_metadata(tid)
        (tmp_path / "tenants" / f"idp{index}.xml").write_bytes(xml)
        (tmp_path / "tenants" / f"acme{index}.yml").write_text(
            f"name: Acme {index}\ntenant_id: {tid}\nmetadata_file: idp{index}.xml\n"
        )
    monkeypatch.chdir(tmp_path)
    reasons = build_both_ways(tmp_path, "--templates", str(CORPUS))
    assert all("one MkDocs run shared by 2 tenants" in reason for reason in reasons.values())
