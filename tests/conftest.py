"""Fixtures and helpers shared by the test modules.

Fixtures are found by name; the helpers are imported with ``from conftest import …``
(pytest puts this folder on the import path). Fixture *files* are read by ``cases``.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tenantdocs.cli import main

REPO = Path(__file__).resolve().parents[1]
"""The repository: sample templates and tenants, ``build.py``."""
SHARED = REPO.parent / "shared"
"""Test data beside the repository; tests that need it skip when it is absent."""
CORPUS = SHARED / "corpus" / "azure-sso-tutorials"
"""Real portal guides, laid out as a templates folder."""
IDP_CORPUS = SHARED / "corpus" / "idp-metadata"
"""Real federation metadata documents."""
SAMPLE_METADATA = REPO / "tenants" / "contoso" / "litware-crm.xml"
"""A sample tenant's metadata document (Entra ID shaped, with a signing certificate)."""
SAMPLE_TENANT_ID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
"""The directory (tenant) ID in :data:`SAMPLE_METADATA`."""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away copy of the sample templates and tenants, made the working directory."""
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    shutil.copytree(REPO / "tenants", tmp_path / "tenants")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def build(*args: str) -> int:
    """Run ``build`` in-process, one tenant at a time; return its exit status."""
    return main(["build", "--jobs", "1", *args])


def write_acme_tenant(root: Path) -> None:
    """``root/tenants/acme.yml``: one tenant with every app and the sample metadata file."""
    (root / "tenants").mkdir()
    shutil.copy(SAMPLE_METADATA, root / "tenants" / "idp.xml")
    (root / "tenants" / "acme.yml").write_text(
        f"name: Acme Corp\ntenant_id: {SAMPLE_TENANT_ID}\nmetadata_file: idp.xml\n",
        encoding="utf-8",
    )


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` ('/'-separated, sorted) with its SHA-256."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def article_text(page: Path) -> str:
    """The ``<article>`` of a published page: the page's own content, without the theme."""
    html = page.read_text(encoding="utf-8")
    return html[html.index("<article") : html.index("</article>")]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
