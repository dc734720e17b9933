"""``check`` and ``new-app``: the writer's loop, on crafted broken inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tenantdocs.cli import main


def test_clean_samples_check_clean_and_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--report", "check.json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == "checked 2 tenants: 0 errors, 0 warnings"
    assert sorted(p.name for p in project.iterdir()) == ["check.json", "templates", "tenants"]
    report = json.loads((project / "check.json").read_text())
    assert report["exit_code"] == 0 and report["missing_values"] == {}


def test_template_and_tenant_file_errors_in_one_pass_with_carets(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text("Intro\n\n\tPaste %metadata:IssuerUrl% here.\n")
    (project / "tenants" / "northwind.yml").write_text("name: Northwind\ntenant_idd: x\n")
    assert main(["check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [
        "templates/litware-crm/sso_configure.md:3:8: error: unknown key 'IssuerUrl' in"
        " %metadata:IssuerUrl% (did you mean 'IssuerUri'?)",
        "    \tPaste %metadata:IssuerUrl% here.",
        "    \t      ^",
    ]
    assert err[3:] == [
        "tenants/northwind.yml:2:1: error: unknown key 'tenant_idd' in tenant file"
        " (did you mean 'tenant_id'?)",
        "    tenant_idd: x",
        "    ^",
    ]


def test_missing_values_form_a_tenant_by_key_matrix(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tenants" / "northwind.yml").write_text(
        "name: Northwind\nmetadata:\n"
        "  singleSignOnServiceUrl: https://idp.northwind.example/sso\n"
        "  IssuerUri: https://idp.northwind.example\n"
    )
    assert main(["check", "--report", "check.json"]) == 1
    out, err = capsys.readouterr()
    matrix = [line for line in out.splitlines() if not line.startswith("checked")]
    assert matrix[0] == "missing values (x = no value):"
    assert matrix[1].split() == ["contoso", "fabrikam", "northwind"]
    rows = {line.split()[0]: line.split()[1:] for line in matrix[2:]}
    assert rows["singleSignOutServiceUrl"] == [".", ".", "x"]
    assert rows["certificateDownloadBase64Url"] == [".", ".", "x"]
    assert "singleSignOnServiceUrl" not in rows
    report = json.loads((project / "check.json").read_text())
    assert report["missing_values"]["metadataDownloadUrl"] == ["northwind"]
    assert (
        "error: no value for 'singleSignOutServiceUrl' (Logout URL: the IdP's SAML single logout"
        " endpoint) in tenant 'northwind'" in err
    )


def test_warnings_only_exit_zero(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(
        fabrikam.read_text().replace(
            "metadata:\n",
            "metadata:\n  wsFederationSignInUrl: https://idp.fabrikam.example/ws\n",
            1,
        )
    )
    guide = project / "templates" / "wingtip-tickets" / "sso_configure.md"
    guide.write_text(
        guide.read_text() + "\nEntity: %metadata:issueruri%\n\n![Shot](media/shot.png)\n"
    )
    assert main(["check"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert any(
        line.endswith("warning: 'wsFederationSignInUrl' is set but no guide of this tenant uses it")
        and line.startswith("tenants/fabrikam.yml:")
        for line in lines
    )
    assert any(
        "warning: 'issueruri' is a non-canonical spelling of 'IssuerUri'" in line for line in lines
    )
    assert any(
        "warning: 'media/shot.png' points at no file in the app folder 'wingtip-tickets'" in line
        for line in lines
    )
    assert "0 errors, 3 warnings" in out


def test_new_app_is_check_clean_and_builds(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-app", "contoso-wiki", "--display-name", "Contoso Wiki"]) == 0
    assert (project / "templates" / "contoso-wiki" / "sso_configure.md").is_file()
    assert "Contoso Wiki" in (project / "templates" / "contoso-wiki" / "app.yml").read_text()
    capsys.readouterr()
    assert main(["check"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["build", "--jobs", "1", "--tenant", "fabrikam"]) == 0
    page = project / "site" / "fabrikam" / "contoso-wiki" / "index.html"
    assert "https://idp.fabrikam.example/realms/fabrikam/protocol/saml" in page.read_text()


def test_new_app_refuses_bad_or_existing_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-app", "litware-crm"]) == 2
    assert "templates/litware-crm: error: that app folder exists already" in capsys.readouterr().err
    assert main(["new-app", "../evil"]) == 2
    assert "app name must be lowercase letters" in capsys.readouterr().err
    assert not (project / "evil").exists()


def test_an_unknown_key_does_not_hide_missing_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The unknown key is a template error; the tenants are still checked in the same pass:
    # the missing value and the matrix show without fixing the key first, and the unknown
    # key is reported once (with its template), not again for every tenant.
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text("Issuer: %metadata:IssuerUrl%\n\nOut: %metadata:changePasswordUrl%\n")
    (project / "tenants" / "northwind.yml").write_text(
        "name: Northwind\napps:\n  litware-crm: {}\n"
    )
    # A tenant whose only error is the template's: checked, its pages counted.
    (project / "tenants" / "tailwind.yml").write_text(
        "name: Tailwind\nmetadata:\n  changePasswordUrl: https://tailwind.example/pw\n"
        "apps:\n  litware-crm: {}\n"
    )
    assert (
        main(["check", "--tenant", "northwind", "--tenant", "tailwind", "--report", "check.json"])
        == 1
    )
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "templates/litware-crm/sso_configure.md:1:9: error: unknown key 'IssuerUrl' in"
        " %metadata:IssuerUrl% (did you mean 'IssuerUri'?)",
        "    Issuer: %metadata:IssuerUrl%",
        "            ^",
        "templates/litware-crm/sso_configure.md:3:6: error: no value for 'changePasswordUrl'"
        " (where users change their password) in tenant 'northwind': set it under 'metadata:'"
        " in the tenant file, or give a metadata file that has it",
        "    Out: %metadata:changePasswordUrl%",
        "         ^",
    ]
    assert out.splitlines() == [
        "missing values (x = no value):",
        "                   northwind  tailwind",
        "  changePasswordUrl    x         .    ",
        "checked 2 tenants: 2 errors, 0 warnings",
    ]
    report = json.loads((project / "check.json").read_text())
    assert report["missing_values"] == {"changePasswordUrl": ["northwind"]}
    assert [(t["slug"], t["status"], t["pages"]) for t in report["tenants"]] == [
        ("northwind", "failed", 0),
        ("tailwind", "checked", 2),
    ]


def test_a_tenant_with_no_problem_of_its_own_is_checked_despite_template_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An app folder with no guide and no shared fallback is a template error; check still
    # goes through the tenants (and renders the other guides) instead of stopping there.
    shutil.rmtree(project / "templates" / "_")
    assert main(["check", "--report", "check.json"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "templates/fourth-coffee-portal: error: app has no sso_configure.md and there is no"
        " shared _/sso_configure.md to fall back on",
    ]
    assert out.splitlines() == ["checked 2 tenants: 1 errors, 0 warnings"]
    report = json.loads((project / "check.json").read_text())
    assert [(t["slug"], t["status"], t["pages"]) for t in report["tenants"]] == [
        ("contoso", "checked", 5),
        ("fabrikam", "checked", 5),
    ]


def test_a_jinja_syntax_error_still_lets_the_tenant_files_be_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No guide can be rendered when one does not compile; the template warnings found while
    # scanning and the tenant files are still reported in the same pass.
    guide = project / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text("{# tenantdocs: jinja #}\n{% if metadata.IssuerUri %}\nUnclosed.\n")
    other = project / "templates" / "wingtip-tickets" / "sso_configure.md"
    other.write_text("Entity: %metadata:issueruri%\n")
    (project / "tenants" / "northwind.yml").write_text("name: Northwind\ntenant_idd: x\n")
    assert main(["check"]) == 1
    lines = capsys.readouterr().err.splitlines()
    problems = [line for line in lines if not line.startswith("    ")]
    assert problems == [
        "templates/wingtip-tickets/sso_configure.md:1:9: warning: 'issueruri' is a"
        " non-canonical spelling of 'IssuerUri'",
        "templates/litware-crm/sso_configure.md:3: error: Jinja syntax error: Unexpected end"
        " of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'."
        " The innermost block that needs to be closed is 'if'.",
        "tenants/northwind.yml:2:1: error: unknown key 'tenant_idd' in tenant file"
        " (did you mean 'tenant_id'?)",
    ]
