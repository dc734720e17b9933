"""The one reader of the fixture files in ``tests/fixtures/``: many small text-transform cases.

A case is a title line, ``.``, input lines, ``.``, expected lines, ``.``; every other line
is a comment. Markers stand for characters an editor would hide: ``→`` a tab, ``␍`` a CR,
``⍽`` a no-break space, and ``␄`` at the end of a section means it has no final newline.
Import with ``from cases import fixture_cases, read_cases``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
"""The fixture files."""

_MARKERS = str.maketrans({"␍": "\r", "⍽": "\u00a0", "→": "\t"})
_NO_FINAL_NEWLINE = "␄\n"


def decode(section: str) -> str:
    """Turn a fixture section into real text: markers become CR, NBSP and tab; ␄ ends it."""
    if section.endswith(_NO_FINAL_NEWLINE):
        section = section.removesuffix(_NO_FINAL_NEWLINE)
    return section.translate(_MARKERS)


def read_cases(path: Path) -> list[tuple[str, str, str]]:
    """Parse a fixture file into (title, input, expected) triples.

    Input and expected keep their final newline (see :func:`decode`). A case without a
    title, a case left open and two cases with one title are errors naming the file.
    """
    cases: list[tuple[str, str, str]] = []
    # Split on LF only: str.splitlines would also split on form feeds, U+2028 and the like.
    lines = path.read_text(encoding="utf-8").split("\n")
    title = ""
    sections: list[list[str]] | None = None  # None: outside a case
    for number, line in enumerate(lines):
        if line != ".":
            if sections is not None:
                sections[-1].append(line + "\n")
            continue
        if sections is None:
            title = lines[number - 1].strip() if number else ""
            if not title:
                raise ValueError(f"{path}:{number + 1}: a case needs a title line before '.'")
            sections = [[]]
        elif len(sections) < 2:
            sections.append([])
        else:
            cases.append((title, decode("".join(sections[0])), decode("".join(sections[1]))))
            sections = None
    if sections is not None:
        raise ValueError(f"{path}: case {title!r} is not closed with '.'")
    titles = [case[0] for case in cases]
    duplicates = sorted({t for t in titles if titles.count(t) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate titles {duplicates}")
    return cases


def fixture_cases(name: str) -> list[Any]:
    """The cases of one file in ``tests/fixtures/`` as pytest parameters, the title as id."""
    return [
        pytest.param(text, expected, id=title)
        for title, text, expected in read_cases(FIXTURES / name)
    ]
