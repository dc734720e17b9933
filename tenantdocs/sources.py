"""Where an app's federation metadata comes from, and getting it: local file, URL or app ID.

An app's own ``metadata_file`` / ``metadata_url`` wins; else its ``app_id`` in an Entra
tenant gives the App Federation Metadata URL; else the tenant-wide source applies. URLs are
fetched through the cache: a failed fetch falls back to the last good copy while it is
still valid (its ``validUntil`` and the tenant's ``metadata_max_age_days``), with a warning,
never silently. Every document is then checked: ``validUntil`` and certificate expiry.

A run first hands every URL it will need to :meth:`MetadataLoader.prefetch`, which fetches
them concurrently in the background (:func:`tenantdocs.fetch.fetch_all`) while the first
tenants are rendered; what each tenant is told is decided one tenant at a time, in order,
waiting for its own URLs only, so output never depends on which fetch ended first.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path

from tenantdocs import cache, entra
from tenantdocs.errors import Location, MetadataError, Problem, Severity, TenantError
from tenantdocs.fetch import Download, Fetcher, FetchSettings, MetadataFetchError, fetch_all
from tenantdocs.metadata import (
    MAX_METADATA_BYTES,
    DocumentProblem,
    IdpMetadata,
    InvalidMetadata,
    parse_metadata,
    read_metadata,
)
from tenantdocs.tenants import MetadataSource, Setting, Tenant


class SourceKind(StrEnum):
    """Where a tenant file says an app's metadata is."""

    FILE = "file"
    """A local file below the tenants folder (``metadata_file``)."""
    URL = "url"
    """A URL to fetch (``metadata_url``, or the App Federation Metadata URL of an app_id)."""


class FetchStatus(StrEnum):
    """How the bytes used for a URL were obtained this run."""

    FETCHED = "fetched"
    """The server sent the document."""
    NOT_MODIFIED = "not modified"
    """The server confirmed the cached copy (304)."""
    CACHED = "cached"
    """``--offline``: the cached copy, not asked."""
    STALE = "stale"
    """The fetch failed; the cached copy stands in (with a warning)."""


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One metadata source as a tenant file names it."""

    kind: SourceKind
    """A local file or a URL."""
    value: str
    """The path (relative to the tenants folder) or the URL."""
    location: Location
    """Where the tenant file names it."""
    entity_id: str | None = None
    """Which IdP to use when the document holds several."""


@dataclass(frozen=True, slots=True)
class LoadedMetadata:
    """A parsed metadata document and where it was read from."""

    document: IdpMetadata
    """The parsed document."""
    location: Location
    """The local file or the cached copy of a fetched URL."""
    detail: str
    """Human description of the source: the file path or the URL with its fetch time."""
    source: str
    """Just the file path (relative to the tenants folder) or the URL, as pages name it."""


Previous = IdpMetadata | DocumentProblem | None
"""The cached copy before a fetch: parsed, or why it no longer parses; None if none."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """The outcome of getting one URL's metadata, for provenance and ``refresh``."""

    url: str
    """The URL."""
    status: FetchStatus
    """How the bytes used were obtained."""
    entry: cache.CacheEntry
    """Validators and fetch time of the bytes used."""
    previous: Previous = None
    """The cached copy before this fetch (for reporting changes)."""
    warning: str | None = None
    """Why a cached copy stands in, when it does."""
    reason: str | None = None
    """Why the fetch failed, when a cached copy stands in."""


@dataclass(frozen=True, slots=True)
class _Answered:
    """What one URL gave this run, before any tenant's rules apply."""

    cached: tuple[cache.CacheEntry, bytes] | None
    """The cache entry and bytes from before this run."""
    download: Download | None
    """The server's answer; None offline or when the fetch failed."""
    failure: str | None
    """Why the fetch failed."""
    entry: cache.CacheEntry | None
    """The cache entry for the answered bytes (when the server answered)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One URL's document for one entity_id, or why there is none (tenant-independent)."""

    fetch: Fetch | None = None
    """How the document was obtained, when there is one."""
    document: IdpMetadata | None = None
    """The parsed document."""
    reason: str | None = None
    """Why the fetch failed: the cached copy may stand in."""
    error: str | None = None
    """A failure nothing can stand in for (offline without a usable cached copy)."""
    cached: cache.CacheEntry | None = None
    """The cache entry from before this run."""
    previous: Previous = None
    """The cached copy from before this run, parsed for this entity_id."""


