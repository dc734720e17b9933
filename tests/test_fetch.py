"""Fetching metadata: check_url, download, the cache and MetadataLoader, on a real loopback server."""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from idp import ENTITY_ID, SSO_URL, make_certificate, make_entity, make_metadata
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tenantdocs import cache
from tenantdocs.errors import Location, Severity, TenantError
from tenantdocs.fetch import (
    LOOPBACK_ENV,
    TIMEOUT_ENV,
    Download,
    FailureKind,
    Fetcher,
    FetchSettings,
    MetadataFetchError,
    _host_header,
    _redirect_target,
    check_url,
    download,
    fetch_all,
)
from tenantdocs.hosts import HostPolicy
from tenantdocs.metadata import MAX_METADATA_BYTES
from tenantdocs.sources import FetchStatus, MetadataLoader, SourceKind, SourceRef, metadata_source
from tenantdocs.tenants import Tenant, parse_tenant

NOW = datetime.now(UTC).replace(microsecond=0)
FETCHED_AT = NOW.isoformat(timespec="seconds")
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
TENANT_FILE = "tenants/acme.yml"
URL_AT = f"{TENANT_FILE}:2:15"  # where `metadata_url:` puts its value in tenant_text()


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)


def conditional(body: bytes, etag: str = ETAG) -> Callable[[Request], Response]:
    """A handler that answers 304 when the client already has ``etag``."""

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag, "Last-Modified": LAST_MODIFIED})

    return handler


def requests_made(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log]


# --- check_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://login.microsoftonline.com/x/federationmetadata.xml",
        "HTTPS://idp.example.com/metadata",
        "http://127.0.0.1:8080/metadata.xml",
        "http://localhost/metadata.xml",
        "http://[::1]:8080/metadata.xml",
    ],
)
def test_check_url_accepts_https_and_loopback_when_tests_allow_it(url: str) -> None:
    check_url(url)  # raises when refused


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/metadata",
        "http://localhost.evil.example/metadata",
        "http://127.0.0.2/metadata",
        "ftp://idp.example.com/metadata",
        "file:///etc/passwd",
        "https:///no-host",
    ],
)
def test_check_url_refuses_anything_else(url: str) -> None:
    with pytest.raises(MetadataFetchError) as info:
        check_url(url)
    assert str(info.value) == f"refusing '{url}': metadata must be fetched over https://"


