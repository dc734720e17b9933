"""The metadata cache in ``--cache DIR``: last good bytes of every fetched URL, with validators.

One folder per URL (named by a hash of it) holding ``metadata.xml`` and ``entry.json``
(URL, ETag, Last-Modified, fetch time, SHA-256 of the bytes). An entry whose bytes do not
match its recorded hash — truncated, edited, half-written — is treated as absent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from tenantdocs.files import write_atomic


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the cache knows about one URL."""

    url: str
    """The metadata URL."""
    fetched_at: str
    """When these bytes were first fetched, ISO 8601 UTC (shown as provenance: it changes
    only when the document does, so a confirmed document leaves the site unchanged)."""
    sha256: str
    """SHA-256 of the bytes, hex."""
    etag: str | None = None
    """The server's ETag, sent back as If-None-Match."""
    last_modified: str | None = None
    """The server's Last-Modified, sent back as If-Modified-Since."""
    checked_at: str | None = None
    """When the server last confirmed these bytes (304, or 200 with the same bytes)."""

    @property
    def fetched(self) -> datetime:
        """``fetched_at`` as a datetime."""
        return datetime.fromisoformat(self.fetched_at)

    @property
    def checked(self) -> datetime:
        """When the bytes were last known good: ``checked_at``, else ``fetched_at``."""
        return datetime.fromisoformat(self.checked_at) if self.checked_at else self.fetched


def _folder(cache: Path, url: str) -> Path:
    return cache / "metadata" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def read_entry(cache: Path, url: str) -> tuple[CacheEntry, bytes] | None:
    """The cached entry and bytes for ``url``, or None when absent or corrupt."""
    folder = _folder(cache, url)
    try:
        raw = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
        entry = CacheEntry(**raw)
        data = (folder / "metadata.xml").read_bytes()
        if entry.fetched.utcoffset() is None or entry.checked.utcoffset() is None:
            # a time without a zone cannot be compared to now
            return None
    except (OSError, ValueError, TypeError):
        return None
    if entry.url != url or hashlib.sha256(data).hexdigest() != entry.sha256:
        return None
    return entry, data


def write_entry(cache: Path, entry: CacheEntry, data: bytes) -> None:
    """Store bytes and entry; the bytes first, so a crash leaves an entry that fails its hash."""
    folder = _folder(cache, entry.url)
    write_atomic(folder / "metadata.xml", data)
    write_atomic(folder / "entry.json", json.dumps(asdict(entry), indent=2).encode("utf-8"))
