"""The per-tenant build manifest: a typed record, and anything unusable means "rebuild"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tenantdocs import publish
from tenantdocs.cli import main

MANIFEST = Path("site") / ".tenantdocs" / "manifests" / "contoso.json"


def build_report() -> dict[str, dict[str, object]]:
    assert main(["build", "--jobs", "1", "--report", "report.json"]) == 0
    return {t["slug"]: t for t in json.loads(Path("report.json").read_text())["tenants"]}


def test_a_manifest_round_trips_through_its_stored_form() -> None:
    manifest = publish.Manifest(
        "Contoso",
        (("App", "app/index.html"),),
        2,
        {"page index.md": "ab"},
        "cd",
        datetime(2035, 12, 2, tzinfo=UTC),
    )
    assert publish.parse_manifest(manifest.to_json().decode()) == manifest


def test_a_written_manifest_carries_its_version(project: Path) -> None:
    build_report()
    stored = json.loads(MANIFEST.read_text())
    assert stored["version"] == publish.MANIFEST_VERSION
    manifest, problem = publish.read_manifest(Path("site"), "contoso")
    assert problem is None and manifest is not None and manifest.name == "Contoso Ltd"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"digests": []}, "'digests' is not a mapping of strings"),
        ({"stable_until": "soon"}, "'stable_until' is not a date and time with a zone"),
        (
            {"stable_until": "2035-12-02T00:00:00"},
            "'stable_until' is not a date and time with a zone",
        ),
        ({"stable_until": 5}, "'stable_until' is not a date and time with a zone"),
        ({"pages": "7"}, "'pages' is not a count"),
        ({"apps": [["only a title"]]}, "'apps' is not a list of [title, path] pairs"),
        ({"name": None}, "'name' is not a string"),
        ({"inputs": 1}, "'inputs' is not a string"),
        ({"version": 0}, "version 0, not 1"),
        ({"version": None}, "version None, not 1"),
        ({"extra": 1}, "unexpected or missing fields: extra"),
    ],
)
def test_an_unusable_manifest_rebuilds_the_tenant_with_a_warning(
    project: Path, change: dict[str, object], reason: str
) -> None:
    build_report()
    stored = json.loads(MANIFEST.read_text())
    MANIFEST.write_text(json.dumps({**stored, **change}))
    tenants = build_report()
    contoso, fabrikam = tenants["contoso"], tenants["fabrikam"]
    assert contoso["status"] == "built" and contoso["reason"] == "not built before"
    assert [w["text"] for w in contoso["warnings"]] == [  # type: ignore[attr-defined]
        f"{MANIFEST}: warning: build manifest not usable ({reason}); the tenant is rebuilt"
    ]
    assert fabrikam["reason"] == "inputs unchanged"
    # The rebuild wrote a good manifest again: the next run skips the tenant.
    assert build_report()["contoso"]["reason"] == "inputs unchanged"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "Expecting value: line 1 column 1 (char 0)"),
        ("[]", "not a JSON object"),
        ('{"version": 1}', "unexpected or missing fields: apps, digests, inputs, name, pages"),
    ],
)
def test_a_manifest_that_is_no_object_or_lacks_fields_is_not_trusted(
    text: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=r"^" + reason.replace("(", r"\(").replace(")", r"\)")):
        publish.parse_manifest(text)


def test_a_missing_field_is_named_in_the_warning(project: Path) -> None:
    build_report()
    stored = json.loads(MANIFEST.read_text())
    del stored["digests"]
    MANIFEST.write_text(json.dumps(stored))
    assert [w["text"] for w in build_report()["contoso"]["warnings"]] == [  # type: ignore[attr-defined]
        f"{MANIFEST}: warning: build manifest not usable"
        " (unexpected or missing fields: digests); the tenant is rebuilt"
    ]
