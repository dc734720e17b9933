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

from tenantdocs.publish import write_atomic


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the cache knows about one URL."""

    url: str
    """The metadata URL."""
    fetched_at: str
    """When the bytes were last fetched or confirmed (304), ISO 8601 UTC."""
    sha256: str
    """SHA-256 of the bytes, hex."""
    etag: str | None = None
    """The server's ETag, sent back as If-None-Match."""
    last_modified: str | None = None
    """The server's Last-Modified, sent back as If-Modified-Since."""

    @property
    def fetched(self) -> datetime:
        """``fetched_at`` as a datetime."""
        return datetime.fromisoformat(self.fetched_at)


def _folder(cache: Path, url: str) -> Path:
    return cache / "metadata" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def read_entry(cache: Path, url: str) -> tuple[CacheEntry, bytes] | None:
    """The cached entry and bytes for ``url``, or None when absent or corrupt."""
    folder = _folder(cache, url)
    try:
        raw = json.loads((folder / "entry.json").read_text(encoding="utf-8"))
        entry = CacheEntry(**raw)
        data = (folder / "metadata.xml").read_bytes()
        entry.fetched  # noqa: B018 - validates the timestamp
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
