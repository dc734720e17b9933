"""Incremental builds: the hashes of a plan and the decisions made from a manifest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenantdocs import publish
from tenantdocs.errors import Location
from tenantdocs.incremental import RunInputs, digests, rebuild_reason, sha, up_to_date
from tenantdocs.sitebuild import SitePlan

SHARED = RunInputs(tool="tenantdocs 0", templates="t", base_config="b", site_assets="a")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def plan(pages: dict[str, str], files: dict[str, bytes] | None = None) -> SitePlan:
    """A site plan with these pages and files."""
    return SitePlan(
        site_name="Contoso",
        pages=pages,
        files=files or {},
        nav=[{"Home": "index.md"}],
        base_config=None,
        sources={"": Location(Path("tenants/contoso.yml"))},
    )


def manifest(
    digests: dict[str, str] | None = None,
    inputs: str | None = None,
    stable_until: datetime | None = None,
) -> publish.Manifest:
    """A manifest with these fields (the others empty)."""
    return publish.Manifest("Contoso", (), 1, digests or {}, inputs, stable_until)


def publish_tenant(site: Path, slug: str, recorded: publish.Manifest) -> None:
    """A published tenant folder with its manifest."""
    (site / slug).mkdir(parents=True)
    publish.write_manifest(site, slug, recorded)


def read(site: Path, slug: str) -> publish.Manifest | None:
    """The tenant's manifest as a build reads it."""
    found, problem = publish.read_manifest(site, slug)
    assert problem is None
    return found


def test_sha() -> None:
    assert sha(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_digests_name_every_page_and_file() -> None:
    found = digests(plan({"index.md": "home"}, {"app/cert.cer": b"x"}), SHARED)
    assert sorted(found) == [
        "base config",
        "file app/cert.cer",
        "page index.md",
        "site",
        "site assets",
        "tool",
    ]
    assert found["page index.md"] == sha(b"home")
    assert found["tool"] == "tenantdocs 0"
    other = digests(plan({"index.md": "home!"}, {"app/cert.cer": b"x"}), SHARED)
    assert [k for k in found if found[k] != other[k]] == ["page index.md"]


def test_rebuild_reason(tmp_path: Path) -> None:
    new = {"page a.md": "1", "page b.md": "2"}

    def reason(digests: dict[str, str], force: bool = False) -> str | None:
        return rebuild_reason(tmp_path, "t", digests, force, read(tmp_path, "t"))

    assert reason(new, force=True) == "--force"
    assert reason(new) == "not built before"
    publish_tenant(tmp_path, "t", manifest(digests=new))
    assert reason(new) is None
    assert reason({**new, "page b.md": "3"}) == "changed: page b.md"
    many = {f"page {i}.md": "x" for i in range(8)}
    assert reason(many) == (
        "changed: page 0.md, page 1.md, page 2.md, page 3.md, page 4.md and 5 more"
    )


def test_up_to_date(tmp_path: Path) -> None:
    def fresh(inputs: str | None, now: datetime) -> bool:
        return up_to_date(tmp_path, "t", inputs, now, read(tmp_path, "t"))

    assert not fresh("abc", NOW)  # never built
    publish_tenant(tmp_path, "t", manifest(inputs="abc", stable_until=NOW + timedelta(days=1)))
    assert fresh("abc", NOW)
    assert not fresh("abd", NOW)  # other inputs
    assert not fresh(None, NOW)  # inputs that cannot be judged
    assert not fresh("abc", NOW + timedelta(days=2))  # a threshold passed
    publish.write_manifest(tmp_path, "t", manifest(inputs="abc"))
    assert fresh("abc", NOW + timedelta(days=400))


def test_the_templates_hash_covers_every_file_as_a_recursive_glob_lists_them(
    tmp_path: Path,
) -> None:
    """Names and bytes of every file under the templates folder, in path order: a link to a
    file counts as the file, a link to a folder is not followed, a dead link and a hidden
    file's absence or presence are as a recursive glob sees them ('a/b' sorts before 'a-b')."""
    import hashlib

    from tenantdocs.incremental import run_inputs
    from tenantdocs.pipeline import Project, open_template_set

    root = tmp_path / "templates"
    (root / "app" / "a").mkdir(parents=True)
    (root / "app" / "sso_configure.md").write_text("# Guide\n")
    (root / "app" / "a" / "b").write_bytes(b"under a folder")
    (root / "app" / "a-b").write_bytes(b"a name with a dash")
    (root / "app" / ".hidden").write_bytes(b"hidden")
    (root / "app" / "café.png").write_bytes(b"\x89PNG")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "far.txt").write_text("far")
    (root / "app" / "linked.txt").symlink_to(tmp_path / "outside" / "far.txt")
    (root / "app" / "linked-folder").symlink_to(tmp_path / "outside")
    (root / "app" / "dead").symlink_to(tmp_path / "nowhere")
    expected = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        expected.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        expected.update(hashlib.sha256(path.read_bytes()).digest())
    project = Project(root, tmp_path / "tenants", tmp_path / "site", tmp_path / "cache")
    templates, _, _ = open_template_set(project)
    assert run_inputs(templates).templates == expected.hexdigest()
    (root / "app" / "a" / "b").write_bytes(b"changed")
    assert run_inputs(templates).templates != expected.hexdigest()
