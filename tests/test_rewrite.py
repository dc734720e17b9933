"""Rewrites for real guides: fixture cases, and the real guides rendered by MkDocs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenantdocs.rewrite import resolve_reference, rewrite_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "rewrite.md"
ASSETS = ("media/shot.png", "media/Other Shot.PNG")


def read_cases(path: Path) -> list[tuple[str, str, str]]:
    """(title, input, expected) triples: title, '.', input, '.', expected, '.', blank."""
    lines = path.read_text(encoding="utf-8").split("\n")
    cases = []
    i = lines.index("") + 1  # skip the header paragraph
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        title = lines[i]
        assert lines[i + 1] == ".", title
        end_input = lines.index(".", i + 2)
        end_expected = lines.index(".", end_input + 1)
        text = "\n".join(lines[i + 2 : end_input]) + "\n"
        expected = "\n".join(lines[end_input + 1 : end_expected]) + "\n"
        cases.append((title, text.replace("→", "\t"), expected.replace("→", "\t")))
        i = end_expected + 1
    return cases


CASES = read_cases(FIXTURES)


def test_fixture_file_has_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize(("title", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rewrite(title: str, text: str, expected: str) -> None:
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


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "azure-sso-tutorials"


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
