"""``check`` and ``new-app``: the writer's loop, on crafted broken inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantdocs.cli import main

REPO = Path(__file__).resolve().parents[1]


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
