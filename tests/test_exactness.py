"""Every faster way of building must give exactly the straightforward per-tenant build.

Randomized workloads (own app sets, categories, values that are and are not plain text,
values in headings and in highlighted code, links between guides) are built by the batch
engine (shared runs, warm builders, guides converted once) and, tenant by tenant, by a
fresh MkDocs run with nothing shared (:func:`tenantdocs.sitebuild.build_site`); the two
sites must be byte-identical. Each check that rejects a shared result is then disabled in
turn, to show that it is what keeps a case exact.
"""

from __future__ import annotations

import collections
import copy
import errno
import functools
import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS
from idp import make_certificate, make_metadata

from tenantdocs import batch, pipeline, sitebuild, skeleton
from tenantdocs.cli import main
from tenantdocs.errors import Location, SiteBuildError
from tenantdocs.pipeline import (
    Project,
    Selection,
    load_template_set,
    load_tenants,
    metadata_loader,
    plan_tenant,
)
from tenantdocs.render import html_block, stub_html_blocks
from tenantdocs.sitebuild import NavItem, SiteBuilder, SitePlan, build_site

REPO = Path(__file__).resolve().parents[1]

GUIDE = """# Configure {app}

## Sign in at {heading}

1. Open **{app}** and paste %metadata:singleSignOnServiceUrl% into *Sign-in URL*.
2. Paste the entity ID `%metadata:IssuerUri%` and the sign-out URL
   %metadata:singleSignOutServiceUrl%.
3. See [the other guide](../{other}/index.md#configure-{other}) first.

```powershell
Set-Sso -Tenant %metadata:tenantId% -Url "%metadata:singleSignOnServiceUrl%"
```

| Setting | Value |
| --- | --- |
| Issuer | %metadata:IssuerUri% |
"""


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tenantdocs" not in p.relative_to(root).parts
    }


def make_workload(
    root: Path, seed: int, tenants: int = 5, apps: int = 8, *, code: bool = True
) -> None:
    """Templates with categories and cross-links; tenants with their own apps and values."""
    rng = random.Random(seed)
    names = [f"app-{i:02d}" for i in range(apps)]
    for index, app in enumerate(names):
        folder = root / "templates" / app
        folder.mkdir(parents=True)
        heading = rng.choice(["%metadata:singleSignOnServiceUrl%", "the portal"])
        other = names[(index + 1) % apps]
        guide = (
            GUIDE
            if code
            else GUIDE.replace(GUIDE[GUIDE.index("```") : GUIDE.rindex("```") + 4], "")
        )
        (folder / "sso_configure.md").write_text(
            guide.format(app=app, heading=heading, other=other)
        )
        if rng.random() < 0.6:
            category = rng.choice(["Finance", "HR", "Sales tools"])
            (folder / "app.yml").write_text(f"category: {category}\n")
    (root / "tenants").mkdir()
    for number in range(tenants):
        tid = f"{rng.getrandbits(32):08x}-1111-2222-3333-{rng.getrandbits(48):012x}"
        plain = rng.random() < 0.7
        sign_in = f"https://login.example.com/{tid}/saml2" + ("" if plain else "?a_b=1&c=*x*")
        chosen = sorted(rng.sample(names, rng.randint(2, apps)))
        lines = [
            f"name: Tenant {number}" + ("" if plain else " & Sons"),
            f"tenant_id: {tid}",
            "metadata:",
            f"  singleSignOnServiceUrl: {sign_in}",
            f"  singleSignOutServiceUrl: https://login.example.com/{tid}/logout",
            f"  IssuerUri: https://sts.example.com/{tid}/",
            "apps:",
        ]
        for app in chosen:
            if rng.random() < 0.3:  # an app with a value of its own
                lines += [f"  {app}:", "    metadata:", f"      IssuerUri: urn:{app}:{tid}"]
            else:
                lines.append(f"  {app}: {{}}")
        (root / "tenants" / f"tenant-{number}.yml").write_text("\n".join(lines) + "\n")


def write_tenants(root: Path, apps_of: dict[str, str]) -> None:
    """Tenants (name → their apps, YAML flow) with values of their own."""
    for number, (name, apps) in enumerate(apps_of.items()):
        tid = f"{number:08d}-1111-2222-3333-{len(name):012d}"
        (root / "tenants" / f"{name}.yml").write_text(
            f"name: Tenant {name}\ntenant_id: {tid}\nmetadata:\n"
            f"  singleSignOnServiceUrl: https://login.example.com/{tid}/saml2\n"
            f"  singleSignOutServiceUrl: https://login.example.com/{tid}/logout\n"
            f"  IssuerUri: https://sts.example.com/{tid}/\napps: {{{apps}}}\n"
        )


def reference(root: Path) -> Path:
    """Every tenant built on its own by a fresh MkDocs run: the reference."""
    project = Project(root / "templates", root / "tenants", root / "ref", root / "cache")
    templates, renderer = load_template_set(project)
    tenants, failed = load_tenants(project, templates, Selection())
    assert failed == []
    loader = metadata_loader(project, Selection())
    for tenant, warnings in tenants:
        plan = plan_tenant(tenant, warnings, templates, renderer, loader)
        build_site(plan.site, root / "work" / tenant.slug, root / "ref" / tenant.slug)
    return root / "ref"


def assert_exact(root: Path, *args: str) -> None:
    assert main(["build", "--site", str(root / "fast"), *args]) == 0
    ours, theirs = tree(root / "fast"), tree(reference(root))
    ours.pop("index.html")  # the tenant directory is not part of a tenant's site
    assert sorted(ours) == sorted(theirs)
    assert [p for p in ours if ours[p] != theirs[p]] == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomized_workloads_build_exactly_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    make_workload(tmp_path, seed)
    monkeypatch.chdir(tmp_path)
    assert_exact(tmp_path, "--jobs", "2")


def test_one_process_building_every_tenant_in_turn_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --jobs 1: one warm builder converts each guide once for all tenants using it.
    make_workload(tmp_path, 4, tenants=6, apps=4)
    monkeypatch.chdir(tmp_path)
    assert_exact(tmp_path, "--jobs", "1")


@pytest.mark.parametrize("differ", ["file layout", "certificate dates"])
def test_tenants_share_the_guides_they_have_in_common_whatever_else_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, differ: str
) -> None:
    # A guide's panels name where each value stands in the tenant file (a comment on top of
    # one file moves every line) and when the signing certificate is valid (each tenant's
    # own metadata file here, with two certificates). Each is a value of its own, so the
    # guide both tenants use still reads the same for both, and is split (and converted) once.
    for app in ["alpha", "beta", "gamma"]:
        (tmp_path / "templates" / app).mkdir(parents=True)
        (tmp_path / "templates" / app / "sso_configure.md").write_text(
            f"# Configure {app}\n\n1. Paste %metadata:singleSignOnServiceUrl% into *Sign-in URL*.\n"
            "2. Paste the entity ID `%metadata:IssuerUri%`.\n"
        )
    (tmp_path / "tenants").mkdir()
    for number, apps in enumerate(["alpha: {}, beta: {}", "beta: {}, gamma: {}"]):
        tid = f"{number}1111111-2222-3333-4444-555555555555"
        values = (
            f"  singleSignOnServiceUrl: https://login.example.com/{tid}/saml2\n"
            f"  singleSignOutServiceUrl: https://login.example.com/{tid}/logout\n"
        )
        top = "# owner: finance\n" if number else ""
        if differ == "certificate dates":
            issued = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=7 * number)
            first, _ = make_certificate("idp.example.com", not_before=issued)
            # and the next one, published ahead of the roll-over, valid two years
            ends = issued + timedelta(days=730)
            second, _ = make_certificate("idp.example.com", not_before=issued, not_after=ends)
            certs = [(first, "signing"), (second, "signing")]
            metadata = make_metadata(f"https://sts.example.com/{tid}/", certs=certs)
            (tmp_path / "tenants" / f"idp-{number}.xml").write_bytes(metadata)
            values, top = "", f"metadata_file: idp-{number}.xml\n"
        (tmp_path / "tenants" / f"t{number}.yml").write_text(
            f"{top}name: Tenant {number}\ntenant_id: {tid}\nmetadata:\n{values}"
            f"  IssuerUri: https://sts.example.com/{tid}/\napps: {{{apps}}}\n"
        )
    monkeypatch.chdir(tmp_path)
    batch._process_builder.cache_clear()  # nothing kept from another test's build
    counts = count_work(monkeypatch)
    assert main(["build", "--site", str(tmp_path / "fast"), "--jobs", "1"]) == 0
    assert counts == {"converted": 5, "split": 5}  # two homes, alpha, beta once, gamma
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    ours, theirs = tree(tmp_path / "fast"), tree(reference(tmp_path))
    ours.pop("index.html")
    assert ours == theirs


