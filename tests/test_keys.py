"""The key table: everything about a key is on its spec, and the README says the same."""

from __future__ import annotations

import re
from pathlib import Path

from tenantdocs.keys import KEYS, key_order, key_spec, lookup_key

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_key_rows() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Keys\n") :]
    section = section[: section.index("\nPrecedence")]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_readme_key_table_is_the_specs() -> None:
    expected = [
        [
            f"`{spec.name}`"
            + (f" ({', '.join(f'`{a}`' for a in spec.aliases)})" * bool(spec.aliases)),
            spec.label,
            spec.description,
            "yes" if spec.copyable else "",
        ]
        for spec in KEYS
    ]
    assert [row[:4] for row in _readme_key_rows()] == expected


def test_every_spelling_finds_its_spec_and_order_follows_the_table() -> None:
    for index, spec in enumerate(KEYS):
        assert key_order(spec.name) == index
        assert key_spec(spec.name) is spec
        for spelling in (spec.name, *spec.aliases):
            assert lookup_key(spelling.upper()) is spec


def test_derived_sets_come_from_the_specs() -> None:
    from dataclasses import fields

    from tenantdocs.metadata import IdpMetadata

    # Every metadata field a spec names exists, and downloads have distinct places.
    names = {field.name for field in fields(IdpMetadata)}
    assert {spec.metadata_field for spec in KEYS if spec.metadata_field} <= names
    positions = [spec.download.position for spec in KEYS if spec.download]
    assert sorted(positions) == list(range(1, len(positions) + 1))
    assert all(spec.idp_endpoint for spec in KEYS if spec.metadata_field)
    assert all(re.fullmatch(r"[A-Z][\w ()-]+", spec.label) for spec in KEYS)
