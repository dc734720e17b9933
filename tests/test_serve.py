"""``serve``: a real preview server in its own process, edited while it runs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, ConnectionError):
        return ""


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
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
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: "Litware CRM" in fetch(f"{base}/contoso/litware-crm/index.html"))
        yield base, tmp_path, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_rebuilds_on_edits_and_survives_a_broken_template(
    server: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    base, root, process = server
    guide_url = f"{base}/contoso/litware-crm/index.html"
    home_url = f"{base}/contoso/index.html"

    tenant = root / "tenants" / "contoso.yml"
    tenant.write_text(tenant.read_text().replace("name: Contoso Ltd", "name: Contoso Group"))
    assert wait_for(lambda: "Contoso Group" in fetch(home_url))

    guide = root / "templates" / "litware-crm" / "sso_configure.md"
    guide.write_text(guide.read_text().replace("### Configure", "### Set up", 1))
    assert wait_for(lambda: "Set up Litware CRM" in fetch(guide_url))

    guide.write_text(guide.read_text() + "\nBroken: %metadata:IssuerUrl%\n")
    time.sleep(3)  # give the watcher time to see it and the build time to fail
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

    process.terminate()
    output = process.communicate(timeout=10)[0]
    assert "unknown key 'IssuerUrl' in %metadata:IssuerUrl% (did you mean 'IssuerUri'?)" in output


def test_serve_switches_tenants_without_a_restart(
    server: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    base, _, _ = server
    directory = fetch(f"{base}/")
    assert 'href="contoso/index.html"' in directory and 'href="fabrikam/index.html"' in directory
    page = fetch(f"{base}/fabrikam/litware-crm/index.html")
    assert "https://idp.fabrikam.example/realms/fabrikam/protocol/saml" in page
    assert "livereload" in page  # pages reload themselves on the next change
