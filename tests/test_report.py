"""What a run reports: the result types, the ``--report`` JSON, and where it may be written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tenantdocs.cli import main
from tenantdocs.errors import Location, Problem, Severity, TenantError
from tenantdocs.refresh import Change, RefreshOutcome, RefreshResult, RefreshStatus
from tenantdocs.report import (
    RunResult,
    TenantResult,
    TenantStatus,
    failed_result,
    problem_json,
)
from tenantdocs.sources import FetchStatus

GUIDE = Path("templates/app/sso_configure.md")
TENANT = Path("tenants/t.yml")


def missing(slug: str, key: str) -> Problem:
    """A "no value" error of the kind that feeds the tenant × key matrix."""
    return Problem(Location(GUIDE, 3, 7), f"no value for '{key}'", tenant=slug, missing_key=key)


# --- the result types ---------------------------------------------------------------------


def test_only_a_failed_tenant_counts_as_failed() -> None:
    assert [TenantResult("t", status).failed for status in TenantStatus] == [
        False,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("statuses", "problems", "code"),
    [
        ((TenantStatus.BUILT, TenantStatus.UNCHANGED), (), 0),
        ((TenantStatus.BUILT, TenantStatus.FAILED), (), 1),
        ((TenantStatus.CHECKED,), (Problem(Location(GUIDE), "w", Severity.WARNING),), 0),
        ((TenantStatus.CHECKED,), (Problem(Location(GUIDE), "unknown key"),), 1),
        ((), (), 0),
    ],
)
def test_run_exit_code(
    statuses: tuple[TenantStatus, ...], problems: tuple[Problem, ...], code: int
) -> None:
    tenants = tuple(TenantResult(f"t{i}", s) for i, s in enumerate(statuses))
    assert RunResult("build", tenants, problems).exit_code == code


def test_missing_values_are_sorted_by_key_then_tenant() -> None:
    result = RunResult(
        "check",
        (
            TenantResult("zeta", TenantStatus.FAILED, problems=(missing("zeta", "IssuerUri"),)),
            TenantResult(
                "alpha",
                TenantStatus.FAILED,
                problems=(
                    missing("alpha", "changePasswordUrl"),
                    missing("alpha", "IssuerUri"),
                    missing("alpha", "IssuerUri"),  # the same key at another place
                    Problem(Location(TENANT, 2), "other error", tenant="alpha"),
                ),
            ),
        ),
    )
    assert result.missing_values() == {
        "IssuerUri": ["alpha", "zeta"],
        "changePasswordUrl": ["alpha"],
    }


def test_problem_json_keeps_the_location_apart_and_the_line_whole() -> None:
    problem = Problem(Location(GUIDE, 3, 7), "bad\nthing", Severity.WARNING)
    assert problem_json(problem) == {
        "path": "templates/app/sso_configure.md",
        "line": 3,
        "column": 7,
        "severity": "warning",
        "message": "bad\nthing",
        "text": "templates/app/sso_configure.md:3:7: warning: bad\\nthing",
    }


def test_run_report_document() -> None:
    warning = Problem(Location(TENANT, 4), "unused", Severity.WARNING, "t")
    error = missing("u", "IssuerUri")
    result = RunResult(
        "build",
        (
            TenantResult(
                "t", TenantStatus.BUILT, "T Ltd", 3, 1.23456, "not built before", (warning,)
            ),
            TenantResult(
                "u", TenantStatus.FAILED, "U Ltd", reason="previous site kept", problems=(error,)
            ),
        ),
    )
    document = result.to_json()
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert {k: v for k, v in document.items() if k != "version"} == {
        "tool": "tenantdocs",
        "command": "build",
        "exit_code": 1,
        "problems": [],
        "missing_values": {"IssuerUri": ["u"]},
        "tenants": [
            {
                "slug": "t",
                "name": "T Ltd",
                "status": "built",
                "pages": 3,
                "seconds": 1.235,
                "reason": "not built before",
                "errors": [],
                "warnings": [problem_json(warning)],
            },
            {
                "slug": "u",
                "name": "U Ltd",
                "status": "failed",
                "pages": 0,
                "seconds": 0.0,
                "reason": "previous site kept",
                "errors": [problem_json(error)],
                "warnings": [],
            },
        ],
    }


def test_failed_result_names_the_tenant_on_every_problem() -> None:
    earlier = Problem(Location(TENANT, 1), "a warning", Severity.WARNING)
    own = Problem(Location(GUIDE, 2), "other tenant's wording", tenant="already")
    started = time.monotonic()
    result = failed_result("t", "T Ltd", TenantError([own]), started, (earlier,))
    assert (result.slug, result.status, result.name, result.reason) == (
        "t",
        TenantStatus.FAILED,
        "T Ltd",
        "previous site kept",
    )
    assert [p.tenant for p in result.problems] == ["t", "already"]
    assert result.seconds >= 0


def test_refresh_result_exit_code_changed_tenants_and_document() -> None:
    change = Change("singleSignOnServiceUrl", "https://old.example/sso", "https://new.example/sso")
    outcomes = (
        RefreshOutcome(
            "b",
            "app",
            "https://idp.example/b",
            RefreshStatus.CHANGED,
            FetchStatus.FETCHED,
            "t1",
            (change,),
        ),
        RefreshOutcome(
            "a", "app", "https://idp.example/a", RefreshStatus.UNCHANGED, FetchStatus.NOT_MODIFIED
        ),
        RefreshOutcome(
            "b", "other", "https://idp.example/b2", RefreshStatus.CHANGED, FetchStatus.FETCHED
        ),
    )
    result = RefreshResult(outcomes)
    assert result.exit_code == 0
    assert result.changed_tenants == ["b"]
    assert result.to_json()["apps"][0] == {
        "tenant": "b",
        "app": "app",
        "url": "https://idp.example/b",
        "status": "changed",
        "fetch": "fetched",
        "fetched_at": "t1",
        "changes": [
            {
                "key": "singleSignOnServiceUrl",
                "old": "https://old.example/sso",
                "new": "https://new.example/sso",
            }
        ],
        "errors": [],
        "warnings": [],
    }
    stale = RefreshOutcome(
        "c", "app", "https://idp.example/c", RefreshStatus.FAILED, FetchStatus.STALE
    )
    assert RefreshResult((*outcomes, stale)).exit_code == 1
    invalid = TenantResult("d", TenantStatus.FAILED, problems=(Problem(Location(TENANT), "x"),))
    assert RefreshResult(outcomes, (invalid,)).exit_code == 1


# --- where the --report file goes ------------------------------------------------------------


def test_report_to_a_folder_is_refused_before_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--report", "templates"]) == 2
    assert capsys.readouterr().err == "templates: error: cannot write the report: it is a folder\n"
    assert not (project / "site").exists()  # nothing was built for a report it cannot write


def test_report_below_a_file_is_refused_before_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--report", "tenants/contoso.yml/check.json"]) == 2
    assert capsys.readouterr() == (
        "",
        "tenants/contoso.yml/check.json: error: cannot write the report:"
        " 'tenants/contoso.yml' is not a folder\n",
    )


def test_report_in_new_folders_is_written(project: Path) -> None:
    assert main(["check", "--report", "out/reports/check.json"]) == 0
    assert json.loads((project / "out" / "reports" / "check.json").read_text())["exit_code"] == 0


def test_report_that_cannot_be_written_after_the_run_is_a_located_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A real failure at write time: the path was free when the run started, and the build
    # itself made it a folder (the tenant's site). The sites are published; the report is not.
    assert main(["build", "--jobs", "1", "--tenant", "contoso", "--report", "site/contoso"]) == 2
    out, err = capsys.readouterr()
    assert err == "site/contoso: error: cannot write: Is a directory\n"
    assert out.splitlines()[-1] == "tenants: 1 built, 0 unchanged, 0 failed; 0 warnings"
    assert (project / "site" / "contoso" / "index.html").is_file()
    assert sorted(p.name for p in (project / "site").iterdir()) == [
        ".tenantdocs",
        "contoso",
        "index.html",
    ]  # no half-written report left beside them


def test_report_of_a_usage_error_is_written_with_its_exit_code(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--tenant", "nobody", "--report", "check.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tenants: error: no tenant 'nobody' (no nobody.yml here)")
    report = json.loads((project / "check.json").read_text())
    assert (report["command"], report["exit_code"], report["tenants"]) == ("check", 2, [])
    assert [p["text"] for p in report["problems"]] == err.splitlines()
