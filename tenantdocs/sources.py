"""Where an app's federation metadata comes from, and getting it: local file, URL or app ID.

An app's own ``metadata_file`` / ``metadata_url`` wins; else its ``app_id`` in an Entra
tenant gives the App Federation Metadata URL; else the tenant-wide source applies. URLs are
fetched through the cache: a failed fetch falls back to the last good copy while it is
still valid (its ``validUntil`` and the tenant's ``metadata_max_age_days``), with a warning,
never silently. Every document is then checked: ``validUntil`` and certificate expiry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from tenantdocs import cache
from tenantdocs.errors import Location, MetadataError, Problem, Severity, TenantError
from tenantdocs.metadata import (
    MAX_METADATA_BYTES,
    IdpMetadata,
    MetadataFetchError,
    download,
    parse_metadata,
)
from tenantdocs.tenants import Setting, Tenant
from tenantdocs.values import ENTRA_LOGIN, LoadedMetadata


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One metadata source as a tenant file names it."""

    kind: str
    """``file`` or ``url``."""
    value: str
    """The path (relative to the tenants folder) or the URL."""
    location: Location
    """Where the tenant file names it."""
    entity_id: str | None = None
    """Which IdP to use when the document holds several."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """The outcome of getting one URL's metadata, for provenance and ``refresh``."""

    url: str
    """The URL."""
    status: str
    """``fetched``, ``not modified``, ``cached`` (offline) or ``stale`` (fetch failed)."""
    entry: cache.CacheEntry
    """Validators and fetch time of the bytes used."""
    previous: bytes | None = None
    """The cached bytes before this fetch (for reporting changes)."""
    warning: str | None = None
    """Why a cached copy stands in, when it does."""
    reason: str | None = None
    """Why the fetch failed, when a cached copy stands in."""


def metadata_source(tenant: Tenant, app: str) -> SourceRef | None:
    """The source an app's metadata comes from, or None when it has none."""
    entry = tenant.app_entry(app)

    def ref(kind: str, setting: Setting, entity: Setting | None) -> SourceRef:
        return SourceRef(kind, setting.value, setting.location, entity.value if entity else None)

    own = entry.source
    if own.metadata_file:
        return ref("file", own.metadata_file, own.entity_id)
    if own.metadata_url:
        return ref("url", own.metadata_url, own.entity_id)
    if entry.app_id and tenant.tenant_id:
        url = app_federation_metadata_url(tenant.tenant_id.value, entry.app_id.value)
        return SourceRef(
            "url", url, entry.app_id.location, own.entity_id.value if own.entity_id else None
        )
    shared = tenant.source
    entity_id = own.entity_id or shared.entity_id  # an app may pick its IdP in a shared document
    if shared.metadata_file:
        return ref("file", shared.metadata_file, entity_id)
    if shared.metadata_url:
        return ref("url", shared.metadata_url, entity_id)
    return None


def app_federation_metadata_url(tenant_id: str, app_id: str) -> str:
    """Entra's per-app federation metadata document."""
    return (
        f"{ENTRA_LOGIN}/{tenant_id.lower()}/federationmetadata/2007-06/federationmetadata.xml"
        f"?appid={app_id.lower()}"
    )


