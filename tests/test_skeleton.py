"""Sentinels for sharing one MkDocs run: the pure parts, and the check of a built skeleton."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path

from tenantdocs.errors import Location
from tenantdocs.sitebuild import SitePlan
from tenantdocs.skeleton import (
    SENTINEL,
    Sentinelized,
    _longest_of,
    fill_in_place,
    fill_text,
    guides_only,
    marked,
    revalued,
    sentinel,
    sentinelize,
    sentinelize_marked,
    skeleton_problem,
    varying_roles,
)
from tenantdocs.values import Origin, Provenance, ResolvedValue, ValueSet

LOGIN = "https://login.example/11bb11bb/saml2"


def plan(page: str, name: str = "Contoso Ltd") -> SitePlan:
    """A one-page site plan."""
    return SitePlan(
        site_name=name,
        pages={"app/index.md": page},
        files={},
        nav=[{"Home": "index.md"}, {"App": "app/index.md"}],
        base_config=None,
        sources={"": Location(Path("tenants/contoso.yml"))},
    )


def test_sentinels_are_fixed_per_role_and_look_alike() -> None:
    first, second = sentinel("app:IssuerUri"), sentinel("tenant:name")
    assert first == sentinel("app:IssuerUri") != second
    assert SENTINEL.fullmatch(first) and SENTINEL.fullmatch(second)


def test_varying_roles() -> None:
    assert varying_roles([]) == set()
    tenants = [
        [("tenant:name", "Contoso"), ("app:url", LOGIN), ("app:only here", "x")],
        [("tenant:name", "Fabrikam"), ("app:url", LOGIN)],
    ]
    assert varying_roles(tenants) == {"tenant:name", "app:only here"}


def test_plain_varying_values_become_sentinels_and_come_back() -> None:
    site = plan(f"Sign in at {LOGIN} as Contoso Ltd.\n")
    roles = [("tenant:name", "Contoso Ltd"), ("app:url", LOGIN)]
    shared = sentinelize(site, roles, {"tenant:name", "app:url"})
    assert shared is not None
    name, url = sentinel("tenant:name"), sentinel("app:url")
    assert shared.site.site_name == name
    assert shared.site.pages["app/index.md"] == f"Sign in at {url} as {name}.\n"
    assert dict(shared.values) == {name: "Contoso Ltd", url: LOGIN}
    assert fill_text(shared.site.pages["app/index.md"], shared.values) == site.pages["app/index.md"]


def test_tenants_that_differ_only_in_plain_values_get_one_key() -> None:
    varying = {"tenant:name"}
    one = sentinelize(plan("Hello Contoso Ltd\n"), [("tenant:name", "Contoso Ltd")], varying)
    other = sentinelize(
        plan("Hello Fabrikam Inc\n", "Fabrikam Inc"), [("tenant:name", "Fabrikam Inc")], varying
    )
    assert one is not None and other is not None
    assert one.key == other.key
    assert one.site == other.site


def test_values_escaping_could_change_are_not_shared() -> None:
    # `&` is escaped in HTML: such a value would not stand where its sentinel stands.
    site = plan("Hello A&B Corp\n", "A&B Corp")
    assert sentinelize(site, [("tenant:name", "A&B Corp")], {"tenant:name"}) is None
    # A value that does not vary is text like any other.
    assert sentinelize(plan("Hi Contoso Ltd\n"), [("tenant:name", "Contoso Ltd")], set()) is None


def test_inputs_that_already_hold_sentinel_text_are_not_shared() -> None:
    site = plan("Contoso Ltd wrote zqxtdv here\n")
    assert sentinelize(site, [("tenant:name", "Contoso Ltd")], {"tenant:name"}) is None


def test_each_place_gets_the_longest_value_that_starts_there() -> None:
    # The values as a tree of their beginnings match as the plain list of them, longest
    # first, would: a URL and the same URL with more after it, a value inside another.
    def plainly(values: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))

    rng = random.Random(7)
    for _ in range(2000):
        values = tuple(
            sorted({"".join(rng.choices("ab:/.", k=rng.randint(1, 6))) for _ in range(8)})
        )
        text = "".join(rng.choices("ab:/.x", k=60))
        ours = [(m.start(), m.group()) for m in _longest_of(values).finditer(text)]
        assert ours == [(m.start(), m.group()) for m in plainly(values).finditer(text)]
    # Each value beginning the next, too many for a tree to be written: still the longest.
    nested = tuple("a" * n for n in range(1, 1200))
    found = _longest_of(nested).match("a" * 2000)
    assert found is not None and found.group() == "a" * 1199


def test_fill_text_leaves_an_unknown_sentinel() -> None:
    unknown = sentinel("other:role")
    assert fill_text(f"a {unknown} b", {sentinel("x"): "y"}) == f"a {unknown} b"


def test_a_built_skeleton_is_checked_for_every_trace_of_a_sentinel(tmp_path: Path) -> None:
    mark = sentinel("tenant:name")
    (tmp_path / "index.html").write_text(f"<h1>{mark}</h1>", encoding="utf-8")
    assert skeleton_problem(tmp_path, {mark: "Contoso Ltd"}) is None
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "index.html").write_text(f'<a id="{mark.lower()}">', encoding="utf-8")
    assert (
        skeleton_problem(tmp_path, {mark: "Contoso Ltd"})
        == "a sentinel was rewritten in app/index.html"
    )
    (tmp_path / "app" / "index.html").unlink()
    (tmp_path / "shot.png").write_bytes(b"\x89PNG" + mark.encode())
    assert skeleton_problem(tmp_path, {mark: "Contoso Ltd"}) == "a sentinel reached shot.png"
    (tmp_path / "shot.png").unlink()
    (tmp_path / "code.html").write_text(
        f'<div class="highlight"><pre><span class="n">{mark}</span></pre></div>', encoding="utf-8"
    )
    assert skeleton_problem(tmp_path, {mark: "Contoso Ltd"}) == (
        "a sentinel stands outside a string in highlighted code in code.html"
    )


def test_filling_in_a_site_never_writes_through_a_link(tmp_path: Path) -> None:
    """A file linked from elsewhere (another tenant's site, a kept copy) is replaced, not
    written to (take out the unlink and the other file gets this tenant's value)."""
    mark = sentinel("tenant:name")
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text(f"<h1>{mark}</h1>", encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").hardlink_to(elsewhere)
    (site / "own.html").write_text(f"<p>{mark}</p>", encoding="utf-8")
    own_inode = (site / "own.html").stat().st_ino
    fill_in_place(site, {mark: "Contoso Ltd"})
    assert (site / "index.html").read_text(encoding="utf-8") == "<h1>Contoso Ltd</h1>"
    assert elsewhere.read_text(encoding="utf-8") == f"<h1>{mark}</h1>"
    assert (site / "own.html").read_text(encoding="utf-8") == "<p>Contoso Ltd</p>"
    assert (site / "own.html").stat().st_ino == own_inode  # a file of its own: rewritten


def test_the_theme_files_of_a_site_are_neither_checked_nor_filled_in(tmp_path: Path) -> None:
    """Files linked unchanged from the theme are the reference build's bytes whatever they
    hold: a theme script naming the mark, a theme file holding a sentinel's very text."""
    mark = sentinel("tenant:name")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "odd.js").write_text(f"// {mark.lower()}", encoding="utf-8")
    (tmp_path / "assets" / "odd.json").write_text(f'["{mark}"]', encoding="utf-8")
    (tmp_path / "index.html").write_text(f"<h1>{mark}</h1>", encoding="utf-8")
    theme = {"assets/odd.js", "assets/odd.json"}
    assert skeleton_problem(tmp_path, {mark: "Contoso Ltd"}) == "a sentinel reached odd.js"
    assert skeleton_problem(tmp_path, {mark: "Contoso Ltd"}, theme=theme) is None
    fill_in_place(tmp_path, {mark: "Contoso Ltd"}, theme)
    assert (tmp_path / "index.html").read_text(encoding="utf-8") == "<h1>Contoso Ltd</h1>"
    assert (tmp_path / "assets" / "odd.json").read_text(encoding="utf-8") == f'["{mark}"]'


def test_a_value_that_begins_a_relative_link_target_keeps_its_text() -> None:
    # MkDocs rewrites relative link targets and the download marks judge them by their
    # text, so such a value never becomes a sentinel; elsewhere in the text it may.
    page = (
        "[cert](signing-certificate.cer) ![logo]( contoso-logo.png)\n"
        "[ref]: <contoso-files/x.pdf>\n<a href=\"fabrikam.html\">F</a> <img src='t1.png'>\n"
        "<contoso-auto.html> and the words contoso-auto.html, t2.png and contoso.\n"
    )
    values = {
        "signing-certificate.cer": "app:cert",
        "contoso-logo.png": "app:logo",
        "contoso-files": "app:files",  # begins the target contoso-files/x.pdf
        "fabrikam.html": "app:f",
        "t1.png": "app:t1",
        "contoso-auto.html": "app:auto",
        "t2.png": "app:t2",  # only in prose
        "contoso.": "app:word",  # only in prose
        "https://login.example/x": "app:url",  # absolute: not a relative target
    }
    site = plan(page + "See https://login.example/x.\n")
    shared = sentinelize(site, [(role, value) for value, role in values.items()], None)
    assert shared is not None
    kept = {v for v in values if v in shared.site.pages["app/index.md"]}
    assert kept == {
        "signing-certificate.cer",
        "contoso-logo.png",
        "contoso-files",
        "fabrikam.html",
        "t1.png",
        "contoso-auto.html",
    }


def test_the_guides_of_a_sentinel_plan_are_those_of_a_guides_only_plan() -> None:
    # batch builds a tenant alone from the sentinel plan it was grouped with: its guides
    # must carry what sentinelize(..., guides_only=True) gives them.
    site = replace(
        plan(f"# App\n\nSign in at {LOGIN} as Contoso Ltd.\n"),
        pages={
            "index.md": f"# Contoso Ltd\n\nHome of Contoso Ltd: {LOGIN}\n",
            "app/index.md": f"# App\n\nSign in at {LOGIN} as Contoso Ltd.\n",
        },
    )
    roles = [("tenant:name", "Contoso Ltd"), ("app:url", LOGIN)]
    whole = sentinelize(site, roles, None)
    expected = sentinelize(site, roles, None, guides_only=True)
    assert whole is not None and expected is not None
    assert whole.site.pages["index.md"] != site.pages["index.md"]  # the home has sentinels
    derived = guides_only(whole, site)
    assert derived is not None
    assert (derived.site, dict(derived.values)) == (expected.site, dict(expected.values))


GUIDE = "# Configure\n\nSign in at {url}, then see [the guide](guide.html).\n"


def guide_plan(url: str, text: str = GUIDE) -> SitePlan:
    """A one-guide plan, as the preview sentinelizes each guide."""
    return SitePlan("", {"app/index.md": text.format(url=url)}, {}, [], None, {})


def test_a_guide_whose_values_changed_keeps_its_sentinels() -> None:
    before = sentinelize(guide_plan(LOGIN), [("app:url", LOGIN)], None, guides_only=True)
    assert before is not None
    new = LOGIN + "/v2"
    text = GUIDE.format(url=new)
    after = revalued(before, text, [("app:url", new)])
    assert after is not None
    assert after.site == before.site
    assert dict(after.values) == {sentinel("app:url"): new}
    assert after == sentinelize(guide_plan(new), [("app:url", new)], None, guides_only=True)


def test_a_guide_is_sentinelized_again_unless_its_new_values_fill_in_exactly() -> None:
    before = sentinelize(guide_plan(LOGIN), [("app:url", LOGIN)], None, guides_only=True)
    assert before is not None
    cases = {
        # Escaped on the way to the page: never filled in.
        "not plain": LOGIN + "?a=1&b=2",
        "space around it": LOGIN + " ",
        # A relative link target is judged by its text (MkDocs, the download marks).
        "relative link": "guide.html",
    }
    for why, new in cases.items():
        text = GUIDE.format(url=new)
        assert revalued(before, text, [("app:url", new)]) is None, why
    # A value changed where it was kept as it is (a heading): the page's text differs.
    heading = "# Sign in to {name}\n\nSign in at {url}.\n"
    roles = [("app:name", "Litware CRM"), ("app:url", LOGIN)]
    text = heading.format(name="Litware CRM", url=LOGIN)
    kept = sentinelize(guide_plan(LOGIN, text), roles, None, guides_only=True)
    assert kept is not None and kept.site.pages["app/index.md"].startswith("# Sign in to Lit")
    renamed = heading.format(name="Litware CRM Online", url=LOGIN)
    assert revalued(kept, renamed, [("app:name", "Litware CRM Online"), ("app:url", LOGIN)]) is None
    new = LOGIN + "/v2"
    # Its role is gone.
    assert revalued(before, GUIDE.format(url=new), [("app:other", new)]) is None


# --- a guide's form by role, from its page rendered with marked values -------------------

MARKED = "# Sign in to {name}\n\nSign in at {on}, sign out at {off}.\n\n| {on} | {off} |\n"


def app_values(**texts: str) -> ValueSet:
    """One app's values, each from the tenant file."""
    where = Provenance(Origin.TENANT_FILE, Location(Path("tenants/contoso.yml"), 4))
    return ValueSet("app", {key: ResolvedValue(key, text, where) for key, text in texts.items()})


def rendered(template: str, values: ValueSet) -> str:
    """``template`` with ``values`` in place, as a renderer would write plain values."""
    return template.format(**{key: value.text for key, value in values.values.items()})


def by_role(template: str, values: ValueSet, **extra: str) -> Sentinelized | None:
    """The form of the guide ``template`` renders, made from its marked page."""
    roles = [(f"app:{key}", value.text) for key, value in values.values.items()]
    roles += [(role, text) for role, text in extra.items()]
    text, marked_text = rendered(template, values), rendered(template, marked(values))
    return sentinelize_marked("app/index.md", text, marked_text, values, roles)


def test_values_that_agree_get_a_sentinel_each_and_keep_it_when_they_differ() -> None:
    values = app_values(name="Litware CRM", on=LOGIN, off=LOGIN)
    form = by_role(MARKED, values)
    assert form is not None
    on, off = sentinel("app:on"), sentinel("app:off")
    # The heading keeps its value (MkDocs makes an anchor of it); the rest is by role.
    expected = (
        f"# Sign in to Litware CRM\n\nSign in at {on}, sign out at {off}.\n\n| {on} | {off} |\n"
    )
    assert form.site.pages["app/index.md"] == expected
    assert dict(form.values) == {on: LOGIN, off: LOGIN}
    # By text, one of them stands for both: the form changes when they come to differ.
    text = rendered(MARKED, values)
    roles = [("app:name", "Litware CRM"), ("app:off", LOGIN), ("app:on", LOGIN)]
    by_text = sentinelize(guide_plan(LOGIN, text), roles, None, guides_only=True)
    assert by_text is not None and on not in by_text.site.pages["app/index.md"]
    # Told apart: only values change, the form is kept.
    split = app_values(name="Litware CRM", on=LOGIN, off=LOGIN + "/out")
    roles = [(f"app:{key}", value.text) for key, value in split.values.items()]
    kept = revalued(form, rendered(MARKED, split), roles)
    assert kept is not None and kept.site == form.site
    assert revalued(by_text, rendered(MARKED, split), roles) is None


def test_a_value_kept_as_it_is_loses_its_mark() -> None:
    # Of a role not given (its value names a docs path, say) or a relative link target.
    template = "See [the certificate]({file}) at {on}; {off}.\n"
    values = app_values(file="signing-certificate.cer", on=LOGIN, off="Litware CRM")
    roles = {"tenant:name": "Contoso"}
    text = rendered(template, values)
    marked_text = rendered(template, marked(values))
    given = [("app:file", "signing-certificate.cer"), ("app:on", LOGIN), *roles.items()]
    form = sentinelize_marked("app/index.md", text, marked_text, values, given)
    assert form is not None
    on = sentinel("app:on")
    expected = f"See [the certificate](signing-certificate.cer) at {on}; Litware CRM.\n"
    assert form.site.pages["app/index.md"] == expected


def test_the_other_roles_are_replaced_by_their_text_between_the_marks() -> None:
    template = "{on} for Contoso, from tenants/contoso.yml:4.\n"
    values = app_values(on=LOGIN)
    form = by_role(
        template, values, **{"tenant:name": "Contoso", "app:on at": "tenants/contoso.yml:4"}
    )
    assert form is not None
    on, name, at = sentinel("app:on"), sentinel("tenant:name"), sentinel("app:on at")
    assert form.site.pages["app/index.md"] == f"{on} for {name}, from {at}.\n"


def test_a_page_whose_marks_changed_it_gets_no_form_by_role() -> None:
    # A template that reads a value itself (here: its last ten characters) shows the mark
    # without the value before it: filled in, the form would not give the page.
    values = app_values(on=LOGIN)
    text = f"Ends with {LOGIN[-10:]}; {LOGIN}.\n"
    marked_login = marked(values).values["on"].text
    marked_text = f"Ends with {marked_login[-10:]}; {marked_login}.\n"
    assert (
        sentinelize_marked("app/index.md", text, marked_text, values, [("app:on", LOGIN)]) is None
    )


def test_a_page_with_sentinel_like_text_gets_no_form_by_role() -> None:
    values = app_values(on=LOGIN)
    template = "Sign in at {on}; zqxtdv0123456789q.\n"
    assert by_role(template, values) is None