_UrlResult = tuple[_Answered, dict[str | None, _Outcome]]
"""What one URL gave, and the document for each entity_id asked for."""


_NO_SOURCE = MetadataSource()


def metadata_source(tenant: Tenant, app: str) -> SourceRef | None:
    """The source an app's metadata comes from, or None when it has none."""
    entry = tenant.listed_entry(app)  # an app the tenant file does not list has nothing of its own

    def ref(kind: SourceKind, setting: Setting, entity: Setting | None) -> SourceRef:
        return SourceRef(kind, setting.value, setting.location, entity.value if entity else None)

    own = entry.source if entry is not None else _NO_SOURCE
    if own.metadata_file:
        return ref(SourceKind.FILE, own.metadata_file, own.entity_id)
    if own.metadata_url:
        return ref(SourceKind.URL, own.metadata_url, own.entity_id)
    if entry is not None and entry.app_id and tenant.tenant_id:
        url = entra.app_federation_metadata_url(tenant.tenant_id.value, entry.app_id.value)
        entity_id = own.entity_id.value if own.entity_id else None
        return SourceRef(SourceKind.URL, url, entry.app_id.location, entity_id)
    shared = tenant.source
    entity_id_setting = own.entity_id or shared.entity_id  # an app may pick its IdP
    if shared.metadata_file:
        return ref(SourceKind.FILE, shared.metadata_file, entity_id_setting)
    if shared.metadata_url:
        return ref(SourceKind.URL, shared.metadata_url, entity_id_setting)
    return None


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
    settings: FetchSettings = field(default_factory=FetchSettings)
    """How many fetches at once, per host, and which hosts are allowed."""

    def __post_init__(self) -> None:
        self._loaded: dict[tuple[str, str | None], LoadedMetadata] = {}
        self._answered: dict[str, _Answered] = {}
        self._outcomes: dict[tuple[str, str | None], _Outcome] = {}
        self._pending: dict[str, Future[_UrlResult]] = {}
        self._threads: list[threading.Thread] = []
        self.fetches: dict[str, Fetch] = {}

    # --- what pages get ----------------------------------------------------------------

    def load(self, tenant: Tenant, app: str) -> tuple[LoadedMetadata | None, list[Problem]]:
        """The app's parsed, checked metadata and warnings; raise TenantError if unusable."""
        ref = metadata_source(tenant, app)
        if ref is None:
            return None, []
        warnings: list[Problem] = []
        if ref.kind is SourceKind.FILE:
            key = (ref.value, ref.entity_id)
            if key not in self._loaded:
                self._loaded[key] = self._local(tenant, ref)
            loaded = self._loaded[key]
            warnings += [
                note.located(loaded.location.path, Severity.WARNING, tenant.slug)
                for note in loaded.document.notes
            ]
        else:
            # Not memoized here: each tenant gets its own location and its own warning.
            fetch, document = self.fetch(tenant, ref)
            loaded = LoadedMetadata(document, ref.location, _fetch_detail(fetch), ref.value)
            if fetch.warning:
                warnings.append(Problem(ref.location, fetch.warning, Severity.WARNING, tenant.slug))
            warnings += [
                Problem(ref.location, _in_document(ref.value, note), Severity.WARNING, tenant.slug)
                for note in document.notes
            ]
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
        try:
            document = parse_metadata(data, path, ref.entity_id)
        except MetadataError as exc:
            raise MetadataError([replace(p, tenant=tenant.slug) for p in exc.problems]) from None
        detail = f"{ref.value} (sha256 {hashlib.sha256(data).hexdigest()[:16]})"
        return LoadedMetadata(document, Location(path), detail, ref.value)

    # --- fetching ----------------------------------------------------------------------

    def prefetch(self, refs: Iterable[SourceRef]) -> None:
        """Start fetching every URL among ``refs`` not asked for yet, concurrently, in the
        background (see the module); :meth:`fetch` waits for the one it needs."""
        wanted: dict[str, set[str | None]] = {}
        for ref in refs:
            if ref.kind is SourceKind.URL and ref.value not in self._answered:
                wanted.setdefault(ref.value, set()).add(ref.entity_id)
        todo = sorted(url for url in wanted if url not in self._pending)
        if not todo:
            return
        futures: dict[str, Future[_UrlResult]] = {url: Future() for url in todo}
        self._pending.update(futures)
        jobs = [
            (url, partial(self._settle_in_worker, futures[url], url, wanted[url])) for url in todo
        ]
        # Not a daemon: an interrupted run still finishes the cache entries it started.
        thread = threading.Thread(target=self._run, args=(jobs,), name="prefetch")
        self._threads.append(thread)
        thread.start()

    def settle(self) -> None:
        """Wait for every fetch started. Afterwards no thread of this loader runs, so a
        worker process forked now has every answer rather than a fetch nothing would end."""
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _run(self, jobs: list[tuple[str, Callable[[Fetcher], None]]]) -> None:
        with Fetcher(self.settings.policy(), self.settings.per_host) as fetcher:
            work = [(url, partial(job, fetcher)) for url, job in jobs]
            fetch_all(work, self.settings.jobs, self.settings.per_host)

    def _settle_in_worker(
        self,
        future: Future[_UrlResult],
        url: str,
        entity_ids: set[str | None],
        fetcher: Fetcher,
    ) -> None:
        try:
            future.set_result(self._fetch_url(fetcher, url, tuple(sorted(entity_ids, key=str))))
        except BaseException as exc:  # raised where the result is used, in the main thread
            future.set_exception(exc)

    def _outcome_of(self, ref: SourceRef) -> _Outcome:
        """The outcome for ``ref``, waiting for its fetch (started now if it was not)."""
        key = (ref.value, ref.entity_id)
        if key in self._outcomes:
            return self._outcomes[key]
        if ref.value not in self._answered:
            self.prefetch([ref])
            answered, outcomes = self._pending.pop(ref.value).result()
            self._answered[ref.value] = answered
            for entity_id, outcome in outcomes.items():
                self._outcomes[(ref.value, entity_id)] = outcome
        if key not in self._outcomes:
            # Fetched for other entities: only the document is read again.
            self._outcomes[key] = self._outcome(ref.value, self._answered[ref.value], ref.entity_id)
        return self._outcomes[key]

    def fetch(self, tenant: Tenant, ref: SourceRef) -> tuple[Fetch, IdpMetadata]:
        """Fetch (or take from the cache) one URL's document, falling back as documented."""
        outcome = self._outcome_of(ref)
        if outcome.error is not None:
            raise _error(tenant, ref, outcome.error)
        if outcome.reason is None:
            assert outcome.fetch is not None and outcome.document is not None
            self.fetches.setdefault(ref.value, outcome.fetch)
            return outcome.fetch, outcome.document
        fetch, document = self._fall_back(tenant, ref, outcome, outcome.reason)
        self.fetches.setdefault(ref.value, fetch)
        return fetch, document

    def _fetch_url(
        self, fetcher: Fetcher, url: str, entity_ids: tuple[str | None, ...]
    ) -> _UrlResult:
        """One URL, in a worker thread: cache, conditional GET, parse, store if usable."""
        cached = cache.read_entry(self.cache_dir, url)
        if self.offline:
            answered = _Answered(cached, None, None, None)
        else:
            answered = self._download(fetcher, url, cached, entity_ids)
        outcomes = {e: self._outcome(url, answered, e) for e in entity_ids}
        if self.keep and answered.entry is not None and any(o.fetch for o in outcomes.values()):
            data = answered.download.data if answered.download else None
            if data is None and cached is not None:
                data = cached[1]
            assert data is not None
            cache.write_entry(self.cache_dir, answered.entry, data)
        return answered, outcomes

    def _download(
        self,
        fetcher: Fetcher,
        url: str,
        cached: tuple[cache.CacheEntry, bytes] | None,
        entity_ids: tuple[str | None, ...],
    ) -> _Answered:
        # A cached copy that no longer parses is not worth a 304: ask for the whole document.
        usable = cached is not None and any(
            isinstance(_parsed(cached[1], e), IdpMetadata) for e in entity_ids
        )
        try:
            answer = fetcher.download(
                url,
                etag=cached[0].etag if cached and usable else None,
                last_modified=cached[0].last_modified if cached and usable else None,
            )
        except MetadataFetchError as exc:
            return _Answered(cached, None, exc.reason, None)
        if answer.data is None and not (cached and usable):
            reason = "server answered 304 Not Modified to a request without validators"
            return _Answered(cached, None, reason, None)
        data = answer.data if answer.data is not None else cached[1]  # type: ignore[index]
        now = self.now.isoformat(timespec="seconds")
        sha256 = hashlib.sha256(data).hexdigest()
        same = cached[0] if cached is not None and cached[0].sha256 == sha256 else None
        entry = cache.CacheEntry(
            url=url,
            fetched_at=same.fetched_at if same else now,
            sha256=sha256,
            etag=answer.etag or (same.etag if same else None),
            last_modified=answer.last_modified or (same.last_modified if same else None),
            checked_at=now,
        )
        return _Answered(cached, answer, None, entry)

    def _outcome(self, url: str, answered: _Answered, entity_id: str | None) -> _Outcome:
        """The document for one entity_id from what the URL gave (pure but for parsing)."""
        cached = answered.cached
        previous = _parsed(cached[1], entity_id) if cached else None
        entry = cached[0] if cached else None
        if self.offline:
            if cached is None:
                return _Outcome(
                    error=f"no cached metadata for {url} (--offline);"
                    " build or refresh once with network access"
                )
            if isinstance(previous, DocumentProblem):
                return _Outcome(error=_in_document(url, previous))
            assert isinstance(previous, IdpMetadata)
            fetch = Fetch(url, FetchStatus.CACHED, cached[0], previous)
            return _Outcome(fetch, previous, cached=entry, previous=previous)
        if answered.failure is not None or answered.download is None:
            return _Outcome(reason=answered.failure, cached=entry, previous=previous)
        if answered.download.data is None:
            document: IdpMetadata | DocumentProblem | None = previous
            status = FetchStatus.NOT_MODIFIED
        else:
            document = _parsed(answered.download.data, entity_id)
            status = FetchStatus.FETCHED
        if isinstance(document, DocumentProblem):
            # A broken new document is a failed fetch: the cached copy may stand in.
            reason = f"the document {document.worded()}" if document.line else document.message
            return _Outcome(reason=reason, cached=entry, previous=previous)
        assert document is not None and answered.entry is not None
        fetch = Fetch(url, status, answered.entry, previous)
        return _Outcome(fetch, document, cached=entry, previous=previous)

    def _fall_back(
        self, tenant: Tenant, ref: SourceRef, outcome: _Outcome, reason: str
    ) -> tuple[Fetch, IdpMetadata]:
        url = ref.value
        entry, previous = outcome.cached, outcome.previous
        if entry is None:
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {url}: {reason}; no cached copy to fall back on",
            )
        self._check_age(tenant, ref, entry, reason)
        if isinstance(previous, DocumentProblem):
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {url}: {reason}; the cached copy no longer"
                f" parses: {previous.worded()}",
            )
        assert isinstance(previous, IdpMetadata)
        if previous.valid_until is not None and previous.valid_until < self.now:
            raise _error(
                tenant,
                ref,
                f"cannot fetch metadata from {url}: {reason}; the cached copy expired at"
                f" {previous.valid_until.isoformat()}",
            )
        warning = (
            f"cannot fetch metadata from {url}: {reason};"
            f" using the cached copy from {entry.fetched_at}"
        )
        return Fetch(url, FetchStatus.STALE, entry, previous, warning, reason), previous

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


def _parsed(data: bytes, entity_id: str | None) -> IdpMetadata | DocumentProblem:
    """The document for ``entity_id``, or what is wrong with it."""
    try:
        return read_metadata(data, entity_id)
    except InvalidMetadata as exc:
        return exc.problem


def _in_document(url: str, problem: DocumentProblem) -> str:
    """A problem in a fetched document, worded with its URL (the tenant file is the place)."""
    where = f" at line {problem.line}" if problem.line else ""
    return f"metadata from {url}{where}: {problem.message}"


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