@dataclass
class MetadataLoader:
    """Loads each source once per run (many apps may share one) and remembers fetches."""

    tenants_dir: Path
    """Local metadata files live here."""
    cache_dir: Path
    """Fetched metadata is cached here."""
    offline: bool
    """Use cached copies only."""
    now: datetime
    """The time validity is judged at."""
    keep: bool = True
    """Store what is fetched in the cache (``check`` fetches but writes nothing)."""

    def __post_init__(self) -> None:
        self._loaded: dict[tuple[str, str, str | None], LoadedMetadata] = {}
        self.fetches: dict[str, Fetch] = {}
        self._documents: dict[tuple[str, str | None], tuple[Fetch, IdpMetadata]] = {}

    def load(self, tenant: Tenant, app: str) -> tuple[LoadedMetadata | None, list[Problem]]:
        """The app's parsed, checked metadata and warnings; raise TenantError if unusable."""
        ref = metadata_source(tenant, app)
        if ref is None:
            return None, []
        warnings: list[Problem] = []
        if ref.kind == "file":
            key = (ref.kind, ref.value, ref.entity_id)
            if key not in self._loaded:
                self._loaded[key] = self._local(tenant, ref)
            loaded = self._loaded[key]
        else:
            # Not memoized here: each tenant gets its own location and its own warning.
            loaded, warning = self._fetched(tenant, ref)
            if warning:
                warnings.append(Problem(ref.location, warning, Severity.WARNING, tenant.slug))
        return _checked(loaded, tenant, ref, self.now), warnings

    def _local(self, tenant: Tenant, ref: SourceRef) -> LoadedMetadata:
        path = local_metadata_path(self.tenants_dir, ref.value)
        if path is None:
            raise _error(tenant, ref, "metadata_file must be inside the tenants folder")
        try:
            data = read_metadata_file(path)
        except OSError as exc:
            raise _error(
                tenant, ref, f"cannot read metadata file '{ref.value}': {exc.strerror}"
            ) from None
        document = parse_metadata(data, path, ref.entity_id)
        detail = f"{ref.value} (sha256 {hashlib.sha256(data).hexdigest()[:16]})"
        return LoadedMetadata(document, Location(path), detail, ref.value)

    def _fetched(self, tenant: Tenant, ref: SourceRef) -> tuple[LoadedMetadata, str | None]:
        fetch, document = self.fetch(tenant, ref)
        loaded = LoadedMetadata(document, ref.location, _fetch_detail(fetch), ref.value)
        return loaded, fetch.warning

    def fetch(self, tenant: Tenant, ref: SourceRef) -> tuple[Fetch, IdpMetadata]:
        """Fetch (or take from the cache) one URL's document, falling back as documented."""
        key = (ref.value, ref.entity_id)
        if key not in self._documents:
            self._documents[key] = self._fetch(tenant, ref)
        fetch, document = self._documents[key]
        if fetch.status == "stale":
            # How old a stand-in may be is each tenant's own setting.
            self._check_age(tenant, ref, fetch.entry, fetch.reason or "")
        return fetch, document

    def _fetch(self, tenant: Tenant, ref: SourceRef) -> tuple[Fetch, IdpMetadata]:
        url = ref.value
        cached = cache.read_entry(self.cache_dir, url)
        if self.offline:
            if cached is None:
                raise _error(
                    tenant,
                    ref,
                    f"no cached metadata for {url} (--offline); build or refresh once with network access",
                )
            fetch = Fetch(url, "cached", cached[0], cached[1])
            return self._remember(fetch), self._parse(tenant, ref, cached[1])
        try:
            answer = download(
                url,
                etag=cached[0].etag if cached else None,
                last_modified=cached[0].last_modified if cached else None,
            )
            if answer.data is None and cached is None:
                raise MetadataFetchError(
                    "server answered 304 Not Modified to a request without validators"
                )
            data = answer.data if answer.data is not None else cached[1]  # type: ignore[index]
            document = self._parse(tenant, ref, data)  # a broken new document is a failed fetch
        except (MetadataFetchError, TenantError) as exc:
            reason = exc.problems[0].message if isinstance(exc, TenantError) else str(exc)
            # The fall-back message names the URL once.
            named = f"metadata from {url}"
            if reason.startswith(f"{named}: "):
                reason = reason[len(named) + 2 :]
            elif reason.startswith(named):
                reason = "the document" + reason[len(named) :]
            return self._fall_back(tenant, ref, cached, reason)
        now = self.now.isoformat(timespec="seconds")
        sha256 = hashlib.sha256(data).hexdigest()
        same = cached is not None and cached[0].sha256 == sha256
        entry = cache.CacheEntry(
            url=url,
            fetched_at=cached[0].fetched_at if same and cached else now,
            sha256=sha256,
            etag=answer.etag or (cached[0].etag if same and cached else None),
            last_modified=answer.last_modified
            or (cached[0].last_modified if same and cached else None),
            checked_at=now,
        )
        if self.keep:
            cache.write_entry(self.cache_dir, entry, data)
        status = "not modified" if answer.data is None else "fetched"
        fetch = Fetch(url, status, entry, cached[1] if cached else None)
        return self._remember(fetch), document

    def _fall_back(
        self,
        tenant: Tenant,
        ref: SourceRef,
        cached: tuple[cache.CacheEntry, bytes] | None,
        reason: str,
    ) -> tuple[Fetch, IdpMetadata]:
        url = ref.value
        if cached is None:
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {url}: {reason}; no cached copy to fall back on",
            )
        entry, data = cached
        self._check_age(tenant, ref, entry, reason)
        document = self._parse(tenant, ref, data)
        if document.valid_until is not None and document.valid_until < self.now:
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {url}: {reason}; the cached copy expired at"
                f" {document.valid_until.isoformat()}",
            )
        warning = f"cannot fetch metadata from {url}: {reason}; using the cached copy from {entry.fetched_at}"
        fetch = Fetch(url, "stale", entry, data, warning, reason)
        return self._remember(fetch), document

    def _check_age(
        self, tenant: Tenant, ref: SourceRef, entry: cache.CacheEntry, reason: str
    ) -> None:
        """Refuse a cached copy older than the tenant's ``metadata_max_age_days``."""
        if self.now - entry.checked > timedelta(days=tenant.metadata_max_age_days):
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {ref.value}: {reason}; the cached copy, last"
                f" confirmed {entry.checked_at or entry.fetched_at}, is older than"
                f" {tenant.metadata_max_age_days} days",
            )

    def _parse(self, tenant: Tenant, ref: SourceRef, data: bytes) -> IdpMetadata:
        try:
            return parse_metadata(data, Path(ref.value), ref.entity_id)
        except MetadataError as exc:
            # Located at the tenant file line naming the URL; the document's own position
            # (if any) goes into the message.
            inner = exc.problems[0]
            where = f" at line {inner.location.line}" if inner.location.line else ""
            raise _error(
                tenant, ref, f"metadata from {ref.value}{where}: {inner.message}"
            ) from None

    def _remember(self, fetch: Fetch) -> Fetch:
        self.fetches[fetch.url] = fetch
        return fetch


