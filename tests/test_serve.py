"""``serve``: a real preview server in its own process, edited while it runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, free_port, wait_for


def fetch(url: str) -> str:
    """The page at ``url``, or "" while the server does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, ConnectionError):
        return ""


class Output:
    """Lines a server process prints, collected by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        """Whether some line printed so far contains ``text``."""
        return any(text in line for line in list(self.lines))

    def join(self) -> str:
        """Everything printed, once the process has ended."""
        self._thread.join(timeout=10)
        return "\n".join(self.lines)


Server = tuple[str, Path, subprocess.Popen[str], Output]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "build.py"),
            "serve",
            "--tenant",
            "contoso",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: "Litware CRM" in fetch(f"{base}/contoso/litware-crm/index.html"))
        yield base, tmp_path, process, output
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        output.join()
        process.stdout.close()


def test_serve_rebuilds_on_edits_and_survives_a_broken_template(
    server: Server,
) -> None:
    base, root, process, output = server
    guide_url = f"{base}/contoso/litware-crm/index.html"
    home_url = f"{base}/contoso/index.html"

    tenant = root / "tenants" / "contoso.yml"
    tenant.write_text(tenant.read_text().replace("name: Contoso Ltd", "name: Contoso Group"))
    assert wait_for(lambda: "Contoso Group" in fetch(home_url))

    guide = root / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text().replace("### Configure", "### Set up", 1))
    assert wait_for(lambda: "Set up Litware CRM" in fetch(guide_url))

    guide.write_text(guide.read_text() + "\nBroken: %metadata:IssuerUrl%\n")
    unknown = "unknown key 'IssuerUrl' in %metadata:IssuerUrl% (did you mean 'IssuerUri'?)"
    assert wait_for(lambda: output.has(unknown)), "the watcher rebuilt and reported the error"
    assert process.poll() is None, "the server must survive a broken template"
    assert "Set up Litware CRM" in fetch(guide_url), "the last good page stays served"

    guide.write_text(guide.read_text().replace("%metadata:IssuerUrl%", "%metadata:IssuerUri%"))
    assert wait_for(lambda: "Broken:" in fetch(guide_url))
    assert "IssuerUrl" not in fetch(guide_url)

    metadata = root / "tenants" / "contoso" / "litware-crm.xml"
    metadata.write_text(
        metadata.read_text().replace(
            "https://login.microsoftonline.com/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2",
            "https://login.microsoftonline.com/11bb11bb-cc22-dd33-ee44-55ff55ff55ff/saml2/new",
        )
    )
    assert wait_for(lambda: "saml2/new" in fetch(guide_url))


def test_serve_switches_tenants_without_a_restart(
    server: Server,
) -> None:
    base, _, _, _ = server
    directory = fetch(f"{base}/")
    assert 'href="contoso/index.html"' in directory and 'href="fabrikam/index.html"' in directory
    page = fetch(f"{base}/fabrikam/litware-crm/index.html")
    assert "https://idp.fabrikam.example/realms/fabrikam/protocol/saml" in page
    assert "livereload" in page  # pages reload themselves on the next change
