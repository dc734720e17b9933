"""The site folder: a lock, staging folders, atomic swaps, manifests and recovery.

A tenant is built into ``site/.tenantdocs/staging/`` and swapped in with two renames on the
same file system; a failed tenant never touches ``site/<slug>/``. If the process dies between
the two renames, :func:`recover` (run at the start of every build, under the lock) puts the
previous site back. A site folder that cannot be written (read-only, full, or something in
the way) is a :class:`PublishError` with the path, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from tenantdocs.errors import Location, Problem, PublishError, Severity
from tenantdocs.files import cannot_write
from tenantdocs.files import write_atomic as write_atomic  # publish.write_atomic stays

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
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        raise PublishError(
            Problem(
                Location(site),
                "another tenantdocs build is using this site folder; try again when it ends",
            )
        ) from None
    except OSError as exc:  # a read-only file system, a lock file that is not a file…
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror or exc}")
        ) from None
    try:
        yield
    finally:
        lock.release()


def recover(site: Path) -> list[str]:
    """Undo what an interrupted build left: restore swapped-out sites, drop staging folders.

    Also checks, before anything is built, that the site folder can be written: a read-only
    or full site folder is one clear :class:`PublishError` instead of a failure per tenant.
    """
    restored = []
    old_root = state_dir(site) / "old"
    staging = state_dir(site) / "staging"
    try:
        for old in sorted(old_root.glob("*")) if old_root.is_dir() else []:
            slug = old.name.split(".", 1)[0]
            target = site / slug
            if not target.exists():
                old.rename(target)
                restored.append(slug)
            else:
                shutil.rmtree(old)
        shutil.rmtree(state_dir(site) / "trash", ignore_errors=True)  # unpublished tenants
        if staging.is_dir():
            shutil.rmtree(staging)
        else:
            staging.unlink(missing_ok=True)
        staging.mkdir(parents=True)
        with tempfile.TemporaryFile(dir=staging) as probe:
            probe.write(b"tenantdocs")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise PublishError(
            Problem(Location(site), f"cannot write the site folder: {exc.strerror or exc}")
        ) from None
    return restored


def staging_dir(site: Path, slug: str) -> Path:
    """A fresh, empty folder to build one tenant's site in, on the site's file system."""
    root = state_dir(site) / "staging"
    try:
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=root))
    except OSError as exc:
        raise cannot_write(root, exc) from None


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


MANIFEST_VERSION = 1
"""Version of the manifest format; a manifest of another version is not trusted."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``site/<slug>`` was built from, recorded after it was published."""

    name: str
    """The tenant's display name (for the tenant directory)."""
    apps: tuple[tuple[str, str], ...]
    """(title, page path) per app, for the tenant directory."""
    pages: int
    """How many pages the site has."""
    digests: Mapping[str, str]
    """Hash of every input part of the plan (see ``incremental.digests``)."""
    inputs: str | None
    """One hash of the tenant's input files; None when it could not be judged unrendered."""
    stable_until: datetime | None
    """When the pages could change with no input changing (certificate thresholds)."""
    version: int = MANIFEST_VERSION
    """:data:`MANIFEST_VERSION` when written."""

    def to_json(self) -> bytes:
        """The manifest as stored."""
        data = {
            "version": self.version,
            "name": self.name,
            "apps": [list(app) for app in self.apps],
            "pages": self.pages,
            "digests": dict(sorted(self.digests.items())),
            "inputs": self.inputs,
            "stable_until": self.stable_until.isoformat() if self.stable_until else None,
        }
        return json.dumps(data, indent=2, sort_keys=True).encode("utf-8")


def parse_manifest(text: str) -> Manifest:
    """A stored manifest; ValueError saying what is wrong when it is not one of this version."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"version {data.get('version')!r}, not {MANIFEST_VERSION}")
    expected = {"version", "name", "apps", "pages", "digests", "inputs", "stable_until"}
    if set(data) != expected:
        fields = sorted(set(data) ^ expected)
        raise ValueError(f"unexpected or missing fields: {', '.join(fields)}")
    name, apps, pages, digests = data["name"], data["apps"], data["pages"], data["digests"]
    inputs, until = data["inputs"], data["stable_until"]
    if not isinstance(name, str):
        raise ValueError("'name' is not a string")
    if not isinstance(apps, list) or not all(
        isinstance(a, list) and len(a) == 2 and all(isinstance(x, str) for x in a) for a in apps
    ):
        raise ValueError("'apps' is not a list of [title, path] pairs")
    if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
        raise ValueError("'pages' is not a count")
    if not isinstance(digests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
    ):
        raise ValueError("'digests' is not a mapping of strings")
    if inputs is not None and not isinstance(inputs, str):
        raise ValueError("'inputs' is not a string")
    stable_until = None
    if until is not None:
        try:
            stable_until = datetime.fromisoformat(until) if isinstance(until, str) else None
        except ValueError:
            stable_until = None
        if stable_until is None or stable_until.utcoffset() is None:
            raise ValueError("'stable_until' is not a date and time with a zone")
    return Manifest(name, tuple((t, p) for t, p in apps), pages, digests, inputs, stable_until)


def read_manifest(site: Path, slug: str) -> tuple[Manifest | None, Problem | None]:
    """The tenant's manifest; without one, why (a warning) when a file is there but unusable.

    Like a cache entry, a manifest that is missing a field, has one of the wrong type or
    comes from another version only means the tenant is rebuilt.
    """
    path = manifest_path(site, slug)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        return None, _unusable(path, slug, str(reason))
    try:
        return parse_manifest(text), None
    except ValueError as exc:
        return None, _unusable(path, slug, str(exc).splitlines()[0])


def published_stamp(site: Path, slug: str) -> tuple[int, ...]:
    """What identifies the tenant's published site and manifest as they are now.

    Both are only ever replaced whole (a folder swap, an atomic write: a new inode), so an
    equal stamp later means nothing was published for the tenant in between.
    """
    stamp: list[int] = []
    for path in (site / slug, manifest_path(site, slug)):
        try:
            found = path.stat()
        except OSError:
            stamp += [-1, -1, -1]
        else:
            stamp += [found.st_ino, found.st_size, found.st_mtime_ns]
    return tuple(stamp)


def _unusable(path: Path, slug: str, reason: str) -> Problem:
    return Problem(
        Location(path),
        f"build manifest not usable ({reason}); the tenant is rebuilt",
        Severity.WARNING,
        slug,
    )


def write_manifest(site: Path, slug: str, manifest: Manifest) -> None:
    """Record what ``site/<slug>`` was built from (atomically)."""
    write_atomic(manifest_path(site, slug), manifest.to_json())


def remove_tenant(site: Path, slug: str) -> None:
    """Unpublish a tenant whose file is gone: its site folder and manifest.

    The folder is first moved aside in one rename, so readers never see half of it.
    """
    trash = state_dir(site) / "trash"
    try:
        trash.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=f"{slug}.", dir=trash))
        (site / slug).rename(aside / slug)
        manifest_path(site, slug).unlink(missing_ok=True)
    except OSError as exc:
        raise cannot_write(site / slug, exc) from None
    shutil.rmtree(aside, ignore_errors=True)


def published_slugs(site: Path) -> list[str]:
    """Tenants with a manifest and a site folder, sorted."""
    folder = state_dir(site) / "manifests"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if (site / p.stem).is_dir())
