"""``build`` reads templates as needed: guides of tenants it does not plan are not read.

A no-op rebuild scans no guide; a broken guide blocks the run (exit 2, nothing written) only
when a tenant to be built uses it; ``check`` still reports every template problem.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tenantdocs import pipeline
from tenantdocs.cli import main
from tenantdocs.mdparser import Parses
from tenantdocs.placeholders import ScannedTemplate, scan_template

REPO = Path(__file__).resolve().parents[1]
UNCLOSED = (
    "templates/zz-broken/sso_configure.md:3: error: Jinja syntax error: Unexpected end of"
    " template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'."
    " The innermost block that needs to be closed is 'if'."
)
UNKNOWN = (
    "templates/zz-typo/sso_configure.md:1:7: error: unknown key 'IssuerUrl' in"
    " %metadata:IssuerUrl% (did you mean 'IssuerUri'?)"
)


def build() -> int:
    return main(["build", "--jobs", "1"])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The samples plus two broken apps that no tenant uses (fabrikam lists its apps)."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    broken = tmp_path / "templates" / "zz-broken"
    broken.mkdir()
    (broken / "sso_configure.md").write_text(
        "{# tenantdocs: jinja #}\n{% if metadata.IssuerUri %}\nUnclosed.\n"
    )
    typo = tmp_path / "templates" / "zz-typo"
    typo.mkdir()
    (typo / "sso_configure.md").write_text("Paste %metadata:IssuerUrl% here.\n")
    fabrikam = tmp_path / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text() + "apps:\n  litware-crm:\n  wingtip-tickets:\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use(project: Path, app: str) -> None:
    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text() + f"  {app}:\n")


def test_broken_guides_no_built_tenant_uses_do_not_block_the_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build() == 0
    assert (project / "site" / "contoso" / "index.html").is_file()
    assert (project / "site" / "fabrikam" / "litware-crm" / "index.html").is_file()
    capsys.readouterr()
    # check reads every guide and reports both problems in one pass.
    assert main(["check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert UNKNOWN in err
    assert UNCLOSED in err


@pytest.mark.parametrize(("app", "message"), [("zz-broken", UNCLOSED), ("zz-typo", UNKNOWN)])
def test_a_broken_guide_a_built_tenant_uses_refuses_the_run(
    project: Path, capsys: pytest.CaptureFixture[str], app: str, message: str
) -> None:
    assert build() == 0
    before = (project / "site" / "fabrikam" / "index.html").read_bytes()
    use(project, app)
    capsys.readouterr()
    assert build() == 2
    assert capsys.readouterr().err.splitlines() == [message]
    assert (project / "site" / "fabrikam" / "index.html").read_bytes() == before
    assert not (project / "site" / "fabrikam" / app).exists()


def test_a_broken_guide_refuses_a_first_build_before_writing_anything(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    use(project, "zz-typo")
    assert build() == 2
    assert capsys.readouterr().err.splitlines() == [UNKNOWN]
    assert not (project / "site").exists()


def test_a_no_op_rebuild_scans_no_guide(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert build() == 0
    scanned: list[Path] = []

    def counting(
        text: str, path: Path, rewritten: str | None = None, parses: Parses | None = None
    ) -> ScannedTemplate:
        scanned.append(path)
        return scan_template(text, path, rewritten, parses)

    monkeypatch.setattr("tenantdocs.templates.scan_template", counting)
    assert build() == 0
    assert sorted(p.parent.name for p in scanned) == ["_", "_", "_"]  # the shared parts only
    # One tenant changed: only the guides it uses are read.
    scanned.clear()
    fabrikam = project / "tenants" / "fabrikam.yml"
    fabrikam.write_text(fabrikam.read_text().replace("Fabrikam Inc", "Fabrikam Group"))
    assert build() == 0
    assert sorted(p.parent.name for p in scanned) == [
        "_",
        "_",
        "_",
        "litware-crm",
        "wingtip-tickets",
    ]


def test_guides_checked_by_worker_processes_give_the_same_errors_warnings_and_site(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every set of apps is checked by the workers here (a run needs 64 to start them).
    suffix = project / "templates" / "_" / "sso_suffix.md"
    suffix.write_text(suffix.read_text() + "\n![diagram](missing-diagram.png)\n")
    assert build() == 0
    serial = capsys.readouterr().err.splitlines()
    assert sum("missing-diagram.png" in line for line in serial) == 5  # once per app
    before = {p: p.read_bytes() for p in sorted((project / "site").rglob("*")) if p.is_file()}
    shutil.rmtree(project / "site")
    monkeypatch.setattr(pipeline, "PARALLEL_CHECK", 1)
    assert main(["build", "--jobs", "2"]) == 0
    assert capsys.readouterr().err.splitlines() == serial
    after = {p: p.read_bytes() for p in sorted((project / "site").rglob("*")) if p.is_file()}
    assert sorted(after) == sorted(before)
    assert [p for p in after if after[p] != before[p] and ".tenantdocs" not in p.parts] == []
    # Both broken guides, in the order of their apps, and nothing written.
    use(project, "zz-broken")
    use(project, "zz-typo")
    assert main(["build", "--jobs", "2"]) == 2
    assert capsys.readouterr().err.splitlines() == [UNCLOSED, UNKNOWN]


NO_OP = """
import sys
from tenantdocs.cli import main

status = main(["build", "--jobs", "2"])
heavy = ("markdown_it", "cryptography", "http.cookiejar", "requests", "mkdocs")
print(status, [name for name in heavy if name in sys.modules])
"""


def test_a_no_op_rebuild_loads_no_parser_certificate_http_or_mkdocs_library(
    tmp_path: Path,
) -> None:
    """What a no-op rebuild does not use it does not import (a third of its time went to
    imports): no Markdown parser (no guide is scanned), no certificate, HTTP or MkDocs
    library."""
    (tmp_path / "templates" / "crm").mkdir(parents=True)
    (tmp_path / "templates" / "crm" / "sso_configure.md").write_text(
        "## Set up\n\nSign on at %metadata:singleSignOnServiceUrl%.\n", encoding="utf-8"
    )
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "acme.yml").write_text(
        "name: Acme\nmetadata:\n  singleSignOnServiceUrl: https://idp.example.com/sso\n",
        encoding="utf-8",
    )
    for _ in range(2):  # a build, then the no-op
        done = subprocess.run(
            [sys.executable, "-c", NO_OP], cwd=tmp_path, capture_output=True, text=True, check=True
        )
    assert done.stdout.splitlines()[-1] == "0 []"
