"""The site folder: a lock, staging folders, atomic swaps, manifests and recovery.

A tenant is built into ``site/.tenantdocs/staging/`` and swapped in with two renames on the
same file system; a failed tenant never touches ``site/<slug>/``. If the process dies between
the two renames, :func:`recover` (run at the start of every build, under the lock) puts the
previous site back.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tenantdocs.errors import Location, Problem, PublishError

STATE = ".tenantdocs"


def state_dir(site: Path) -> Path:
    """Where the tool keeps its lock, staging folders and manifests inside the site folder."""
    return site / STATE


@contextmanager
def site_lock(site: Path, timeout: float = 0) -> Iterator[None]:
    """Hold the site folder's lock; another build on the same folder is refused."""
    try:
        state_dir(site).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror}")
        ) from None
    lock = FileLock(state_dir(site) / "lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise PublishError(
            Problem(
                Location(site),
                "another tenantdocs build is using this site folder; try again when it ends",
            )
        ) from None
    try:
        yield
    finally:
        lock.release()


def recover(site: Path) -> list[str]:
    """Undo what an interrupted build left: restore swapped-out sites, drop staging folders."""
    restored = []
    old_root = state_dir(site) / "old"
    for old in sorted(old_root.glob("*")) if old_root.is_dir() else []:
        slug = old.name.split(".", 1)[0]
        target = site / slug
        if not target.exists():
            old.rename(target)
            restored.append(slug)
        else:
            shutil.rmtree(old)
    shutil.rmtree(state_dir(site) / "staging", ignore_errors=True)
    return restored


def staging_dir(site: Path, slug: str) -> Path:
    """A fresh, empty folder to build one tenant's site in, on the site's file system."""
    root = state_dir(site) / "staging"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=root))


def swap_in(site: Path, slug: str, built: Path) -> None:
    """Replace ``site/<slug>`` with the completely built folder ``built``."""
    target = site / slug
    old_root = state_dir(site) / "old"
    old_root.mkdir(parents=True, exist_ok=True)
    old = Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=old_root))
    old.rmdir()
    built.chmod(0o755)  # mkdtemp made it private; the published site must be readable
    if target.exists():
        target.rename(old)
    built.rename(target)
    if old.exists():
        shutil.rmtree(old)


def manifest_path(site: Path, slug: str) -> Path:
    """The manifest of what ``site/<slug>`` was built from."""
    return state_dir(site) / "manifests" / f"{slug}.json"


def read_manifest(site: Path, slug: str) -> dict[str, Any] | None:
    """The tenant's manifest, or None when there is none or it is unreadable."""
    try:
        data = json.loads(manifest_path(site, slug).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(site: Path, slug: str, manifest: dict[str, Any]) -> None:
    """Record what ``site/<slug>`` was built from (atomically)."""
    write_atomic(manifest_path(site, slug), json.dumps(manifest, indent=2, sort_keys=True).encode())


def remove_tenant(site: Path, slug: str) -> None:
    """Unpublish a tenant whose file is gone: its site folder and manifest."""
    shutil.rmtree(site / slug, ignore_errors=True)
    manifest_path(site, slug).unlink(missing_ok=True)


def published_slugs(site: Path) -> list[str]:
    """Tenants with a manifest and a site folder, sorted."""
    folder = state_dir(site) / "manifests"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if (site / p.stem).is_dir())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
