"""Rewrites for real guides: fixture cases, and the real guides rendered by MkDocs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cases import fixture_cases
from conftest import CORPUS, article_text, build, write_acme_tenant
from markdown_it import MarkdownIt

from tenantdocs.errors import Location
from tenantdocs.placeholders import scan_template
from tenantdocs.rewrite import resolve_reference, rewrite_markdown
from tenantdocs.templates import load_templates

ASSETS = ("media/shot.png", "media/Other Shot.PNG")
CASES = fixture_cases("rewrite.md")


def test_fixture_file_has_cases() -> None:
    # Guards against a format slip that would silently turn every case into a comment.
    assert len(CASES) >= 25


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_rewrite(text: str, expected: str) -> None:
    assert rewrite_markdown(text, ASSETS) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("media/shot.png", "media/shot.png"),
        ("./media/shot.png", "./media/shot.png"),
        ("media\\SHOT.PNG", "media/shot.png"),
        ("media/other%20shot.png", "media/Other Shot.PNG"),
        ("media/shot.png#frag", "media/shot.png#frag"),
        ("../elsewhere/shot.png", None),
        ("media/none.png", None),
        (
            "active-directory-saas-x-tutorial.md#step-2",
            "https://docs.microsoft.com/azure/active-directory/active-directory-saas-x-tutorial#step-2",
        ),
    ],
)
def test_resolve_reference(target: str, expected: str | None) -> None:
    assert resolve_reference(target, ASSETS) == expected


def test_rewrites_keep_crlf_line_endings() -> None:
    text = "Text.\r\n> [!NOTE]\r\n> Careful.\r\n"
    assert rewrite_markdown(text) == "Text.\r\n\r\n!!! note\r\n    Careful.\r\n"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_rewrites_change_only_alerts_indentation_and_tutorial_links() -> None:
    """Every changed line of every real guide is one of the documented rewrites."""
    for guide in sorted(CORPUS.glob("*/sso_configure.md")):
        text = guide.read_text(encoding="utf-8")
        rewritten = rewrite_markdown(text)
        kept = [line for line in text.splitlines() if line not in rewritten.splitlines()]
        for line in kept:
            alert = re.match(r"\s*>\s*\[(!|AZURE\.)", line) or re.match(r"\s*>", line)
            indented = line.strip() and line.lstrip() in rewritten
            tutorial = "-tutorial.md" in line
            assert alert or indented or tutorial, (guide.parent.name, line)


def test_inserted_blank_lines_keep_placeholder_locations() -> None:
    text = "Do this:\n* Paste %metadata:IssuerUri% here.\n"
    template = scan_template(text, Path("guide.md"), rewrite_markdown(text))
    assert template.jinja_source == "Do this:\n\n* Paste {{ ph(0) }} here.\n"
    assert [p.location for p in template.placeholders] == [Location(Path("guide.md"), 2, 9)]


STRUCTURE = {
    "list items": re.compile(r"<li[\s>]"),
    "headings": re.compile(r"<h[1-6][\s>]"),
    "tables": re.compile(r"<table[\s>]"),
    "code blocks": re.compile(r"<pre[\s>]"),
    "images": re.compile(r"<img[\s>]"),
}
# A code block that holds nothing but one image line is a screenshot its writer indented
# one level too deep: the published page shows the image (see tenantdocs.rewrite).
_IMAGE_AS_CODE = re.compile(r"<pre><code>!\[[^\]\n]*\]\([^)\n]*\)\s*</code></pre>")
# Python-Markdown reads `##Title` (no space) as a heading, as its writer meant; CommonMark
# does not. Counted as a heading on both sides.
_HEADING_WITHOUT_SPACE = re.compile(r"^(#{1,6})(?=[^#\s])", re.MULTILINE)


def structure(html: str) -> dict[str, int]:
    """How many list items, headings, tables, code blocks and images an HTML text has."""
    return {name: len(pattern.findall(html)) for name, pattern in STRUCTURE.items()}


def commonmark_structure(markdown: str) -> dict[str, int]:
    """The structure of ``markdown`` as a CommonMark renderer (the portal's kind) shows it."""
    html = (
        MarkdownIt("commonmark")
        .enable("table")
        .render(_HEADING_WITHOUT_SPACE.sub(r"\1 ", markdown))
    )
    found = structure(html)
    screenshots = len(_IMAGE_AS_CODE.findall(html))
    found["code blocks"] -= screenshots
    found["images"] += screenshots
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not here")
def test_published_guides_keep_the_structure_commonmark_gives_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every real guide, built by tenantdocs, has the steps, lists, headings, tables, code
    blocks and images the portal's CommonMark renderer gave it (prefix and suffix included)."""
    monkeypatch.chdir(tmp_path)
    write_acme_tenant(tmp_path)
    assert build("--templates", str(CORPUS)) == 0
    capsys.readouterr()
    templates = load_templates(CORPUS)
    differences = {}
    for name, app in sorted(templates.apps.items()):
        expected = dict.fromkeys(STRUCTURE, 0)
        for part in templates.parts(app):
            for kind, count in commonmark_structure(part.text).items():
                expected[kind] += count
        article = article_text(tmp_path / "site" / "acme" / name / "index.html")
        # The guide only: not the title tenantdocs adds, nor its closing "About these values".
        guide = article.split('<h2 id="about-these-values"')[0].replace('<h1 id="guide">', "")
        published = structure(guide)
        if published != expected:
            differences[name] = (expected, published)
    assert len(templates.apps) == 67
    assert differences == {}