def test_small_windows_planned_by_the_workers_are_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows of 3: after the first, the workers put in the sentinels for the values the
    # windows before saw varying, a skeleton built for one window serves the next, and a
    # window is planned while the one before is built.
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    shutil.copy(REPO / "tenants" / "fabrikam" / "idp-metadata.xml", tenants / "idp.xml")
    for number in range(7):
        (tenants / f"t{number}.yml").write_text(
            f"name: Tenant {number}\nmetadata_file: idp.xml\nmetadata:\n"
            f"  changePasswordUrl: https://idp.example.com/t{number}/password\n"
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "build_all", functools.partial(batch.build_all, window=3))
    assert_exact(tmp_path, "--jobs", "2", "--report", "report.json")
    reasons = [t["reason"] for t in json.loads(Path("report.json").read_text())["tenants"]]
    assert all("shared by 3 tenants" in r for r in reasons[:6])
    assert "kept from an earlier build" in reasons[6]


def test_a_later_window_redoes_only_tenants_with_a_value_newly_varying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sentinels depend only on which of a tenant's own values vary: in the second window
    (windows of 2), the tenant using an app the first window saw keeps the sentinels its
    worker put in; the one with an app new to the run gets them again. Exact either way."""
    make_workload(tmp_path, 5, tenants=0, apps=3)
    apps = ["app-00", "app-01", "app-00", "app-02"]
    write_tenants(tmp_path, {str(number): f"{app}: {{}}" for number, app in enumerate(apps)})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "build_all", functools.partial(batch.build_all, window=2))
    calls: list[str] = []
    real = skeleton.sentinelize

    def counting(site: SitePlan, roles: Any, varying: Any, **kwargs: Any) -> Any:
        calls.append(site.site_name)
        return real(site, roles, varying, **kwargs)

    monkeypatch.setattr(batch, "sentinelize", counting)
    assert_exact(tmp_path, "--jobs", "1")
    # First window: both given sentinels after planning. Second: both planned with them,
    # then only Tenant 3 (app-02, new to the run) again.
    assert sorted(calls) == ["Tenant 0", "Tenant 1", "Tenant 2", "Tenant 3", "Tenant 3"]


def test_tenants_of_the_first_window_with_pages_of_their_own_get_sentinels_as_they_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first window's builds do not wait for every tenant's sentinels: ``a`` and ``b``
    (apps no other tenant has) get theirs where they are built; ``c`` and ``d`` (the same
    apps) before any build, to be grouped, and share one run. Exact either way."""
    # No value in a heading or in highlighted code: c and d can share a run.
    make_workload(tmp_path, 12, tenants=0, apps=3, code=False)
    apps = {"a": "app-00: {}", "b": "app-01: {}", "c": "app-02: {}", "d": "app-02: {}"}
    write_tenants(tmp_path, apps)
    monkeypatch.chdir(tmp_path)
    events: list[str] = []
    real_sentinelize, real_build = skeleton.sentinelize, batch._build_one

    def sentinelizing(site: SitePlan, roles: Any, varying: Any, **kwargs: Any) -> Any:
        events.append(f"sentinels {site.site_name}")
        return real_sentinelize(site, roles, varying, **kwargs)

    def building(site: Path, plan: Any, *args: Any) -> Any:
        events.append(f"build {plan.name}")
        return real_build(site, plan, *args)

    monkeypatch.setattr(batch, "sentinelize", sentinelizing)
    monkeypatch.setattr(batch, "_build_one", building)
    assert_exact(tmp_path, "--jobs", "1", "--report", "report.json")
    assert events == [
        *("sentinels Tenant c", "sentinels Tenant d"),
        *("sentinels Tenant a", "build Tenant a", "sentinels Tenant b", "build Tenant b"),
    ]
    reasons = {
        t["slug"]: t["reason"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert "shared by 2 tenants" in reasons["c"] and "shared by 2 tenants" in reasons["d"]


def test_a_tenant_given_sentinels_as_it_is_built_is_filled_in_from_a_kept_skeleton(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a`` and ``b`` share a run, kept; then ``a``'s name changes, and ``c`` (apps of its
    own) comes: ``a`` is alone in its window with its pages, and still filled in from the
    kept run, as it would be rebuilt on its own."""
    # No value in a heading or in highlighted code: a and b can share a run.
    make_workload(tmp_path, 16, tenants=0, apps=3, code=False)
    write_tenants(tmp_path, {"a": "app-00: {}", "b": "app-00: {}"})
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--site", str(tmp_path / "fast"), "--jobs", "1"]) == 0
    write_tenants(tmp_path, {"a": "app-00: {}", "b": "app-00: {}", "c": "app-01: {}"})
    tenant = tmp_path / "tenants" / "a.yml"
    tenant.write_text(tenant.read_text().replace("name: Tenant a", "name: Tenant A"))
    assert_exact(tmp_path, "--jobs", "1", "--report", "report.json")
    reasons = {
        t["slug"]: t["reason"] for t in json.loads(Path("report.json").read_text())["tenants"]
    }
    assert "kept from an earlier build" in reasons["a"]
    assert reasons["b"] == "inputs unchanged"


# --- each rejection, disabled in turn --------------------------------------------------


def test_a_value_in_a_heading_is_kept_exact_by_the_rewritten_sentinel_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With headings not kept out of the sentinels, the anchor lower-cases a sentinel: the
    output check must reject it (disable :func:`skeleton_problem` and this fails)."""
    make_workload(tmp_path, 5, code=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(skeleton, "_heading_lines", lambda text: "")
    assert_exact(tmp_path, "--jobs", "1")


def test_a_value_as_a_relative_link_is_kept_exact_by_the_link_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The published certificate's name (``signing-certificate.cer``) stands as a link target
    that the download marks judge by its text: let into the sentinels, the output check must
    reject it (disable that check and the links lose their ``download``)."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(skeleton, "_relative_links", lambda values, texts: set())
    assert_exact(tmp_path, "--jobs", "1")
    assert (
        "<a download href="
        in (tmp_path / "fast" / "contoso" / "litware-crm" / "index.html").read_text()
    )


def test_the_checks_name_what_they_reject(tmp_path: Path) -> None:
    s = skeleton.sentinel("app:key")
    cases = {
        "rewritten": (f"<h2 id='{s.lower()}'>{s}</h2>", "a sentinel was rewritten in page.html"),
        "binary": (None, "a sentinel reached page.png"),
        "code": (
            f'<div class="highlight"><pre><span class="n">{s}</span></pre></div>',
            "a sentinel stands outside a string in highlighted code in page.html",
        ),
        "link": (
            f'<a href="{s}">x</a>',
            "a sentinel stands for a relative link target in page.html",
        ),
    }
    for name, (html, message) in cases.items():
        out = tmp_path / name
        out.mkdir()
        if html is None:
            (out / "page.png").write_bytes(s.encode())
        else:
            (out / "page.html").write_text(html)
        assert skeleton.skeleton_problem(out, {s: "app-00/index.md"}) == message
    fine = tmp_path / "fine"
    fine.mkdir()
    (fine / "page.html").write_text(
        f'<a href="{s}">x</a><div class="highlight"><span class="s2">"{s}"</span></div>'
    )
    assert skeleton.skeleton_problem(fine, {s: "https://login.example.com/x"}) is None


# --- the warm builder's search sections -------------------------------------------------

SHARED_PAGE = """Text before any heading, so the page's own title names this section.

## Sign-in URL

Paste `https://login.example.com/saml2` into the field.

## Sign-out URL { data-search-exclude }

Not indexed.
"""


def search_plan(site_name: str, titles: dict[str, str]) -> SitePlan:
    """A site whose pages all have :data:`SHARED_PAGE` as Markdown, titled in the nav."""
    pages = {"index.md": "# Home\n\nWelcome.\n"}
    pages.update({f"{app}/index.md": SHARED_PAGE for app in titles})
    nav: list[NavItem] = [{"Home": "index.md"}]
    nav += [{title: f"{app}/index.md"} for app, title in sorted(titles.items())]
    return SitePlan(site_name, pages, {}, nav, None, {"": Location(Path("tenants/x.yml"))})


def test_pages_with_the_same_html_share_sections_but_keep_their_own_entries(
    tmp_path: Path,
) -> None:
    """One warm builder splits the shared HTML once (the cache is used), yet every page's
    entries carry its own URL and title: a cache of whole entries by the HTML would give the
    second tenant the first one's (``Alpha`` at ``alpha/``) and fail here."""
    plans = [
        search_plan("One", {"alpha": "Alpha", "beta": "Beta"}),
        search_plan("Two", {"gamma": "Gamma"}),
        search_plan("Three", {"alpha": "Delta"}),
    ]
    builder = SiteBuilder()
    for number, plan in enumerate(plans):
        builder.build(plan, tmp_path / f"warm-work-{number}", tmp_path / f"warm-{number}")
        build_site(plan, tmp_path / f"ref-work-{number}", tmp_path / f"ref-{number}")
        assert tree(tmp_path / f"warm-{number}") == tree(tmp_path / f"ref-{number}")
    # Two distinct HTMLs (home and the shared page) were split, for six pages.
    assert len(builder._sections) == 2
    index = json.loads((tmp_path / "warm-2" / "search" / "search_index.json").read_text())
    assert [(d["location"], d["title"]) for d in index["docs"]] == [
        ("index.html", "Home"),
        ("alpha/index.html", "Delta"),
        ("alpha/index.html#sign-in-url", "Sign-in URL"),
    ]


# --- one site's pages spread over two processes -----------------------------------------

SPREAD_GUIDE = """# Configure {app}

## Sign in at https://login.example.com/{number}/saml2

1. Paste `https://login.example.com/{number}/saml2` into *Sign-in URL*.
2. See [the next guide](../{other}/index.md#configure-{other}) and
   [a missing one](../missing/index.md).

| Setting | Value |
| --- | --- |
| Issuer | https://sts.example.com/{number}/ |
"""


def spread_plan(pages: int, base_config: Path | None = None) -> SitePlan:
    """A site of ``pages`` guides linking to each other, one link broken in each."""
    apps = [f"app-{n:03d}" for n in range(pages)]
    texts = {"index.md": "# Home\n\nWelcome.\n"}
    for number, app in enumerate(apps):
        other = apps[(number + 1) % pages]
        texts[f"{app}/index.md"] = SPREAD_GUIDE.format(app=app, number=number, other=other)
    nav: list[NavItem] = [
        {"Home": "index.md"},
        {"Apps": [{app: f"{app}/index.md"} for app in apps]},
    ]
    sources = {"": Location(Path("tenants/x.yml"))}
    return SitePlan("Spread", texts, {}, nav, base_config, sources)


def build_both_ways(
    plan: SitePlan, root: Path, builder: SiteBuilder
) -> tuple[list[str], list[str]]:
    """The plan built by ``builder`` and by :func:`build_site`; both warnings' messages."""
    ours = builder.build(plan, root / "work", root / "fast")
    theirs = build_site(plan, root / "ref-work", root / "ref")
    assert tree(root / "fast") == tree(root / "ref")
    return [p.message for p in ours], [p.message for p in theirs]


def test_a_site_spread_over_two_processes_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the threshold a copy of the process converts and renders pages from the last
    one back; the site and the warnings (logged in the copy, replayed here) are the
    straightforward build's, and the copy did take part in both loops."""
    monkeypatch.setattr(sitebuild, "SPREAD_PAGES", 10)
    base = tmp_path / "mkdocs.yml"
    # Absolute links warned about while converting: the copy's log must come back.
    base.write_text("validation:\n  links:\n    absolute_links: warn\n")
    plan = spread_plan(40, base)
    pages = dict(plan.pages)
    pages["app-039/index.md"] += "\nSee [the root](/index.md).\n"
    plan = replace(plan, pages=pages)
    # The copy hands over a page every 30 ms at most: this process, whatever its own pauses
    # (a collection over what earlier tests left alive), still meets it before the end.
    start = sitebuild._Forked.start

    def slow_copy(work: Callable[[Callable[[str, Any], None]], None]) -> Any:
        def slowly(hand_over: Callable[[str, Any], None]) -> None:
            def later(key: str, value: Any) -> None:
                time.sleep(0.03)
                hand_over(key, value)

            work(later)

        return start(slowly)

    monkeypatch.setattr(sitebuild._Forked, "start", slow_copy)
    builder = SiteBuilder(jobs=2)
    ours, theirs = build_both_ways(plan, tmp_path, builder)
    assert ours == theirs
    assert any("app-039/index.md" in message for message in ours)
    converted, rendered = builder.spread_pages
    assert 0 < converted < 41 and 0 < rendered < 41


HOOKS = """
import os

seen = {"markdown": 0, "context": 0}


def on_pre_build(config):
    seen.update(markdown=0, context=0)


def on_page_markdown(markdown, page, config, files):
    if os.getpid() != int(os.environ["PARENT_PID"]) and os.environ.get("FAIL_IN_COPY"):
        raise RuntimeError("only in the copy")
    seen["markdown"] += 1
    return markdown + f"\\n\\nConverted {seen['markdown']}.\\n"


def on_page_context(context, page, config, nav):
    seen["context"] += 1
    page.meta["description"] = f"Rendered {seen['context']}"
    return context
"""


def hooked_plan(root: Path, monkeypatch: pytest.MonkeyPatch) -> SitePlan:
    """A 30-guide site, spread, whose base configuration has :data:`HOOKS`."""
    monkeypatch.setattr(sitebuild, "SPREAD_PAGES", 10)
    monkeypatch.setenv("PARENT_PID", str(os.getpid()))
    (root / "hooks.py").write_text(HOOKS)
    base = root / "mkdocs.yml"
    base.write_text(f"hooks:\n  - {root / 'hooks.py'}\n")
    return spread_plan(30, base)


def test_a_plugin_that_counts_pages_keeps_the_spread_site_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin that numbers the pages as it sees them gives the copy other Markdown (so
    its conversions are not taken) and other page contexts: pages are rendered into the
    theme in the copy only when every plugin is known to keep no state between pages
    (take that check out and the descriptions come out numbered from the copy)."""
    builder = SiteBuilder(jobs=2)
    ours, theirs = build_both_ways(hooked_plan(tmp_path, monkeypatch), tmp_path, builder)
    assert ours == theirs
    assert builder.spread_pages[1] == 0
    page = (tmp_path / "fast" / "app-029" / "index.html").read_text()
    assert '<meta name="description" content="Rendered 31">' in page


def test_a_copy_that_fails_leaves_the_work_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_IN_COPY", "1")
    builder = SiteBuilder(jobs=2)
    ours, theirs = build_both_ways(hooked_plan(tmp_path, monkeypatch), tmp_path, builder)
    assert ours == theirs
    assert builder.spread_pages == (0, 0)


def test_a_system_that_cannot_fork_now_gets_the_site_built_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of processes (``EAGAIN``) is not a reason to fail a tenant: the pages are then
    all done by this process. (The limit cannot be reached for real here: root is exempt
    from RLIMIT_NPROC, so fork is made to fail as it would.)"""

    def no_fork() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(sitebuild, "SPREAD_PAGES", 10)
    monkeypatch.setattr(os, "fork", no_fork)
    builder = SiteBuilder(jobs=2)
    ours, theirs = build_both_ways(spread_plan(20), tmp_path, builder)
    assert ours == theirs
    assert builder.spread_pages == (0, 0)


# --- docs handed to MkDocs from memory --------------------------------------------------


def test_docs_from_memory_are_what_mkdocs_reads_from_the_docs_folder(tmp_path: Path) -> None:
    """MkDocs walks the docs folder an index first, then files by name, then folders by
    name (``a/`` before ``a-b/``, though ``-`` sorts before ``/``): the pages' order shows in
    the search index. Reading a page gives universal newlines (the front matter of a page
    with Windows or old Mac line ends is found) and drops a byte-order mark."""
    pages = {
        "index.md": "# Home\n",
        "a-b/index.md": "# A-B\n",
        "a/zz.md": "# ZZ\n",
        "a/aa.md": "# AA\n",
        "a/index.md": "\ufeff---\r\ntitle: Windows\r\n---\r\n\r\n# A\r\n\r\nText.\r\n",
        "b/index.md": "---\rtitle: Old Mac\r---\r\r# B\r",
    }
    nav: list[NavItem] = [{"Home": "index.md"}, {"A": "a/index.md"}, {"B": "b/index.md"}]
    plan = SitePlan(
        "Memory", pages, {"a/x.txt": b"one\r\ntwo\r"}, nav, None, {"": Location(tmp_path)}
    )
    ours, theirs = build_both_ways(plan, tmp_path, SiteBuilder())
    assert ours == theirs
    assert not any((tmp_path / "work" / "docs").iterdir())  # nothing written for MkDocs
    index = json.loads((tmp_path / "fast" / "search" / "search_index.json").read_text())
    locations = [d["location"] for d in index["docs"] if "#" not in d["location"]]
    assert locations == [
        "index.html",
        "a/index.html",
        "a/aa.html",
        "a/zz.html",
        "a-b/index.html",
        "b/index.html",
    ]
    assert "<title>Windows - Memory</title>" in (tmp_path / "fast" / "a" / "index.html").read_text()


def test_a_readme_beside_an_index_is_settled_by_mkdocs_from_the_docs_folder(
    tmp_path: Path,
) -> None:
    pages = {"index.md": "# Home\n", "a/index.md": "# Index\n", "a/README.md": "# Readme\n"}
    plan = SitePlan("Readme", pages, {}, [{"Home": "index.md"}], None, {"": Location(tmp_path)})
    ours, theirs = build_both_ways(plan, tmp_path, SiteBuilder())
    assert ours == theirs
    assert any("README.md" in message for message in ours)
    assert "Index" in (tmp_path / "fast" / "a" / "index.html").read_text()


def test_a_builder_lists_the_installed_themes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MkDocs reads every installed package's entry points for the themes on each
    configuration load; a builder's builds read them once, and leave MkDocs' own function
    in place after."""
    import importlib.metadata

    import mkdocs.utils

    groups: list[str] = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs: Any) -> Any:
        groups.append(kwargs["group"])
        return real(**kwargs)

    monkeypatch.setattr(mkdocs.utils, "entry_points", entry_points)
    original = mkdocs.utils.get_themes
    builder = SiteBuilder()
    for number in range(3):
        plan = search_plan(f"Site {number}", {"alpha": "Alpha"})
        builder.build(plan, tmp_path / f"work-{number}", tmp_path / f"site-{number}")
    assert groups == ["mkdocs.themes"]
    assert mkdocs.utils.get_themes is original
    assert "Site 2" in (tmp_path / "site-2" / "index.html").read_text()


def test_a_warmed_builder_compiles_no_theme_template_and_stays_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After :meth:`SiteBuilder.warm` (run while the workers check the guides), a tenant's
    build compiles none of the theme's templates, and gives what the plain build gives."""
    jinja_folder(tmp_path, monkeypatch)  # nothing compiled by earlier runs
    builder = SiteBuilder()
    builder.warm(None, tmp_path / "warm")
    compiled = count_compiles(monkeypatch)
    plan = spread_plan(5)
    builder.build(plan, tmp_path / "work", tmp_path / "fast")
    assert [name for name in compiled if name.endswith(".html")] == []
    build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    assert "main.html" in compiled  # the plain build compiles them
    assert tree(tmp_path / "fast") == tree(tmp_path / "ref")


def test_warming_with_a_base_configuration_mkdocs_refuses_leaves_it_to_the_build(
    tmp_path: Path,
) -> None:
    base = tmp_path / "mkdocs.yml"
    base.write_text("theme:\n  name: no-such-theme\n")
    builder = SiteBuilder()
    builder.warm(base, tmp_path / "warm")  # says nothing: the build will
    with pytest.raises(SiteBuildError):
        builder.build(spread_plan(2, base), tmp_path / "work", tmp_path / "site")


def test_this_process_works_meanwhile_and_results_keep_their_order() -> None:
    done: list[str] = []
    results = batch.in_workers(str.upper, ["a", "b", "c", "d"], 2, lambda: done.append("warm"))
    assert results == ["A", "B", "C", "D"]
    assert done == ["warm"]


def jinja_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where Jinja makes its private bytecode folder, moved into ``tmp_path``."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the templates Jinja compiles from now on."""
    import jinja2

    compiled: list[str] = []
    real = jinja2.Environment.compile

    def compile(self: jinja2.Environment, source: str, name: str | None = None, *a: Any) -> Any:
        compiled.append(name or "")
        return real(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    return compiled


def test_a_new_process_finds_the_theme_compiled_by_an_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A builder (as in the next run's process) loads the theme's templates compiled by an
    earlier one, and builds what the plain build gives."""
    folder = jinja_folder(tmp_path, monkeypatch)
    plan = spread_plan(3)
    SiteBuilder().build(plan, tmp_path / "w1", tmp_path / "first")
    assert list(folder.glob("_jinja2-cache-*/__jinja2_tenantdocs-*.cache"))
    compiled = count_compiles(monkeypatch)
    SiteBuilder().build(plan, tmp_path / "w2", tmp_path / "fast")
    assert [name for name in compiled if name.endswith(".html")] == []
    build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    assert tree(tmp_path / "fast") == tree(tmp_path / "ref")


def test_compiled_templates_that_cannot_be_read_are_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2.bccache

    folder = jinja_folder(tmp_path, monkeypatch)
    plan = spread_plan(3)
    SiteBuilder().build(plan, tmp_path / "w1", tmp_path / "first")
    for kept in folder.glob("_jinja2-cache-*/__jinja2_tenantdocs-*.cache"):
        kept.write_bytes(jinja2.bccache.bc_magic + b"not a pickle")
    compiled = count_compiles(monkeypatch)
    SiteBuilder().build(plan, tmp_path / "w2", tmp_path / "fast")
    assert "main.html" in compiled
    build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    assert tree(tmp_path / "fast") == tree(tmp_path / "ref")


def test_no_folder_for_compiled_templates_or_no_room_in_it_is_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private folder Jinja cannot make or trust (here a file in its place), or a full
    disk when it writes: the site is built all the same."""
    import os
    import tempfile

    plan = spread_plan(3)
    build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    folder = jinja_folder(tmp_path, monkeypatch)
    (folder / f"_jinja2-cache-{os.getuid()}").write_text("not a folder")
    SiteBuilder().build(plan, tmp_path / "w1", tmp_path / "no-folder")
    (folder / f"_jinja2-cache-{os.getuid()}").unlink()

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", full)
    SiteBuilder().build(plan, tmp_path / "w2", tmp_path / "no-room")
    assert tree(tmp_path / "no-folder") == tree(tmp_path / "ref")
    assert tree(tmp_path / "no-room") == tree(tmp_path / "ref")


def test_no_temporary_folder_for_the_warm_up_leaves_the_builds_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    batch.warm_builder(None)  # says nothing: each process loads MkDocs itself, as before


# --- builders of one run in separate processes, handing each other their work ------------

LINKING_GUIDE = """# Configure {app}

See [the beta guide](../beta/index.md) first.

## Sign-in URL

Paste `https://login.example.com/saml2` into the field.
"""


def linking_plan(site_name: str, apps: list[str]) -> SitePlan:
    """A site of the given guides, each linking to ``beta`` (there or not)."""
    pages = {"index.md": "# Home\n\nWelcome.\n"}
    pages.update({f"{app}/index.md": LINKING_GUIDE.format(app=app) for app in apps})
    nav: list[NavItem] = [{"Home": "index.md"}]
    nav += [{app.title(): f"{app}/index.md"} for app in apps]
    return SitePlan(site_name, pages, {}, nav, None, {"": Location(Path("tenants/x.yml"))})


def count_work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many pages Python-Markdown converts and Material's search splits from now on."""
    import markdown
    from material.plugins.search.plugin import Parser

    counts = {"converted": 0, "split": 0}
    convert, feed = markdown.Markdown.convert, Parser.feed

    def counted_convert(self: Any, source: str) -> str:
        counts["converted"] += 1
        return convert(self, source)

    def counted_feed(self: Any, data: str) -> None:
        counts["split"] += 1
        feed(self, data)

    monkeypatch.setattr(markdown.Markdown, "convert", counted_convert)
    monkeypatch.setattr(Parser, "feed", counted_feed)
    return counts


def assert_builds_as_plain(plan: SitePlan, built: Path, tmp_path: Path) -> None:
    build_site(plan, tmp_path / f"ref-work-{built.name}", tmp_path / f"ref-{built.name}")
    assert tree(built) == tree(tmp_path / f"ref-{built.name}")


def test_builders_of_one_run_take_each_others_conversions_only_where_links_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process's builder converts and splits none of the pages the first one
    handed over, unless a page's links resolve differently in its site: ``alpha`` links to
    ``beta``, which the third site lacks (take the first one's conversion there, as with the
    link check disabled, and the link would point at a page that is not in the site)."""
    both = linking_plan("Both", ["alpha", "beta"])
    alone = linking_plan("Alone", ["alpha"])
    with sitebuild.exchange() as shared:
        assert shared is not None
        assert shared.folder.stat().st_mode & 0o077 == 0  # what it holds is unpickled
        first, second, third = SiteBuilder(), SiteBuilder(), SiteBuilder()
        first.exchange = second.exchange = third.exchange = shared
        first.build(both, tmp_path / "w1", tmp_path / "first")
        counts = count_work(monkeypatch)
        second.build(both, tmp_path / "w2", tmp_path / "second")
        assert counts == {"converted": 0, "split": 0}
        third.build(alone, tmp_path / "w3", tmp_path / "third")
        assert counts == {"converted": 1, "split": 1}  # alpha, whose link went nowhere
    assert not shared.folder.exists()
    monkeypatch.undo()
    assert_builds_as_plain(both, tmp_path / "second", tmp_path)
    assert_builds_as_plain(alone, tmp_path / "third", tmp_path)


# --- HTML blocks left out of what is converted -------------------------------------------


def block_plan(name: str, guide: str, base_config: Path | None = None) -> SitePlan:
    """A home and one guide page (``guide``, its Markdown as it is)."""
    pages = {"index.md": "# Home\n\nWelcome.\n", "app/index.md": guide}
    nav: list[NavItem] = [{"Home": "index.md"}, {"App": "app/index.md"}]
    return SitePlan(name, pages, {}, nav, base_config, {"": Location(Path("tenants/x.yml"))})


def guide_with_block(body: str) -> str:
    return f"# Configure the app\n\nPaste the URL.\n\n{html_block(body)}\n\n## Next\n\nDone.\n"


def test_pages_whose_html_blocks_differ_are_converted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same guide with another certificate table (another tenant, or the same one after
    # its metadata moved to a file): its HTML block is put back into the HTML converted once.
    one = block_plan("One", guide_with_block("<table><tr><td>one</td></tr></table>"))
    two = block_plan("Two", guide_with_block("<div>\n<p>two &amp; <code>2</code></p>\n</div>"))
    builder = SiteBuilder()
    builder.build(one, tmp_path / "w1", tmp_path / "one")
    counts = count_work(monkeypatch)
    builder.build(two, tmp_path / "w2", tmp_path / "two")
    assert counts == {"converted": 0, "split": 1}  # the guide's sections differ: split again
    monkeypatch.undo()
    assert_builds_as_plain(one, tmp_path / "one", tmp_path)
    assert_builds_as_plain(two, tmp_path / "two", tmp_path)


BLOCKS_CONVERTING_CHANGES = {
    # Python-Markdown expands tabs, drops its own markers and empties lines of spaces
    # everywhere, and reads fences before it sets comments aside.
    "tab": guide_with_block("<p>a\tb</p>"),
    "marker": guide_with_block("<p>a\x02b</p>"),
    "spaces": "# Guide\n\n<!--tenantdocs:html\n<p>a</p>\n   \n<p>b</p>\n-->\n",
    "fence": guide_with_block("<p>code:</p>\n```\nprint(1)\n```"),
    # A block that is not one: shown as code, so it must be converted as written.
    "in code": "# Guide\n\n```\n<!--tenantdocs:html\n<p>shown</p>\n-->\n```\n",
}


@pytest.mark.parametrize("guide", BLOCKS_CONVERTING_CHANGES.values(), ids=BLOCKS_CONVERTING_CHANGES)
def test_html_blocks_that_converting_would_change_are_converted_with_the_page(
    tmp_path: Path, guide: str
) -> None:
    plan = block_plan("Site", guide)
    SiteBuilder().build(plan, tmp_path / "work", tmp_path / "built")
    assert_builds_as_plain(plan, tmp_path / "built", tmp_path)


@pytest.mark.parametrize("held", ["\t", "\r", "\x02", "\x03", "```", "~~~", "\n  \n"])
def test_a_block_holding_what_converting_changes_is_not_left_out(held: str) -> None:
    guide = f"# Guide\n\n<!--tenantdocs:html\n<p>a{held}b</p>\n-->\n"
    assert stub_html_blocks(guide) is None
    assert stub_html_blocks(guide.replace(held, " ")) is not None


@pytest.mark.parametrize("block", ["<p>kept</p>", "in code"])
def test_what_mkdocs_says_converting_a_page_without_its_blocks_is_said_once(
    tmp_path: Path, block: str
) -> None:
    # Said when the page is kept; when its stubs did not come through (a block shown as
    # code) it is dropped, and said again converting the page as it is.
    (tmp_path / "mkdocs.yml").write_text("validation:\n  links:\n    absolute_links: warn\n")
    page = BLOCKS_CONVERTING_CHANGES[block] if block == "in code" else guide_with_block(block)
    guide = page + "\nSee [the portal](/nowhere/).\n"
    plan = block_plan("Site", guide, tmp_path / "mkdocs.yml")
    found = SiteBuilder().build(plan, tmp_path / "work", tmp_path / "built")
    reference = build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    assert [p.message for p in found] == [p.message for p in reference]
    assert ["nowhere" in p.message for p in found] == [True]


def test_html_blocks_under_an_extension_that_reads_comments_are_converted_with_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Snippets puts a file in wherever a line names it, in comments too.
    (tmp_path / "mkdocs.yml").write_text("markdown_extensions: [pymdownx.snippets]\n")
    (tmp_path / "note.txt").write_text("<p>from the snippet</p>\n")
    monkeypatch.chdir(tmp_path)
    plan = block_plan(
        "Site", guide_with_block('<p>see:</p>\n--8<-- "note.txt"'), tmp_path / "mkdocs.yml"
    )
    SiteBuilder().build(plan, tmp_path / "work", tmp_path / "built")
    assert "from the snippet" in (tmp_path / "built" / "app" / "index.html").read_text()
    assert_builds_as_plain(plan, tmp_path / "built", tmp_path)


def test_html_blocks_are_converted_with_the_page_when_a_plugin_converts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page

    config = MkDocsConfig()
    config["markdown_extensions"] = ["toc", "tables", "fenced_code", "admonition"]
    assert sitebuild._blocks_pass_through(config)
    render = Page.render

    def replaced(self: Any, config: Any, files: Any) -> None:  # reads the Markdown its way
        render(self, config, files)

    monkeypatch.setattr(Page, "render", replaced)
    assert not sitebuild._blocks_pass_through(config)


def test_what_another_process_handed_over_that_cannot_be_read_is_worked_out_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = linking_plan("Both", ["alpha", "beta"])
    with sitebuild.exchange() as shared:
        assert shared is not None
        first, second = SiteBuilder(), SiteBuilder()
        first.exchange = second.exchange = shared
        first.build(plan, tmp_path / "w1", tmp_path / "first")
        handed = sorted(shared.folder.iterdir())
        assert len(handed) == 6  # three pages' conversions and search sections
        for entry in handed:
            entry.write_bytes(b"not a pickle")
        counts = count_work(monkeypatch)
        second.build(plan, tmp_path / "w2", tmp_path / "second")
        assert counts == {"converted": 3, "split": 3}
    monkeypatch.undo()
    assert_builds_as_plain(plan, tmp_path / "second", tmp_path)


def test_work_that_cannot_be_handed_over_is_kept_to_the_process(tmp_path: Path) -> None:
    """What pickle refuses, a folder that cannot be written, or a process past its limit
    hands nothing over."""
    shared = sitebuild.Exchange(tmp_path)
    shared.put("conversion", "key", lambda: None)
    assert list(tmp_path.iterdir()) == []
    shared.put("conversion", "key", "a value")
    assert shared.get("conversion", "key") == "a value"
    gone = sitebuild.Exchange(tmp_path / "gone")
    gone.put("conversion", "key", "a value")
    assert gone.get("conversion", "key") is None
    # Past its limit, a process hands nothing more over (the folder stays bounded).
    small = sitebuild.Exchange(tmp_path / "small", limit=100)
    small.folder.mkdir()
    small.put("conversion", "first", "x" * 50)
    small.put("conversion", "second", "y" * 60)
    assert small.get("conversion", "first") == "x" * 50
    assert small.get("conversion", "second") is None


def test_no_temporary_folder_for_an_exchange_leaves_each_process_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with sitebuild.exchange() as shared:
        assert shared is None


# --- the navigation rendered once per build, for the pages that show it alike -------------


def nested_plan(base_config: Path) -> SitePlan:
    """Sections three deep, one folder's pages in two sections, pages two folders deep
    and a relative link out: the navigation looks different from almost every page."""
    pages = {
        path: f"# {path}\n\n## Steps\n\nText.\n"
        for path in (
            "index.md",
            "a/index.md",
            "a/more.md",
            "b/index.md",
            "c/index.md",
            "c/d/index.md",
            "elsewhere/index.md",
        )
    }
    nav: list[NavItem] = [
        {"Home": "index.md"},
        {"One": [{"A": "a/index.md"}, {"Deeper": [{"B": "b/index.md"}]}]},
        {
            "Two": [
                {"A more": "a/more.md"},
                {"C": "c/index.md"},
                {"Deepest": [{"D": "c/d/index.md"}, {"E": "elsewhere/index.md"}]},
                {"Out": "../elsewhere/"},
            ]
        },
    ]
    return SitePlan("Nested", pages, {}, nav, base_config, {"": Location(base_config)})


def count_macro_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Material macros rendered from now on (the navigation's, the translations'), by
    template file name."""
    from jinja2.runtime import Macro

    rendered: list[str] = []
    real = Macro._invoke

    def invoke(self: Macro, arguments: list[Any], autoescape: bool) -> Any:
        name = Path(self._func.__code__.co_filename).name
        if (self.name, name) in {("render", "nav-item.html"), ("t", "language.html")}:
            rendered.append(name)
        return real(self, arguments, autoescape)

    monkeypatch.setattr(Macro, "_invoke", invoke)
    return rendered


@pytest.mark.parametrize(
    "features",
    [[], ["navigation.tabs", "navigation.sections"], ["navigation.prune"]],
    ids=["default", "tabs-sections", "prune"],
)
def test_navigation_parts_rendered_once_are_what_each_page_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, features: list[str]
) -> None:
    """A part of the navigation is rendered once for the pages it looks the same from (and
    each text of the interface once per build). It
    is not where it holds the page (take out the check of the item's active mark), where it
    links into the page's own folder (look it up by the folder's depth alone), where its
    parent's state shows (tabs with sections; leave the parent out of the key) and where it
    holds an item other than pages and sections (the link out)."""
    base = tmp_path / "mkdocs.yml"
    base.write_text(f"theme:\n  name: material\n  features: {json.dumps(features)}\n")
    plan = nested_plan(base)
    rendered = count_macro_renders(monkeypatch)
    SiteBuilder().build(plan, tmp_path / "work", tmp_path / "fast")
    ours = collections.Counter(rendered)
    rendered.clear()
    build_site(plan, tmp_path / "ref-work", tmp_path / "ref")
    assert tree(tmp_path / "fast") == tree(tmp_path / "ref")
    theirs = collections.Counter(rendered)
    for name in ("nav-item.html", "language.html"):
        assert 0 < ours[name] < theirs[name]


OWN_NAV_ITEM = """\
{% macro render(nav_item, path, level, parent) %}
<li>{{ nav_item.title }} seen from {{ page.title if page else "nowhere" }}</li>
{% endmacro %}
"""
OWN_NAV = """\
{% import "partials/nav-item.html" as item with context %}
<nav class="md-nav md-nav--primary"><ul>
{% for nav_item in nav.items %}
  {% if nav_item.children %}
    {{ item.render(nav_item, "__nav_" ~ loop.index, level=1) }}
  {% else %}
    {{ item.render(nav_item, "__nav_" ~ loop.index) }}
  {% endif %}
  {% for child in nav_item.children or [] %}
    {{ item.render(child, "__nav_" ~ loop.index, 2, parent=nav_item) }}
  {% endfor %}
{% endfor %}
</ul></nav>
"""


OWN_LANGUAGE = """\
{% macro t(key) %}{{ key }} on {{ page.title if page else "no page" }}{% endmacro %}
"""


@pytest.mark.parametrize(
    "override",
    [("nav-item.html", OWN_NAV_ITEM), ("nav.html", OWN_NAV), ("language.html", OWN_LANGUAGE)],
    ids=["item", "calls", "language"],
)
def test_a_theme_with_macros_of_its_own_gets_them_rendered_each_time(
    tmp_path: Path, override: tuple[str, str]
) -> None:
    """Only Material's own macros, called as Material calls them, are remembered: an
    override of one may read the page (take out the check of the template's file), and
    calls with other arguments (two of them; the parent by name, which the key would miss)
    are rendered as they come (take out the check of the arguments)."""
    name, text = override
    (tmp_path / "overrides" / "partials").mkdir(parents=True)
    (tmp_path / "overrides" / "partials" / name).write_text(text)
    base = tmp_path / "mkdocs.yml"
    base.write_text(
        "theme:\n  name: material\n  custom_dir: overrides\n"
        "  features: [navigation.tabs, navigation.sections]\n"
    )
    build_both_ways(nested_plan(base), tmp_path, SiteBuilder())
    page = (tmp_path / "fast" / "c" / "index.html").read_text()
    if name == "nav-item.html":
        assert "One seen from C" in page
    if name == "language.html":
        assert "search.placeholder on C" in page


URL_HOOK = """
def on_env(env, config, files):
    url = env.filters["url"]
    env.filters["url"] = lambda context, value: url(context, value) + "?from=" + str(
        context["page"].url if context["page"] else ""
    )
    env.filters["url"].jinja_pass_arg = url.jinja_pass_arg
    return env
"""
NAVIGATION_HOOK = """
from collections import namedtuple

Navigation = namedtuple("Navigation", "items pages homepage")


def on_page_context(context, page, config, nav):
    if page.url.startswith("a/"):
        context["nav"] = Navigation(nav.items, nav.pages, nav.homepage)
    return context
"""


@pytest.mark.parametrize("hook", [URL_HOOK, NAVIGATION_HOOK], ids=["url", "navigation"])
def test_links_made_another_way_or_a_navigation_without_weak_references_are_rendered_each_time(
    tmp_path: Path, hook: str
) -> None:
    """A plugin's own ``url`` filter may put anything in a link (take out the check of the
    filter), and a plugin may hand the theme a navigation the memory of a build cannot be
    kept by: it is then rendered as it comes (take out that fallback and the build fails)."""
    (tmp_path / "hooks.py").write_text(hook)
    base = tmp_path / "mkdocs.yml"
    base.write_text(f"theme:\n  name: material\nhooks:\n  - {tmp_path / 'hooks.py'}\n")
    build_both_ways(nested_plan(base), tmp_path, SiteBuilder())
    if hook == URL_HOOK:
        page = (tmp_path / "fast" / "c" / "index.html").read_text()
        assert 'href="../b/index.html?from=c/index.html"' in page


def test_what_one_build_rendered_is_not_given_to_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build's navigation items are known by identity, which Python gives to new objects
    once old ones are gone: the test makes that happen every time (an item's identity is
    its title and link), and the second build, whose sections hold other titles, is still
    its own (look a build up without its navigation and it shows the first build's)."""

    def identity(item: Any) -> int:
        return hash(
            (type(item).__name__, str(getattr(item, "title", "")), getattr(item, "url", None))
        )

    monkeypatch.setattr(sitebuild, "id", identity, raising=False)
    base = tmp_path / "mkdocs.yml"
    base.write_text("theme:\n  name: material\n")
    builder = SiteBuilder()
    first = nested_plan(base)
    builder.build(first, tmp_path / "first-work", tmp_path / "first")
    renamed = json.loads(json.dumps(first.nav).replace('"B"', '"Be"').replace('"D"', '"De"'))
    build_both_ways(replace(first, nav=renamed), tmp_path, builder)
    assert "Be" in (tmp_path / "fast" / "index.html").read_text()


# --- what a run hands between its processes, and the theme files it links ----------------


def test_a_builder_hands_over_only_the_pages_another_process_may_build(tmp_path: Path) -> None:
    """Writing a file for each guide costs more than it saves where no other process will
    read it: only the pages listed are handed over (take out the check and all three are)."""
    plan = linking_plan("Both", ["alpha", "beta"])
    with sitebuild.exchange() as shared:
        assert shared is not None
        builder = SiteBuilder()
        builder.exchange, builder.handed_over = shared, frozenset({"alpha/index.md"})
        builder.build(plan, tmp_path / "work", tmp_path / "fast")
        assert len(list(shared.folder.iterdir())) == 2  # alpha's conversion and sections
    assert_builds_as_plain(plan, tmp_path / "fast", tmp_path)


def test_the_guides_handed_over_are_those_two_tenants_of_the_window_use() -> None:
    plans = [
        linking_plan("One", ["alpha", "beta"]),
        linking_plan("Two", ["alpha", "gamma"]),
        linking_plan("Three", ["delta"]),
    ]
    assert batch.guides_in_common(plans) == {"alpha/index.md"}  # homes are each their own


def test_every_tenant_site_links_one_copy_of_each_theme_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tenants with their own apps and tenants filled in from a shared run: their theme
    files are one file, and the copy the run kept is gone when it ends."""
    make_workload(tmp_path, 5)
    monkeypatch.chdir(tmp_path)
    assert_exact(tmp_path, "--jobs", "2")
    bundles = sorted((tmp_path / "fast").glob("*/assets/javascripts/bundle.*.min.js"))
    assert len(bundles) == 5
    assert len({path.stat().st_ino for path in bundles}) == 1
    assert bundles[0].stat().st_nlink == 5
    assert list((tmp_path / "fast" / ".tenantdocs").rglob("theme.*")) == []


WRITING_HOOK = """
from pathlib import Path


def on_post_build(config):
    with (Path(config.site_dir) / "assets" / "extra.js").open("a") as script:
        script.write("// and a line from a hook")
"""


@pytest.mark.parametrize("change", ["edit", "hook"])
def test_an_edited_theme_file_or_a_plugin_that_writes_into_one_is_kept_apart(
    tmp_path: Path, change: str
) -> None:
    """A kept copy is known by its source's size and time, so an edited theme file is
    copied again (key the copy by its path alone and the second site gets the first
    file); with a plugin that could write into the site's files (a minifier, this hook),
    nothing is linked (link regardless and the first build's hook writes into the kept
    copy, which the second site then gets with two lines added)."""
    overrides = tmp_path / "overrides" / "assets"
    overrides.mkdir(parents=True)
    script = overrides / "extra.js"
    script.write_text("// first\n")
    base = tmp_path / "mkdocs.yml"
    settings = "theme:\n  name: material\n  custom_dir: overrides\n"
    if change == "hook":
        (tmp_path / "hooks.py").write_text(WRITING_HOOK)
        settings += f"hooks:\n  - {tmp_path / 'hooks.py'}\n"
    base.write_text(settings)
    plan = nested_plan(base)
    builder = SiteBuilder()
    builder.theme_files = tmp_path / "store"
    builder.theme_files.mkdir()
    builder.build(plan, tmp_path / "first-work", tmp_path / "first")
    if change == "edit":
        script.write_text("// the second, longer\n")
    build_both_ways(plan, tmp_path, builder)
    published = (tmp_path / "fast" / "assets" / "extra.js").read_text()
    if change == "edit":
        assert published == "// the second, longer\n"
        assert (tmp_path / "fast" / "assets" / "extra.js").stat().st_nlink == 2  # linked
    else:
        assert published == "// first\n// and a line from a hook"


def test_a_theme_file_that_cannot_be_linked_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another file system, or a file at its limit of links: MkDocs' copy (take out the
    fallback and the build fails)."""

    def refuse(source: Any, target: Any) -> None:
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(os, "link", refuse)
    builder = SiteBuilder()
    builder.theme_files = tmp_path / "store"
    builder.theme_files.mkdir()
    build_both_ways(linking_plan("Both", ["alpha", "beta"]), tmp_path, builder)


def test_a_dirty_build_never_writes_through_a_link(tmp_path: Path) -> None:
    """MkDocs copies an edited theme file over the old one in a dirty build; into a linked
    file that would change every site sharing it (take out the unlink and the kept copy
    changes)."""
    from mkdocs.structure.files import File, Files

    theme, site = tmp_path / "theme", tmp_path / "site"
    (theme / "assets").mkdir(parents=True)
    source = theme / "assets" / "extra.js"
    source.write_text("// first\n")
    store = tmp_path / "store"
    store.mkdir()
    plugin = sitebuild._linked_theme_files(store, [])
    theme_settings = type("Theme", (), {"dirs": [str(theme)]})()
    config = type("Config", (), {"theme": theme_settings, "plugins": {}})()
    files = plugin.on_files(
        Files([File("assets/extra.js", str(theme), str(site), False)]), config=config
    )
    file = files.get_file_from_path("assets/extra.js")
    file.copy_file(dirty=False)
    (kept,) = store.iterdir()
    source.write_text("// edited, and longer\n")
    file.copy_file(dirty=True)
    assert (site / "assets" / "extra.js").read_text() == "// edited, and longer\n"
    assert kept.read_text() == "// first\n"


# --- one Python-Markdown instance for every page ---------------------------------------------

STATEFUL_EXTENSIONS = [
    *sitebuild.DEFAULT_EXTENSIONS,
    "footnotes",
    "abbr",
    "def_list",
    "pymdownx.tabbed",
]
"""The sites' extensions and others that keep state between a document's parts."""

STATEFUL_PAGE = """# Title[^1]

*[SSO]: Single sign-on

=== "First"

    SSO in a tab.

=== "Second"

    ```text
    copied %metadata:IssuerUri%
    ```

Term
:   Definition

[^1]: A footnote.
"""


def mkdocs_config(tmp_path: Path, extensions: list[Any]) -> Any:
    from mkdocs.config.defaults import MkDocsConfig

    (tmp_path / "docs").mkdir(exist_ok=True)
    config = MkDocsConfig()
    config.load_dict(
        {
            "site_name": "Test",
            "docs_dir": str(tmp_path / "docs"),
            "site_dir": str(tmp_path / "site"),
            "markdown_extensions": copy.deepcopy(extensions),  # MkDocs consumes what it gets
        }
    )
    errors, _ = config.validate()
    assert errors == []
    return config


def converted(render: Any, text: str, config: Any) -> tuple[Any, ...]:
    """What ``render`` (``Page.render`` or a kept instance's) makes of ``text``."""
    from mkdocs.structure.files import File, Files
    from mkdocs.structure.pages import Page

    file = File("guide/index.md", config.docs_dir, config.site_dir, False)
    page = Page(None, file, config)
    page.markdown = text
    render(page, config, Files([file]))
    return page.content, outline(page.toc.items), page._title_from_render, page.present_anchor_ids


def outline(items: Any) -> list[Any]:
    return [(i.title, i.id, i.level, outline(i.children)) for i in items]


def test_one_kept_markdown_converts_every_guide_as_a_new_one_would(tmp_path: Path) -> None:
    from mkdocs.structure.pages import Page

    texts = [STATEFUL_PAGE, STATEFUL_PAGE.replace("Title", "Other"), GUIDE]
    if CORPUS.is_dir():
        texts += [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*/*.md"))]
    random.Random(7).shuffle(texts)
    config = mkdocs_config(tmp_path, STATEFUL_EXTENSIONS)
    kept = sitebuild._KeptMarkdown()
    made = []
    for text in texts:
        assert converted(kept.render, text, config) == converted(Page.render, text, config)
        made.append(kept._kept)
    assert made[0] is not None and all(m is made[0] for m in made)  # one instance for all


def lent(kept: Any, extensions: list[Any], configs: dict[str, Any] | None = None) -> Any:
    """The instance ``kept`` lends, given back as after a conversion that ended well."""
    md = kept.Markdown(extensions=extensions, extension_configs=configs or {})
    kept._kept, kept._lent = kept._lent, None
    return md


def numbered() -> Any:
    """An extension from elsewhere that numbers the documents it converts, past ``reset``."""
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class Numbering(Treeprocessor):
        documents = 0

        def run(self, root: Any) -> None:
            self.documents += 1
            root[0].set("data-n", str(self.documents))

    class Numbered(Extension):
        def extendMarkdown(self, md: Any) -> None:
            md.treeprocessors.register(Numbering(md), "numbering", 3)

    return Numbered()


def test_a_kept_markdown_is_lent_only_as_a_new_one_would_be() -> None:
    from markdown.treeprocessors import Treeprocessor

    kept = sitebuild._KeptMarkdown()
    first = lent(kept, ["toc"])
    assert lent(kept, ["toc"]) is first
    # Another configuration gets another instance.
    assert lent(kept, ["toc"], {"toc": {"permalink": True}}) is not first

    # Something registered for one page only (not MkDocs' per-page processors): a new one.
    again = lent(kept, ["toc"])
    again.treeprocessors.register(Treeprocessor(again), "one-page-only", 3)
    assert lent(kept, ["toc"]) is not again

    # An extension from elsewhere may keep state past reset: a new instance every time.
    extension = numbered()
    foreign = lent(kept, ["toc", extension])
    assert lent(kept, ["toc", extension]) is not foreign


def test_a_conversion_that_failed_leaves_its_instance_unused(tmp_path: Path) -> None:
    from mkdocs.structure.files import File
    from mkdocs.structure.pages import Page

    config = mkdocs_config(tmp_path, ["toc"])
    kept = sitebuild._KeptMarkdown()
    converted(kept.render, "# Kept", config)
    good = kept._kept
    page = Page(None, File("a.md", config.docs_dir, config.site_dir, False), config)
    page.markdown = "# Heading\n\n[a link](b.md)"
    with pytest.raises(AttributeError):  # MkDocs' link processor, halfway through
        kept.render(page, config, None)
    assert kept._lent is good
    converted(kept.render, "# Next", config)
    assert kept._kept is not None and kept._kept is not good


def test_an_extension_that_keeps_state_past_reset_is_converted_anew(tmp_path: Path) -> None:
    from mkdocs.structure.pages import Page

    config = mkdocs_config(tmp_path, ["toc"])
    config.markdown_extensions.append(numbered())
    kept = sitebuild._KeptMarkdown()
    for text in ["# One", "# Two", "# Three"]:
        assert converted(kept.render, text, config) == converted(Page.render, text, config)


REPLACING_HOOKS = {
    "Page.render": """
from mkdocs.structure import pages

if not hasattr(pages.Page.render, "replaced"):
    original = pages.Page.render

    def render(self, config, files):
        original(self, config, files)
        self.content += "<p>rendered by a plugin</p>"

    render.replaced = True
    pages.Page.render = render
""",
    "what it uses": """
from mkdocs.structure import pages
from mkdocs.structure.toc import get_toc


def on_config(config):
    # What Page.render uses from its module, replaced only now: no table of contents.
    pages.get_toc = lambda tokens: get_toc([])
""",
}


@pytest.mark.parametrize("replaced", sorted(REPLACING_HOOKS))
def test_a_plugin_that_replaces_what_mkdocs_converts_with_is_obeyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replaced: str
) -> None:
    from mkdocs.structure import pages

    monkeypatch.setattr(pages.Page, "render", pages.Page.render)  # put back afterwards
    from mkdocs.structure.toc import get_toc

    monkeypatch.setattr(pages, "get_toc", get_toc)
    builder = SiteBuilder()
    builder.warm(None, tmp_path / "warm")  # converts pages before any plugin replaced anything
    (tmp_path / "hooks.py").write_text(REPLACING_HOOKS[replaced])
    base = tmp_path / "mkdocs.yml"
    base.write_text(f"hooks:\n  - {tmp_path / 'hooks.py'}\n")
    build_both_ways(spread_plan(3, base), tmp_path, builder)
    page = (tmp_path / "fast" / "app-001" / "index.html").read_text()
    assert ("rendered by a plugin" in page) == (replaced == "Page.render")
    in_contents = page.count('href="#sign-in-at') > 1  # the heading's own link, and more
    assert in_contents == (replaced == "Page.render")


# --- the search split -----------------------------------------------------------------------

SPLIT_TAGS = (
    *("p", "div", "span", "em", "table", "td", "a", "code", "pre", "li", "ol", "ul"),
    *("sub", "sup", "h1", "h2", "h3", "h6", "script", "style", "object", "br", "img", "hr"),
)
SPLIT_TEXTS = ("word", "two words", " ", "\n", "\n  \n", "a\nb", "&amp; &lt;x&gt;", "x &#39; y", "")


def random_html(rng: random.Random, depth: int = 0) -> str:
    """HTML with what decides how a page is split: headings with and without IDs (nested
    too), kept and skipped tags, permalinks, excluded and line-number elements, empty
    elements, whitespace, entities, void, unclosed, stray and self-closed tags."""
    parts = []
    for _ in range(rng.randint(0, 5 if depth < 4 else 1)):
        roll = rng.random()
        if roll < 0.3:
            parts.append(rng.choice(SPLIT_TEXTS))
            continue
        if roll < 0.35:
            parts.append(f"</{rng.choice(SPLIT_TAGS)}>")  # stray, or closing an outer one
            continue
        tag = rng.choice(SPLIT_TAGS)
        attrs = []
        if tag.startswith("h") and rng.random() < 0.7:
            attrs.append(f'id="s{rng.randint(0, 99)}"')
        if tag == "a" and rng.random() < 0.5:
            attrs.append('class="headerlink"')
        if rng.random() < 0.08:
            attrs.append("data-search-exclude")
        if tag == "div" and rng.random() < 0.1:
            attrs.append('class="linenodiv"')
        if rng.random() < 0.05:
            attrs.append('class="other"')  # a second class: the last one counts
        opening = f"<{tag}{''.join(' ' + a for a in attrs)}>"
        if rng.random() < 0.04:
            parts.append(opening.replace(">", "/>"))
            continue
        inner = random_html(rng, depth + 1)
        closing = "" if rng.random() < 0.1 else f"</{tag}>"
        parts.append(opening + inner + closing)
    return "".join(parts)


def split_of(parser_class: type[Any], text: str) -> Any:
    """Everything a split gives the index, or the error it ends in."""
    parser = parser_class()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # Material's own parser fails on some HTML: so must the other
        return type(exc).__name__
    return [
        (s.el.tag, s.el.attrs, s.depth, s.id, s.title, s.text, s.is_excluded()) for s in parser.data
    ]


def test_search_split_by_counted_tags_gives_materials_split_of_any_html() -> None:
    """The faster search split gives what Material's own parser gives, on random HTML and on
    every corpus guide converted as MkDocs converts it (whichever parser the build uses:
    the mirrored one is checked here even when the installed Material is another)."""
    import markdown
    from material.plugins.search import plugin

    counted = sitebuild.counted_split(plugin)
    rng = random.Random(20261207)
    pages = [random_html(rng) for _ in range(4000)]
    extensions = [sitebuild._extension_name(e) for e in sitebuild.DEFAULT_EXTENSIONS]
    configs = {
        sitebuild._extension_name(e): next(iter(e.values()))
        for e in sitebuild.DEFAULT_EXTENSIONS
        if isinstance(e, dict)
    }
    converter = markdown.Markdown(extensions=extensions, extension_configs=configs)
    pages += [converter.reset().convert(p.read_text()) for p in sorted(CORPUS.glob("*/*.md"))]
    differ = [p for p in pages if split_of(counted, p) != split_of(plugin.Parser, p)]
    assert differ == []
    splits = [split_of(plugin.Parser, p) for p in pages[:4000]]
    failing = sum(isinstance(split, str) for split in splits)
    titled = sum(any(s[4] for s in split[1:]) for split in splits if not isinstance(split, str))
    assert failing > 0 and titled > 100  # the random pages reach both
    if sitebuild._split_digest(plugin) != sitebuild.SPLIT_MIRRORED:
        pytest.skip("the installed Material splits otherwise: the build uses its own parser")


@pytest.mark.parametrize("differs", ["void tags", "parser source", "no source"])
def test_search_split_is_materials_own_unless_material_is_the_one_mirrored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, differs: str
) -> None:
    """A Material whose parser, element, section or void tags differ from the mirrored ones
    (a new release), or whose source cannot be read, splits pages with its own parser."""
    from material.plugins.search import plugin

    sitebuild.search_parser.cache_clear()
    try:
        if sitebuild._split_digest(plugin) == sitebuild.SPLIT_MIRRORED:
            assert sitebuild.search_parser() is not plugin.Parser
            assert issubclass(sitebuild.search_parser(), plugin.Parser)
        sitebuild.search_parser.cache_clear()
        if differs == "void tags":
            monkeypatch.setattr(plugin, "void", {*plugin.void, "video"})
        else:
            source = Path(plugin.__file__).read_text(encoding="utf-8")
            changed = source.replace('"sub", "sup"', '"sub", "sup", "mark"')
            assert changed != source
            if differs == "parser source":
                (tmp_path / "plugin.py").write_text(changed)
            monkeypatch.setattr(plugin, "__file__", str(tmp_path / "plugin.py"))
        assert sitebuild.search_parser() is plugin.Parser
    finally:
        monkeypatch.undo()
        sitebuild.search_parser.cache_clear()