@pytest.mark.parametrize("setting", [None, "0", "true"])
def test_loopback_http_needs_the_variable_set_to_1(
    monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    if setting is None:
        monkeypatch.delenv(LOOPBACK_ENV)
    else:
        monkeypatch.setenv(LOOPBACK_ENV, setting)
    with pytest.raises(MetadataFetchError, match="metadata must be fetched over https://"):
        check_url("http://127.0.0.1:8080/metadata.xml")


def test_refused_url_is_never_requested(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LOOPBACK_ENV)
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    with pytest.raises(MetadataFetchError, match="must be fetched over https://"):
        download(httpserver.url_for("/metadata.xml"))
    assert requests_made(httpserver) == []


# --- download ----------------------------------------------------------------------------


def test_download_returns_the_body_and_its_validators(httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_ordered_request("/metadata.xml", method="GET").respond_with_data(
        body, headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
    url = httpserver.url_for("/metadata.xml")
    assert download(url) == Download(url, body, ETAG, LAST_MODIFIED)
    [request] = requests_made(httpserver)
    assert request.headers["Accept"] == "application/samlmetadata+xml, application/xml, text/xml"
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


def test_conditional_request_gets_304(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_handler(conditional(make_metadata()))
    url = httpserver.url_for("/metadata.xml")
    answer = download(url, etag=ETAG, last_modified=LAST_MODIFIED)
    assert answer == Download(url, None, ETAG, LAST_MODIFIED)
    [request] = requests_made(httpserver)
    assert request.headers["If-None-Match"] == ETAG
    assert request.headers["If-Modified-Since"] == LAST_MODIFIED


def test_not_found_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == "HTTP 404 NOT FOUND"
    assert len(requests_made(httpserver)) == 1


def test_server_errors_are_retried(httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data(body)
    assert download(httpserver.url_for("/metadata.xml")).data == body
    assert len(requests_made(httpserver)) == 3
    httpserver.check_assertions()


def test_server_that_keeps_failing_gives_up_after_three_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data("oops", status=502)
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == "HTTP 502 BAD GATEWAY"
    assert len(requests_made(httpserver)) == 4


def test_retry_after_is_honoured_within_the_deadline(httpserver: HTTPServer) -> None:
    body = make_metadata()
    asked: list[float] = []  # when the server was asked, each time

    def answer(status: int, data: str | bytes, headers: dict[str, str]) -> Callable[..., Response]:
        def respond(request: Request) -> Response:
            asked.append(time.monotonic())
            return Response(data, status=status, headers=headers)

        return respond

    httpserver.expect_ordered_request("/metadata.xml").respond_with_handler(
        answer(429, "slow down", {"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/metadata.xml").respond_with_handler(answer(200, body, {}))
    assert download(httpserver.url_for("/metadata.xml")).data == body
    assert len(asked) == 2
    waited = asked[1] - asked[0]
    assert waited >= 1  # as the server asked, not the usual 0.25 s backoff
    assert waited < 3  # and no longer
    httpserver.check_assertions()


def test_retry_after_as_a_date_is_honoured(httpserver: HTTPServer) -> None:
    body = make_metadata()
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data(
        "busy", status=503, headers={"Retry-After": when}
    )
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data(body)
    started = time.monotonic()
    assert download(httpserver.url_for("/metadata.xml")).data == body
    assert 0.9 <= time.monotonic() - started < 4  # the date has one-second resolution


def test_retry_after_past_the_deadline_gives_up_at_once(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server asking for more time than the deadline leaves is not waited for, nor asked
    # again sooner than it wants: the cached copy (if any) stands in.
    monkeypatch.setenv(TIMEOUT_ENV, "1")  # deadline: 3 s
    httpserver.expect_request("/metadata.xml").respond_with_data(
        "busy", status=503, headers={"Retry-After": "60"}
    )
    started = time.monotonic()
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == (
        "HTTP 503 SERVICE UNAVAILABLE; asked to retry after 60 s, past the deadline"
    )
    assert time.monotonic() - started < 1
    assert len(requests_made(httpserver)) == 1


def test_burst_of_429_and_5xx_is_ridden_out(httpserver: HTTPServer) -> None:
    body = make_metadata()
    for status in (429, 502, 503):
        httpserver.expect_ordered_request("/metadata.xml").respond_with_data("busy", status=status)
    httpserver.expect_ordered_request("/metadata.xml").respond_with_data(body)
    assert download(httpserver.url_for("/metadata.xml")).data == body
    assert len(requests_made(httpserver)) == 4
    httpserver.check_assertions()


def test_no_answer_times_out(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    answer = threading.Event()

    def slow(request: Request) -> Response:
        answer.wait(5)  # released below, so the (single-threaded) server is free again
        return Response(make_metadata())

    httpserver.expect_request("/metadata.xml").respond_with_handler(slow)
    started = time.monotonic()
    try:
        with pytest.raises(MetadataFetchError) as info:
            download(httpserver.url_for("/metadata.xml"))
    finally:
        answer.set()
    assert str(info.value) == "no answer within 0.3 s"
    assert time.monotonic() - started < 2


def test_body_trickling_in_is_cut_off_at_the_deadline(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each byte arrives within the read timeout, so only the overall deadline stops it.
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")

    def trickle(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(60):
                time.sleep(0.1)
                yield b" "

        return Response(body(), headers={"Content-Length": "60"})

    httpserver.expect_request("/metadata.xml").respond_with_handler(trickle)
    started = time.monotonic()
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == "document took too long to arrive"
    assert time.monotonic() - started < 3


def test_announced_oversized_body_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(b"x" * 2000)
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"), max_bytes=1000)
    assert str(info.value) == "document is larger than 1000 bytes"


def test_endless_body_is_capped(httpserver: HTTPServer) -> None:
    sent: list[int] = []

    def endless(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(100_000):  # 6 GB: far more than any test would wait for
                sent.append(1)
                yield b"x" * 65536

        return Response(body())  # no Content-Length: the size shows only while reading

    httpserver.expect_request("/metadata.xml").respond_with_handler(endless)
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == f"document is larger than {MAX_METADATA_BYTES} bytes"
    assert len(sent) < 1000


def test_redirect_on_the_same_host_is_followed(httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_ordered_request("/old.xml").respond_with_data(
        "", status=301, headers={"Location": "/new.xml"}
    )
    httpserver.expect_ordered_request("/new.xml").respond_with_data(body, headers={"ETag": ETAG})
    answer = download(httpserver.url_for("/old.xml"))
    assert answer == Download(httpserver.url_for("/new.xml"), body, ETAG, None)
    httpserver.check_assertions()


def other_host(server: HTTPServer) -> str:
    return "127.0.0.1" if server.host == "localhost" else "localhost"


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("http://{other}:{port}/metadata.xml", "http://{other}:{port}"),
        ("https://{host}:{port}/metadata.xml", "https://{host}:{port}"),
        ("http://{host}:1/metadata.xml", "http://{host}:1"),
        ("ftp://{host}/metadata.xml", "ftp://{host}"),
    ],
    ids=["other host", "other scheme", "other port", "ftp"],
)
def test_redirect_elsewhere_is_refused(httpserver: HTTPServer, location: str, shown: str) -> None:
    names = {"host": httpserver.host, "other": other_host(httpserver), "port": httpserver.port}
    httpserver.expect_request("/metadata.xml").respond_with_data(
        "", status=302, headers={"Location": location.format(**names)}
    )
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == (
        f"refusing redirect to another scheme or host ({shown.format(**names)})"
    )
    assert len(requests_made(httpserver)) == 1


def test_redirect_from_https_to_http_is_refused() -> None:
    # No loopback https server here: the rule itself, as download applies it to each hop.
    assert _redirect_target("https://idp.example.com/a", "/b") == "https://idp.example.com/b"
    with pytest.raises(MetadataFetchError) as info:
        _redirect_target("https://idp.example.com/a", "http://idp.example.com/a")
    assert str(info.value) == "refusing redirect to another scheme or host (http://idp.example.com)"


def test_endless_redirects_stop(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(
        "", status=307, headers={"Location": "/metadata.xml"}
    )
    with pytest.raises(MetadataFetchError) as info:
        download(httpserver.url_for("/metadata.xml"))
    assert str(info.value) == "more than 3 redirects"
    assert len(requests_made(httpserver)) == 4


# --- the cache ---------------------------------------------------------------------------


def entry_for(url: str, data: bytes, **extra: str) -> cache.CacheEntry:
    return cache.CacheEntry(url, FETCHED_AT, hashlib.sha256(data).hexdigest(), **extra)


def cache_folder(root: Path) -> Path:
    [folder] = (root / "metadata").iterdir()
    return folder


def test_cache_round_trip(tmp_path: Path) -> None:
    data = make_metadata()
    entry = entry_for("https://idp.example.com/md", data, etag=ETAG)
    cache.write_entry(tmp_path, entry, data)
    assert cache.read_entry(tmp_path, "https://idp.example.com/md") == (entry, data)
    assert cache.read_entry(tmp_path, "https://idp.example.com/other") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "metadata.xml").write_bytes(
            (folder / "metadata.xml").read_bytes()[:100]
        ),
        lambda folder: (folder / "metadata.xml").unlink(),
        lambda folder: (folder / "entry.json").write_text("{not json"),
        lambda folder: (folder / "entry.json").write_text('{"url": "x"}'),
        lambda folder: (folder / "entry.json").write_text("[]"),
        lambda folder: _edit_entry(folder, fetched_at="yesterday"),
        lambda folder: _edit_entry(folder, fetched_at="2025-01-01T00:00:00"),  # no time zone
        lambda folder: _edit_entry(folder, url="https://idp.example.com/elsewhere"),
    ],
    ids=[
        "truncated",
        "bytes missing",
        "entry not JSON",
        "entry incomplete",
        "entry not an object",
        "bad time",
        "naive time",
        "other URL",
    ],
)
def test_damaged_cache_entry_counts_as_absent(
    tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    data = make_metadata()
    cache.write_entry(tmp_path, entry_for("https://idp.example.com/md", data), data)
    damage(cache_folder(tmp_path))
    assert cache.read_entry(tmp_path, "https://idp.example.com/md") is None


def _edit_entry(folder: Path, **changes: str) -> None:
    raw = json.loads((folder / "entry.json").read_text())
    (folder / "entry.json").write_text(json.dumps({**raw, **changes}))


# --- MetadataLoader ----------------------------------------------------------------------


def tenant_text(url: str, *more: str) -> str:
    return "\n".join(["name: Acme", f"metadata_url: {url}", *more, ""])


def make_tenant(text: str, slug: str = "acme") -> Tenant:
    tenant, warnings = parse_tenant(text, Path("tenants") / f"{slug}.yml", ["demo", "other"])
    assert warnings == []
    return tenant


def make_loader(tmp_path: Path, *, offline: bool = False, now: datetime = NOW) -> MetadataLoader:
    return MetadataLoader(tmp_path / "tenants", tmp_path / "cache", offline, now)


def load_errors(loader: MetadataLoader, tenant: Tenant, app: str = "demo") -> list[str]:
    with pytest.raises(TenantError) as info:
        loader.load(tenant, app)
    return [str(p) for p in info.value.problems]


def test_fetched_values_and_provenance(tmp_path: Path, httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_request("/metadata.xml").respond_with_data(body, headers={"ETag": ETAG})
    url = httpserver.url_for("/metadata.xml")
    loader = make_loader(tmp_path)
    loaded, warnings = loader.load(make_tenant(tenant_text(url)), "demo")
    assert warnings == []
    assert loaded is not None
    assert (loaded.document.entity_id, loaded.document.sso_url) == (ENTITY_ID, SSO_URL)
    assert loaded.document.raw == body
    assert loaded.detail == f"{url} (fetched {FETCHED_AT}, ETag {ETAG})"
    assert str(loaded.location) == URL_AT
    assert loader.fetches[url].status == "fetched"
    stored = cache.read_entry(tmp_path / "cache", url)
    assert stored == (entry_for(url, body, etag=ETAG, checked_at=FETCHED_AT), body)


def test_provenance_without_etag_names_the_content_hash(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    body = make_metadata()
    httpserver.expect_request("/metadata.xml").respond_with_data(body)
    url = httpserver.url_for("/metadata.xml")
    loaded, _ = make_loader(tmp_path).load(make_tenant(tenant_text(url)), "demo")
    assert loaded is not None
    sha = hashlib.sha256(body).hexdigest()[:16]
    assert loaded.detail == f"{url} (fetched {FETCHED_AT}, sha256 {sha})"


def test_source_is_fetched_once_per_run(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    loader = make_loader(tmp_path)
    tenant = make_tenant(tenant_text(httpserver.url_for("/metadata.xml")))
    first, _ = loader.load(tenant, "demo")
    second, _ = loader.load(tenant, "other")
    assert first == second
    assert len(requests_made(httpserver)) == 1


def test_next_run_reuses_the_cache_on_304(tmp_path: Path, httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_request("/metadata.xml").respond_with_handler(conditional(body))
    url = httpserver.url_for("/metadata.xml")
    tenant = make_tenant(tenant_text(url))
    make_loader(tmp_path).load(tenant, "demo")
    later = NOW + timedelta(hours=1)
    loader = make_loader(tmp_path, now=later)
    loaded, warnings = loader.load(tenant, "demo")
    assert warnings == []
    assert loaded is not None and loaded.document.raw == body
    assert loader.fetches[url].status == "not modified"
    first, second = requests_made(httpserver)
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == ETAG
    assert second.headers["If-Modified-Since"] == LAST_MODIFIED
    # A 304 confirms the copy: its check time moves on, its fetch time (shown to admins as
    # provenance) stays, so an unchanged document leaves the published site unchanged.
    entry, _ = cache.read_entry(tmp_path / "cache", url) or pytest.fail("cache entry missing")
    assert entry.fetched_at == NOW.isoformat(timespec="seconds")
    assert entry.checked_at == later.isoformat(timespec="seconds")


def test_corrupt_cache_is_refetched_unconditionally(tmp_path: Path, httpserver: HTTPServer) -> None:
    body = make_metadata()
    httpserver.expect_request("/metadata.xml").respond_with_handler(conditional(body))
    url = httpserver.url_for("/metadata.xml")
    tenant = make_tenant(tenant_text(url))
    make_loader(tmp_path).load(tenant, "demo")
    copy = cache_folder(tmp_path / "cache") / "metadata.xml"
    copy.write_bytes(copy.read_bytes()[:50])
    loader = make_loader(tmp_path)
    loaded, _ = loader.load(tenant, "demo")
    assert loaded is not None and loaded.document.raw == body
    assert loader.fetches[url].status == "fetched"
    assert "If-None-Match" not in requests_made(httpserver)[-1].headers
    assert copy.read_bytes() == body


def seed_cache(tmp_path: Path, url: str, data: bytes, fetched_at: datetime = NOW) -> None:
    entry = cache.CacheEntry(
        url, fetched_at.isoformat(timespec="seconds"), hashlib.sha256(data).hexdigest()
    )
    cache.write_entry(tmp_path / "cache", entry, data)


def test_failed_fetch_falls_back_to_the_cached_copy_with_a_warning(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    good = make_metadata()
    url = httpserver.url_for("/metadata.xml")
    seed_cache(tmp_path, url, good, NOW - timedelta(days=2))
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    loader = make_loader(tmp_path)
    loaded, warnings = loader.load(make_tenant(tenant_text(url)), "demo")
    assert loaded is not None and loaded.document.raw == good
    since = (NOW - timedelta(days=2)).isoformat(timespec="seconds")
    assert [str(w) for w in warnings] == [
        f"{URL_AT}: warning: cannot fetch metadata from {url}: HTTP 404 NOT FOUND;"
        f" using the cached copy from {since}"
    ]
    assert [w.tenant for w in warnings] == ["acme"]
    assert loader.fetches[url].status == "stale"


def test_every_tenant_using_a_stale_copy_is_warned(tmp_path: Path, httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/metadata.xml")
    seed_cache(tmp_path, url, make_metadata())
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    loader = make_loader(tmp_path)
    for slug in ("acme", "globex"):
        _, warnings = loader.load(make_tenant(tenant_text(url), slug), "demo")
        assert [(w.tenant, w.severity) for w in warnings] == [(slug, Severity.WARNING)], slug
        assert str(warnings[0]).startswith(f"tenants/{slug}.yml:2:15: warning: cannot fetch")


def test_not_xml_falls_back_to_the_cached_copy(tmp_path: Path, httpserver: HTTPServer) -> None:
    good = make_metadata()
    url = httpserver.url_for("/metadata.xml")
    seed_cache(tmp_path, url, good)
    httpserver.expect_request("/metadata.xml").respond_with_data(
        "<html><body>Sign in</body></html><p>", content_type="text/html"
    )
    loaded, warnings = make_loader(tmp_path).load(make_tenant(tenant_text(url)), "demo")
    assert loaded is not None and loaded.document.raw == good
    assert [str(w) for w in warnings] == [
        f"{URL_AT}: warning: cannot fetch metadata from {url}: the document at line 1:"
        f" metadata is not well-formed XML: junk after document element;"
        f" using the cached copy from {FETCHED_AT}"
    ]
    # The broken answer did not replace the good copy.
    assert cache.read_entry(tmp_path / "cache", url) == (entry_for(url, good), good)


def test_cached_copy_older_than_the_maximum_age_is_not_used(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/metadata.xml")
    fetched = NOW - timedelta(days=3, minutes=1)
    seed_cache(tmp_path, url, make_metadata(), fetched)
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    tenant = make_tenant(tenant_text(url, "metadata_max_age_days: 3"))
    assert load_errors(make_loader(tmp_path), tenant) == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: HTTP 404 NOT FOUND; the cached copy,"
        f" last confirmed {fetched.isoformat(timespec='seconds')}, is older than 3 days"
    ]


def test_maximum_age_is_each_tenants_own(tmp_path: Path, httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/metadata.xml")
    seed_cache(tmp_path, url, make_metadata(), NOW - timedelta(days=2))
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    loader = make_loader(tmp_path)
    relaxed = make_tenant(tenant_text(url, "metadata_max_age_days: 30"), "acme")
    strict = make_tenant(tenant_text(url, "metadata_max_age_days: 1"), "globex")
    _, warnings = loader.load(relaxed, "demo")
    assert len(warnings) == 1
    [error] = load_errors(loader, strict)
    assert error.startswith("tenants/globex.yml:2:15: error: cannot fetch metadata from")
    assert error.endswith(" is older than 1 days")


def test_cached_copy_past_its_valid_until_is_not_used(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/metadata.xml")
    until = (NOW - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    seed_cache(tmp_path, url, make_metadata(valid_until=until), NOW - timedelta(days=1))
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    assert load_errors(make_loader(tmp_path), make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: HTTP 404 NOT FOUND; the cached copy"
        f" expired at {(NOW - timedelta(hours=1)).isoformat()}"
    ]


def test_failed_fetch_without_a_cached_copy(tmp_path: Path, httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/metadata.xml")
    httpserver.expect_request("/metadata.xml").respond_with_data("gone", status=404)
    assert load_errors(make_loader(tmp_path), make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: HTTP 404 NOT FOUND;"
        " no cached copy to fall back on"
    ]


def test_offline_uses_only_the_cache(tmp_path: Path, httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/metadata.xml")
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    tenant = make_tenant(tenant_text(url))
    assert load_errors(make_loader(tmp_path, offline=True), tenant) == [
        f"{URL_AT}: error: no cached metadata for {url} (--offline);"
        " build or refresh once with network access"
    ]
    good = make_metadata(entity_id="https://idp.example.com/cached")
    seed_cache(tmp_path, url, good, NOW - timedelta(days=400))  # offline: age is not a reason
    loader = make_loader(tmp_path, offline=True)
    loaded, warnings = loader.load(tenant, "demo")
    assert warnings == []
    assert loaded is not None and loaded.document.entity_id == "https://idp.example.com/cached"
    assert loader.fetches[url].status == "cached"
    assert requests_made(httpserver) == []


DOCTYPE = "at line 1: metadata must not contain a DOCTYPE (DTDs are refused)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<!DOCTYPE md [<!ELEMENT md ANY>]><md:EntityDescriptor xmlns:md="x"/>', DOCTYPE),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<d>&x;</d>",
            DOCTYPE,
        ),
        (
            b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d>&c;</d>',
            DOCTYPE,
        ),
        (b"Service Unavailable", "at line 1: metadata is not well-formed XML: syntax error"),
        (b"", "at line 1: metadata is not well-formed XML: no element found"),
    ],
    ids=["doctype", "external entity", "entity expansion", "not xml", "empty"],
)
def test_unsafe_or_broken_documents_are_refused(
    tmp_path: Path, httpserver: HTTPServer, body: bytes, message: str
) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(body)
    url = httpserver.url_for("/metadata.xml")
    reason = f"the document {message}" if message.startswith("at line") else message
    assert load_errors(make_loader(tmp_path), make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: {reason}; no cached copy to fall"
        " back on"
    ]
    assert not (tmp_path / "cache" / "metadata").exists()


def test_byte_order_mark_is_accepted(tmp_path: Path, httpserver: HTTPServer) -> None:
    body = b"\xef\xbb\xbf" + make_metadata()
    httpserver.expect_request("/metadata.xml").respond_with_data(body)
    url = httpserver.url_for("/metadata.xml")
    loaded, _ = make_loader(tmp_path).load(make_tenant(tenant_text(url)), "demo")
    assert loaded is not None
    assert loaded.document.entity_id == ENTITY_ID
    assert loaded.document.raw == body  # published byte for byte, BOM included


FOO = "https://foo.example.com/idp"
BAR = "https://bar.example.com/idp"


def two_idps() -> bytes:
    return make_metadata(
        entities=[
            make_entity(
                FOO, sso=[("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", f"{FOO}/sso")]
            ),
            make_entity(
                BAR, sso=[("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", f"{BAR}/sso")]
            ),
        ]
    )


def test_several_idps_need_entity_id(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(two_idps())
    url = httpserver.url_for("/metadata.xml")
    loader = make_loader(tmp_path)
    assert load_errors(loader, make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: metadata holds"
        f" 2 identity providers; set 'entity_id' to one of: {BAR}, {FOO}; no cached copy to fall"
        " back on"
    ]
    loaded, _ = loader.load(make_tenant(tenant_text(url, f"entity_id: {BAR}")), "demo")
    assert loaded is not None
    assert (loaded.document.entity_id, loaded.document.sso_url) == (BAR, f"{BAR}/sso")


def test_entity_id_of_an_app_applies_to_the_tenant_wide_url(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(two_idps())
    url = httpserver.url_for("/metadata.xml")
    text = tenant_text(url, "apps:", "  demo:", f"    entity_id: {FOO}", "  other:")
    tenant = make_tenant(text)
    ref = metadata_source(tenant, "demo")
    assert ref is not None and (ref.kind, ref.value, ref.entity_id) == ("url", url, FOO)
    loader = make_loader(tmp_path)
    loaded, _ = loader.load(tenant, "demo")
    assert loaded is not None and loaded.document.entity_id == FOO
    # The other app has no entity_id of its own, so the document is ambiguous for it: the
    # same answer, read again for it (not fetched twice), and unusable like a broken one.
    assert load_errors(loader, tenant, "other") == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: metadata holds 2 identity"
        f" providers; set 'entity_id' to one of: {BAR}, {FOO}; no cached copy to fall back on"
    ]
    assert len(requests_made(httpserver)) == 1


def test_expired_valid_until_is_an_error(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(
        make_metadata(valid_until="2020-01-01T00:00:00Z")
    )
    url = httpserver.url_for("/metadata.xml")
    assert load_errors(make_loader(tmp_path), make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: metadata expired: validUntil is 2020-01-01T00:00:00+00:00"
    ]


def test_expired_certificate_is_an_error_unless_the_tenant_allows_it(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    der, _ = make_certificate(
        "old.example.com",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 6, 30, tzinfo=UTC),
    )
    httpserver.expect_request("/metadata.xml").respond_with_data(
        make_metadata(certs=[(der, "signing")])
    )
    url = httpserver.url_for("/metadata.xml")
    loader = make_loader(tmp_path)
    assert load_errors(loader, make_tenant(tenant_text(url))) == [
        f"{URL_AT}: error: every signing certificate in the metadata has expired (latest on"
        " 2021-06-30); publish anyway with 'allow_expired_certificate: true'"
    ]
    allowed = make_tenant(tenant_text(url, "allow_expired_certificate: true"))
    loaded, _ = loader.load(allowed, "demo")
    assert loaded is not None
    assert [c.not_after.year for c in loaded.document.signing_certificates] == [2021]


def test_rollover_makes_the_valid_certificate_primary(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    old, _ = make_certificate(
        "old.example.com",
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=1),
    )
    new, _ = make_certificate("new.example.com")
    httpserver.expect_request("/metadata.xml").respond_with_data(
        make_metadata(certs=[(old, "signing"), (new, None), (old, "signing"), (new, "encryption")])
    )
    url = httpserver.url_for("/metadata.xml")
    loaded, _ = make_loader(tmp_path).load(make_tenant(tenant_text(url)), "demo")
    assert loaded is not None
    subjects = [c.subject for c in loaded.document.signing_certificates]
    assert subjects == ["CN=new.example.com", "CN=old.example.com"]


def test_common_endpoint_document_is_refused(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(
        make_metadata(entity_id="https://sts.windows.net/{tenantid}/")
    )
    url = httpserver.url_for("/metadata.xml")
    [error] = load_errors(make_loader(tmp_path), make_tenant(tenant_text(url)))
    assert error.endswith(
        ": entityID 'https://sts.windows.net/{tenantid}/' is the multi-tenant 'common' endpoint;"
        " use the tenant's own metadata; no cached copy to fall back on"
    )


# --- where the metadata comes from -------------------------------------------------------

TID = "11BB11BB-CC22-DD33-EE44-55FF55FF55FF"
APP_ID = "3F6C2A1E-8B4D-4E7A-9C21-5D0B7E9A4C11"
APP_URL = (
    f"https://login.microsoftonline.com/{TID.lower()}/federationmetadata/2007-06/"
    f"federationmetadata.xml?appid={APP_ID.lower()}"
)


def test_app_id_gives_the_app_federation_metadata_url() -> None:
    text = f"name: Acme\ntenant_id: {TID}\napps:\n  demo:\n    app_id: {APP_ID}\n  other:\n"
    tenant = make_tenant(text)
    ref = metadata_source(tenant, "demo")
    assert ref is not None
    assert (ref.kind, ref.value, ref.entity_id, str(ref.location)) == (
        "url",
        APP_URL,
        None,
        f"{TENANT_FILE}:5:13",
    )
    assert metadata_source(tenant, "other") is None


def test_own_source_beats_app_id_and_tenant_wide_source() -> None:
    text = (
        f"name: Acme\ntenant_id: {TID}\nmetadata_url: https://idp.example.com/shared\n"
        f"apps:\n  demo:\n    app_id: {APP_ID}\n    metadata_file: acme/demo.xml\n  other:\n"
    )
    tenant = make_tenant(text)
    own = metadata_source(tenant, "demo")
    assert own is not None
    assert (own.kind, own.value, str(own.location)) == (
        "file",
        "acme/demo.xml",
        f"{TENANT_FILE}:7:20",
    )
    shared = metadata_source(tenant, "other")
    assert shared is not None
    assert (shared.kind, shared.value, str(shared.location)) == (
        "url",
        "https://idp.example.com/shared",
        f"{TENANT_FILE}:3:15",
    )


def test_app_id_source_offline_from_the_cache(tmp_path: Path) -> None:
    tenant = make_tenant(f"name: Acme\ntenant_id: {TID}\napps:\n  demo:\n    app_id: {APP_ID}\n")
    loader = make_loader(tmp_path, offline=True)
    assert load_errors(loader, tenant) == [
        f"{TENANT_FILE}:5:13: error: no cached metadata for {APP_URL} (--offline);"
        " build or refresh once with network access"
    ]
    seed_cache(tmp_path, APP_URL, make_metadata())
    loaded, _ = make_loader(tmp_path, offline=True).load(tenant, "demo")
    assert loaded is not None and loaded.document.entity_id == ENTITY_ID
    sha = hashlib.sha256(make_metadata()).hexdigest()[:16]
    assert loaded.detail == f"{APP_URL} (fetched {FETCHED_AT}, sha256 {sha})"


def test_fetch_time_is_recorded_in_utc(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    url = httpserver.url_for("/metadata.xml")
    loader = make_loader(tmp_path)
    loader.load(make_tenant(tenant_text(url)), "demo")
    assert loader.fetches[url].entry.fetched == NOW
    assert loader.fetches[url].entry.fetched.utcoffset() == dt.timedelta(0)


# --- many URLs at once -------------------------------------------------------------------


class Counting:
    """A handler that answers after ``delay`` seconds and records requests in flight."""

    def __init__(self, delay: float = 0.1, body: bytes | None = None) -> None:
        self.delay = delay
        self.body = body or make_metadata()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.count = 0

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.in_flight += 1
            self.count += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(self.delay)
            return Response(self.body)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def threaded() -> Iterator[HTTPServer]:
    """A loopback server answering many requests at once, on 127.0.0.1 (a host of its own
    next to the ``httpserver`` fixture's ``localhost``)."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def url_refs(urls: list[str]) -> list[SourceRef]:
    return [
        SourceRef(SourceKind.URL, url, Location(Path("tenants/acme.yml"), 2, 15)) for url in urls
    ]


def test_in_flight_requests_to_one_host_never_exceed_the_limit(
    tmp_path: Path, threaded: HTTPServer
) -> None:
    handler = Counting(delay=0.1)
    threaded.expect_request(re.compile(r"/\d+\.xml")).respond_with_handler(handler)
    urls = [threaded.url_for(f"/{i}.xml") for i in range(30)]
    loader = MetadataLoader(
        tmp_path / "tenants",
        tmp_path / "cache",
        False,
        NOW,
        settings=FetchSettings(jobs=16, per_host=4),
    )
    loader.prefetch(url_refs(urls))  # in the background: fetch() waits for each URL
    tenant = make_tenant(tenant_text(urls[0]))
    assert {loader.fetch(tenant, ref)[0].status for ref in url_refs(urls)} == {FetchStatus.FETCHED}
    assert handler.count == 30
    assert handler.most == 4  # the fetches overlap up to the limit, never past it


def test_a_slow_host_does_not_hold_the_others(
    tmp_path: Path,
    threaded: HTTPServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `threaded` (127.0.0.1) hangs; `httpserver` (localhost) answers. The hanging host's
    # first requests time out, the rest are not even sent; the other host is done early.
    monkeypatch.setenv(TIMEOUT_ENV, "0.5")
    release = threading.Event()
    hanging: list[float] = []

    def hang(request: Request) -> Response:
        hanging.append(time.monotonic())
        release.wait(10)
        return Response(make_metadata())

    threaded.expect_request(re.compile(r"/\d+\.xml")).respond_with_handler(hang)
    httpserver.expect_request(re.compile(r"/\d+\.xml")).respond_with_data(make_metadata())
    slow = [threaded.url_for(f"/{i}.xml") for i in range(10)]
    fast = [httpserver.url_for(f"/{i}.xml") for i in range(10)]
    loader = MetadataLoader(
        tmp_path / "tenants",
        tmp_path / "cache",
        False,
        NOW,
        settings=FetchSettings(jobs=4, per_host=2),
    )
    tenant = make_tenant(tenant_text(fast[0]))
    started = time.monotonic()
    reasons = []
    try:
        loader.prefetch(url_refs(slow + fast))
        for url in fast:  # the other host's documents do not wait for the hanging one
            fetch, _ = loader.fetch(tenant, url_refs([url])[0])
            assert fetch.status is FetchStatus.FETCHED
        assert time.monotonic() - started < 1.5
        for url in slow:
            with pytest.raises(TenantError) as info:
                loader.fetch(tenant, url_refs([url])[0])
            reasons.append(info.value.problems[0].message.split(f"{url}: ", 1)[1])
    finally:
        release.set()
    assert time.monotonic() - started < 4  # two rounds of timeouts at most, not ten
    assert len(hanging) <= 4  # the hanging host was asked no more than its first requests
    assert set(reasons) <= {
        "no answer within 0.5 s; no cached copy to fall back on",
        "not asked: 127.0.0.1 did not answer an earlier request within 0.5 s;"
        " no cached copy to fall back on",
    }
    assert reasons.count("no answer within 0.5 s; no cached copy to fall back on") <= 2


def test_bursts_of_429_and_5xx_across_many_urls(tmp_path: Path, threaded: HTTPServer) -> None:
    body = make_metadata()
    answered: dict[str, int] = {}
    lock = threading.Lock()

    def bursty(request: Request) -> Response:
        with lock:
            answered[request.path] = answered.get(request.path, 0) + 1
            attempt = answered[request.path]
        if attempt == 1:
            return Response("slow down", status=429, headers={"Retry-After": "0"})
        if attempt == 2:
            return Response("oops", status=503)
        return Response(body)

    threaded.expect_request(re.compile(r"/\d+\.xml")).respond_with_handler(bursty)
    urls = [threaded.url_for(f"/{i}.xml") for i in range(20)]
    loader = MetadataLoader(
        tmp_path / "tenants",
        tmp_path / "cache",
        False,
        NOW,
        settings=FetchSettings(jobs=8, per_host=8),
    )
    loader.prefetch(url_refs(urls))
    tenant = make_tenant(tenant_text(urls[0]))
    for url in reversed(urls):  # waited for in any order
        fetch, document = loader.fetch(tenant, url_refs([url])[0])
        assert (fetch.status, document.raw) == (FetchStatus.FETCHED, body)
    assert sorted(answered.values()) == [3] * 20


def test_results_keep_their_order_whatever_finishes_first() -> None:
    # fetch_all itself: later jobs finish first, results come back in the order given.
    finished: list[int] = []

    def job(index: int) -> int:
        time.sleep(0.05 * (5 - index))
        finished.append(index)
        return index

    work = [
        (f"https://h{index % 2}.example/{index}", functools.partial(job, index))
        for index in range(5)
    ]
    assert fetch_all(work, jobs=5, per_host=5) == [0, 1, 2, 3, 4]
    assert finished == [4, 3, 2, 1, 0]


def test_host_header_is_the_ascii_name_with_its_port(httpserver: HTTPServer) -> None:
    # The connection goes to the checked address; the Host header names the host as the URL
    # does (IDNA for international names, no credentials), so virtual hosts still work.
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    port = httpserver.port
    download(f"http://user:secret@localhost:{port}/metadata.xml")
    [request] = requests_made(httpserver)
    assert request.headers["Host"] == f"localhost:{port}"
    assert "Authorization" not in request.headers
    assert _host_header("bücher.example", None) == "xn--bcher-kva.example"
    assert _host_header("::1", 8443) == "[::1]:8443"


def test_a_hanging_name_lookup_is_cut_off_at_the_deadline() -> None:
    # The system resolver has no timeout of its own to set: a lookup that never answers
    # must fail the fetch at its deadline (3 x 0.2 s), and the host is not asked again.
    released = threading.Event()
    lookups: list[str] = []

    def hanging(host: str, port: int) -> list[str]:
        lookups.append(host)
        released.wait(10)
        return ["93.184.215.14"]

    fetcher = Fetcher(HostPolicy(), timeout=0.2, resolver=hanging)
    started = time.monotonic()
    try:
        with fetcher, pytest.raises(MetadataFetchError) as info:
            fetcher.download("https://idp.example.com/metadata.xml")
        assert str(info.value) == "cannot resolve 'idp.example.com' (no answer within 0.6 s)"
        assert info.value.kind is FailureKind.TIMEOUT
        assert 0.5 < time.monotonic() - started < 2
        with pytest.raises(MetadataFetchError) as again:
            fetcher.download("https://idp.example.com/other.xml")
        assert str(again.value) == (
            "not asked: idp.example.com did not answer an earlier request within 0.2 s"
        )
    finally:
        released.set()
    assert lookups == ["idp.example.com"]


def test_names_are_looked_up_by_the_fetchers_resolver(httpserver: HTTPServer) -> None:
    # The seam the test above uses is the one every fetch goes through, and the connection
    # goes to the address it gave, with the name kept in the Host header.
    httpserver.expect_request("/metadata.xml").respond_with_data(make_metadata())
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["127.0.0.1"]

    with Fetcher(HostPolicy(allow_loopback=True), resolver=resolver) as fetcher:
        fetched = fetcher.download(f"http://localhost:{httpserver.port}/metadata.xml")
    assert fetched.data == make_metadata()
    assert asked == [("localhost", httpserver.port)]
    [request] = requests_made(httpserver)
    assert request.headers["Host"] == f"localhost:{httpserver.port}"


def test_a_failing_name_lookup_is_reported() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    with (
        Fetcher(HostPolicy(), resolver=failing) as fetcher,
        pytest.raises(MetadataFetchError) as info,
    ):
        fetcher.download("https://idp.example.com/metadata.xml")
    assert str(info.value) == "cannot resolve 'idp.example.com' (Name or service not known)"
    assert info.value.kind is FailureKind.UNREACHABLE


def test_cookies_a_server_sets_are_never_sent_back(httpserver: HTTPServer) -> None:
    # Metadata is public: no session state is kept from one request (or tenant) to the next.
    httpserver.expect_request("/metadata.xml").respond_with_data(
        make_metadata(), headers={"Set-Cookie": "session=abc; Path=/"}
    )
    with Fetcher(HostPolicy.from_environment()) as fetcher:
        for _ in range(2):
            fetcher.download(httpserver.url_for("/metadata.xml"))
    first, second = requests_made(httpserver)
    assert "Cookie" not in first.headers
    assert "Cookie" not in second.headers