def local_metadata_path(tenants_dir: Path, value: str) -> Path | None:
    """The file a ``metadata_file`` names, or None when it leaves the tenants folder."""
    path = (tenants_dir / value).resolve()
    return path if path.is_relative_to(tenants_dir.resolve()) else None


def read_metadata_file(path: Path) -> bytes:
    """A local metadata file's bytes, read up to one byte over the cap (never endlessly)."""
    with path.open("rb") as stream:
        # One byte over the cap is enough for parse_metadata to refuse a huge file.
        return stream.read(MAX_METADATA_BYTES + 1)


def _fetch_detail(fetch: Fetch) -> str:
    validator = (
        f"ETag {fetch.entry.etag}" if fetch.entry.etag else f"sha256 {fetch.entry.sha256[:16]}"
    )
    return f"{fetch.url} (fetched {fetch.entry.fetched_at}, {validator})"


def _checked(
    loaded: LoadedMetadata, tenant: Tenant, ref: SourceRef, now: datetime
) -> LoadedMetadata:
    """Refuse an expired document or, unless the tenant opts out, expired certificates."""
    document = loaded.document
    if document.valid_until is not None and document.valid_until < now:
        raise _error(
            tenant, ref, f"metadata expired: validUntil is {document.valid_until.isoformat()}"
        )
    certificates = document.signing_certificates
    current = [c for c in certificates if c.not_before <= now <= c.not_after]
    if certificates and not current and not tenant.allow_expired_certificate:
        latest = max(c.not_after for c in certificates)
        raise _error(
            tenant,
            ref,
            f"every signing certificate in the metadata has expired (latest on {latest:%Y-%m-%d});"
            " publish anyway with 'allow_expired_certificate: true'",
        )
    # The primary certificate is the first one valid now (key rollover lists several).
    ordered = (*current, *(c for c in certificates if c not in current))
    return replace(loaded, document=replace(document, signing_certificates=ordered))


def _error(tenant: Tenant, ref: SourceRef, message: str) -> TenantError:
    return TenantError(Problem(ref.location, message, tenant=tenant.slug))
