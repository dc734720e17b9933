"""Building planned tenants: each alone or several from one MkDocs run, each with its values."""

from __future__ import annotations

from pathlib import Path

from tenantdocs.batch import Planned, TenantPlan, build_all
from tenantdocs.errors import Location
from tenantdocs.publish import Manifest
from tenantdocs.report import TenantResult, TenantStatus
from tenantdocs.sitebuild import SitePlan

LOGIN = "https://login.example/{tid}/saml2"


def plan(slug: str, name: str, tid: str) -> TenantPlan:
    """A tenant with one guide that shows its name and sign-on URL."""
    url = LOGIN.format(tid=tid)
    site = SitePlan(
        site_name=name,
        pages={
            # Headings are fixed: an anchor made from a value would differ per tenant.
            "index.md": f"# Guides\n\nGuides for {name}.\n",
            "app/index.md": f"# App\n\nSign in at {url} as {name}.\n",
        },
        files={"app/cert.cer": f"certificate of {slug}\n".encode()},
        nav=[{"Home": "index.md"}, {"App": "app/index.md"}],
        base_config=None,
        sources={"": Location(Path(f"tenants/{slug}.yml"))},
    )
    return TenantPlan(
        slug=slug,
        name=name,
        site=site,
        apps=(("App", "app/index.html"),),
        roles=(("tenant:name", name), ("app:url", url)),
    )


def planned(item: tuple[TenantPlan, str]) -> Planned:
    """The planner for tenants planned in the test itself."""
    return item


def test_manifest_records_what_the_directory_and_the_next_run_need() -> None:
    tenant = plan("contoso", "Contoso Ltd", "11bb")
    assert tenant.manifest() == Manifest(
        name="Contoso Ltd",
        apps=(("App", "app/index.html"),),
        pages=2,
        digests={},
        inputs=None,
        stable_until=None,
    )


def test_tenants_alike_share_one_run_and_get_their_own_values(tmp_path: Path) -> None:
    site = tmp_path / "site"
    work = [
        (plan("contoso", "Contoso Ltd", "11bb"), "not built before"),
        (plan("fabrikam", "Fabrikam Inc", "22cc"), "not built before"),
    ]
    done: list[TenantResult] = []
    results = build_all(site, work, 1, done.append, planned)
    assert sorted(done, key=lambda r: r.slug) == sorted(results, key=lambda r: r.slug)
    assert [(r.slug, r.status, r.pages) for r in sorted(results, key=lambda r: r.slug)] == [
        ("contoso", TenantStatus.BUILT, 2),
        ("fabrikam", TenantStatus.BUILT, 2),
    ]
    assert all(r.reason == "not built before; one MkDocs run shared by 2 tenants" for r in results)
    for slug, name, tid, other in (
        ("contoso", "Contoso Ltd", "11bb", "Fabrikam"),
        ("fabrikam", "Fabrikam Inc", "22cc", "Contoso"),
    ):
        page = (site / slug / "app" / "index.html").read_text(encoding="utf-8")
        assert f"Sign in at {LOGIN.format(tid=tid)} as {name}." in page
        assert other not in page and "ZQXTDV" not in page.upper()
        assert (
            site / slug / "app" / "cert.cer"
        ).read_bytes() == f"certificate of {slug}\n".encode()


def test_a_lone_tenant_is_built_on_its_own(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done: list[TenantResult] = []
    [result] = build_all(
        site, [(plan("contoso", "Contoso Ltd", "11bb"), "--force")], 1, done.append, planned
    )
    assert done == [result]
    assert (result.status, result.reason) == (TenantStatus.BUILT, "--force")
    assert "Contoso Ltd" in (site / "contoso" / "index.html").read_text(encoding="utf-8")
