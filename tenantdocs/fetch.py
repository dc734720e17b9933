"""HTTPS fetch of metadata documents: the only module that talks HTTP.

Every URL is checked before any connection: https only (plain http only to loopback, and
only when tests allow it), and its host by name and by every address it resolves to
(:mod:`tenantdocs.hosts`). The connection then goes to the address that was checked, with
the host name kept for TLS (SNI, certificate check) and the ``Host`` header, so a name that
resolves elsewhere a moment later (DNS rebinding) cannot steer the request. A redirect
(same scheme, host and port only) is checked again the same way. The name lookup runs
within the fetch's deadline. Requests go through one :mod:`requests` session per
:class:`Fetcher` (no proxy, ``.netrc`` or cookies), its errors turned into
:class:`MetadataFetchError` here.

Each fetch has connect and read timeouts (``TENANTDOCS_FETCH_TIMEOUT``) and an overall
deadline of three timeouts, reads at most :data:`MAX_METADATA_BYTES`, retries connection
errors, 5xx and 429 answers with backoff, and honours ``Retry-After`` on 429 and 503 when
it falls within the deadline (else it gives up at once rather than hammer the server). A
host that let a request time out is not asked again in the same run.

:func:`fetch_all` runs many fetches at once: a bounded pool of threads, at most
``per_host`` requests in flight to any one host, results in the order asked.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

from tenantdocs.hosts import LOOPBACK_ENV as LOOPBACK_ENV
from tenantdocs.hosts import HostPolicy, IPAddress
from tenantdocs.keys import shorten
from tenantdocs.metadata import MAX_METADATA_BYTES

if TYPE_CHECKING:  # imported where used: a run that fetches nothing does not load them
    import requests
    import requests.adapters
    import urllib3
    import urllib3.connectionpool

TIMEOUT_ENV = "TENANTDOCS_FETCH_TIMEOUT"
MAX_REDIRECTS = 3
RETRIES = 3
"""Retries after a connection error, a 5xx or a 429 (timeouts: one)."""
BACKOFF = 0.25
"""Seconds before the first retry; doubled for each further one."""
DEFAULT_FETCH_JOBS = 64
"""Requests in flight at once, over all hosts."""
DEFAULT_PER_HOST = 32
"""Requests in flight to one host at once: Entra serves every app of every tenant from one
host, so this bounds how long an MSP's refresh takes (500 URLs at 100 ms: about 2 s); a
host asking for less with 429 or 503 and ``Retry-After`` is waited for."""
MAX_PER_HOST = 32
"""The most requests in flight to one host that ``--per-host`` accepts."""
KEPT_POOLS = 256
"""Connection pools (one per scheme, host, port and address) kept alive in a run; past
that, the least recently used one is closed."""
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
_RETRY_AFTER_STATUS = frozenset({429, 503})
_ACCEPT = "application/samlmetadata+xml, application/xml, text/xml"

T = TypeVar("T")


class FailureKind(StrEnum):
    """Why a fetch failed, as far as what to do next goes."""

    REFUSED = "refused"
    """The URL or its host is not allowed; nothing was sent."""
    UNREACHABLE = "unreachable"
    """No connection (refused, reset, name unknown, TLS failed)."""
    TIMEOUT = "timeout"
    """The host did not answer in time (it is not asked again this run)."""
    HTTP = "http"
    """The server answered, but not with the document."""
    TOO_LARGE = "too large"
    """The document is over the size cap."""


class MetadataFetchError(Exception):
    """Raised by :class:`Fetcher` when a URL is refused or cannot be fetched."""

    def __init__(self, reason: str, kind: FailureKind) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Download:
    """The answer to one (conditional) GET."""

    url: str
    """The URL finally answered (after same-host redirects)."""
    data: bytes | None
    """The body; None for 304 Not Modified."""
    etag: str | None
    """The ETag header, if any."""
    last_modified: str | None
    """The Last-Modified header, if any."""


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How a run fetches: how many at once, how many per host, which hosts."""

    jobs: int = DEFAULT_FETCH_JOBS
    """Requests in flight at once (``--fetch-jobs``)."""
    per_host: int = DEFAULT_PER_HOST
    """Requests in flight to one host at once (``--per-host``, at most 32)."""
    allow_private_hosts: bool = False
    """``--allow-private-hosts``: the operator allows non-public hosts."""

    def policy(self) -> HostPolicy:
        """The host policy: this setting plus the environment's switches."""
        return HostPolicy.from_environment(self.allow_private_hosts)


def fetch_timeout() -> float:
    """Seconds to wait for a connection, and between bytes (``TENANTDOCS_FETCH_TIMEOUT``)."""
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, "10")))
    except ValueError:
        return 10.0


def check_url(url: str, policy: HostPolicy | None = None) -> None:
    """Refuse anything but https (plain http only to loopback, and only when tests allow
    it), and a host that is not public by its name; raise :class:`MetadataFetchError`."""
    policy = policy or HostPolicy.from_environment()
    parts = urlsplit(url)
    loopback_http = (
        parts.scheme == "http" and policy.allow_loopback and parts.hostname in _LOOPBACK_HOSTS
    )
    if not ((parts.scheme == "https" and parts.hostname) or loopback_http):
        raise MetadataFetchError(
            f"refusing '{shorten(url)}': metadata must be fetched over https://",
            FailureKind.REFUSED,
        )
    assert parts.hostname is not None
    refusal = policy.name_refusal(parts.hostname)
    if refusal:
        raise MetadataFetchError(refusal, FailureKind.REFUSED)


def download(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_METADATA_BYTES,
    policy: HostPolicy | None = None,
) -> Download:
    """GET one URL (see :meth:`Fetcher.download`) with a fetcher of its own."""
    with Fetcher(policy or HostPolicy.from_environment()) as fetcher:
        return fetcher.download(url, etag=etag, last_modified=last_modified, max_bytes=max_bytes)


Resolver = Callable[[str, int], Sequence[str]]
"""Looks a host name up: ``(host, port)`` → its addresses as text (may raise OSError)."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, by the system resolver (``getaddrinfo``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _pinned_adapter(per_host: int) -> requests.adapters.HTTPAdapter:
    """A transport adapter that connects to the address the request URL names (the checked
    one), while TLS (SNI and the certificate's host name check) uses the name the ``Host``
    header asks for.

    Pools are kept per (scheme, address, port, name): two hosts served from one address
    never share a connection or a TLS name. (Defined here so that requests is imported
    only when something is fetched.)
    """
    import requests.adapters

    class PinnedAdapter(requests.adapters.HTTPAdapter):
        def get_connection_with_tls_context(
            self,
            request: requests.PreparedRequest,
            verify: bool | str | None,
            proxies: Mapping[str, str] | None = None,
            cert: tuple[str, str] | str | None = None,
        ) -> urllib3.connectionpool.ConnectionPool:
            host_params, pool_kwargs = self.build_connection_pool_key_attributes(
                request, True if verify is None else verify, cert
            )
            pinned: dict[str, Any] = dict(pool_kwargs)
            if host_params["scheme"] == "https":
                name = urlsplit("//" + request.headers["Host"]).hostname
                pinned.update(server_hostname=name, assert_hostname=name)
            pool: urllib3.connectionpool.ConnectionPool = self.poolmanager.connection_from_host(
                **host_params, pool_kwargs=pinned
            )
            return pool

    return PinnedAdapter(pool_connections=KEPT_POOLS, pool_maxsize=per_host, max_retries=0)


@dataclass
class Fetcher:
    """Fetches for one run: checked, pinned addresses and kept-alive connections per host.

    Safe to use from several threads at once.
    """

    policy: HostPolicy
    """Which non-public hosts may be requested."""
    per_host: int = DEFAULT_PER_HOST
    """Connections kept per host (as many as may be in flight)."""
    timeout: float = field(default_factory=fetch_timeout)
    """Connect and read timeout, seconds; the overall deadline is three of them."""
    resolver: Resolver = field(default=resolve)
    """How host names are looked up (a lookup that hangs is cut off at the deadline)."""
    ca_certs: str | None = None
    """A PEM file of the CAs to trust; None: requests' bundle (certifi)."""

    def __post_init__(self) -> None:
        import requests

        self._lock = threading.Lock()
        self._addresses: dict[tuple[str, int], tuple[IPAddress, ...]] = {}
        self._silent: set[str] = set()
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
        if self.ca_certs:
            self._session.verify = self.ca_certs
        import http.cookiejar  # loaded only by a run that fetches

        self._session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

        adapter = _pinned_adapter(self.per_host)
        for prefix in ("https://", "http://"):
            self._session.mount(prefix, adapter)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every kept-alive connection."""
        self._session.close()

    def download(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int = MAX_METADATA_BYTES,
    ) -> Download:
        """GET ``url`` conditionally, with timeouts, a size cap and same-host redirects only."""
        deadline = time.monotonic() + 3 * self.timeout
        headers = {"Accept": _ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _ in range(MAX_REDIRECTS + 1):
            with self._answer(url, headers, deadline) as response:
                if response.status_code in (301, 302, 303, 307, 308):
                    url = _redirect_target(url, response.headers.get("Location", ""))
                    continue
                if response.status_code == 304:
                    response.raw.release_conn()  # no body: the connection is kept for the next
                    return Download(url, None, etag, last_modified)
                if response.status_code != 200:
                    raise MetadataFetchError(_status_text(response), FailureKind.HTTP)
                data = _read_capped(response, max_bytes, deadline)
                response.raw.release_conn()  # read to its end: the connection is kept
                return Download(
                    url, data, response.headers.get("ETag"), response.headers.get("Last-Modified")
                )
        raise MetadataFetchError(f"more than {MAX_REDIRECTS} redirects", FailureKind.HTTP)

    @contextmanager
    def _answer(
        self, url: str, headers: dict[str, str], deadline: float
    ) -> Iterator[requests.Response]:
        """The final answer to one GET after retries; its connection is released after."""
        check_url(url, self.policy)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in self._silent:
            raise MetadataFetchError(
                f"not asked: {host} did not answer an earlier request within {self.timeout:g} s",
                FailureKind.TIMEOUT,
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self._checked_addresses(host, port, deadline)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        request_headers = {**headers, "Host": _host_header(host, parts.port)}
        timeouts = 0
        for attempt in range(RETRIES + 1):
            try:
                response = self._open(parts.scheme, port, addresses, path, request_headers)
            except MetadataFetchError as exc:
                timeouts += exc.kind is FailureKind.TIMEOUT
                try:
                    if attempt == RETRIES or timeouts > 1:
                        raise
                    _pause(_backoff(attempt), deadline, exc)
                except MetadataFetchError:
                    if exc.kind is FailureKind.TIMEOUT:
                        self._silence(host)
                    raise
                continue
            if response.status_code not in _RETRIED_STATUS or attempt == RETRIES:
                break
            wait_for = (
                _retry_after(response) if response.status_code in _RETRY_AFTER_STATUS else None
            )
            failure = MetadataFetchError(_status_text(response), FailureKind.HTTP)
            response.close()
            if wait_for is not None and time.monotonic() + wait_for > deadline:
                raise MetadataFetchError(
                    f"{failure.reason}; asked to retry after {wait_for:g} s, past the deadline",
                    FailureKind.HTTP,
                )
            _pause(_backoff(attempt) if wait_for is None else wait_for, deadline, failure)
        try:
            yield response
        finally:
            response.close()  # unless released above: a body not read to its end is dropped

    def _silence(self, host: str) -> None:
        """Ask ``host`` nothing more this run: it let a request time out."""
        with self._lock:
            self._silent.add(host)

    def addresses_of(self, host: str, port: int) -> tuple[IPAddress, ...] | None:
        """The checked addresses ``host`` resolved to in this run (None: not resolved yet)."""
        with self._lock:
            return self._addresses.get((host.lower(), port))

    def _checked_addresses(self, host: str, port: int, deadline: float) -> tuple[IPAddress, ...]:
        """The addresses ``host`` resolves to, each allowed by the policy; resolved once."""
        key = (host, port)
        with self._lock:
            known = self._addresses.get(key)
        if known is not None:
            return known
        try:
            found = self._lookup(host, port, deadline)
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise MetadataFetchError(
                f"cannot resolve '{shorten(host)}' ({shorten(reason, 80)})",
                FailureKind.UNREACHABLE,
            ) from None
        addresses = tuple(
            dict.fromkeys(ipaddress.ip_address(text.split("%", 1)[0]) for text in found)
        )
        refusal = self.policy.address_refusal(host, addresses)
        if refusal or not addresses:
            raise MetadataFetchError(
                refusal or f"cannot resolve '{shorten(host)}'", FailureKind.REFUSED
            )
        with self._lock:
            self._addresses[key] = addresses
        return addresses

    def _lookup(self, host: str, port: int, deadline: float) -> Sequence[str]:
        """Run the resolver, waiting for it no longer than the fetch's deadline.

        The lookup runs in a daemon thread of its own: a resolver that hangs cannot be
        interrupted, but it holds up neither this fetch nor the end of the program.
        """
        answer: list[Sequence[str]] = []
        failure: list[BaseException] = []

        def look_up() -> None:
            try:
                answer.append(self.resolver(host, port))
            except BaseException as exc:  # handed to the waiting thread below
                failure.append(exc)

        thread = threading.Thread(target=look_up, name=f"resolve {host}", daemon=True)
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            self._silence(host)
            raise MetadataFetchError(
                f"cannot resolve '{shorten(host)}' (no answer within {3 * self.timeout:g} s)",
                FailureKind.TIMEOUT,
            )
        if failure:
            raise failure[0]
        return answer[0]

    def _open(
        self,
        scheme: str,
        port: int,
        addresses: Sequence[IPAddress],
        path: str,
        headers: dict[str, str],
    ) -> requests.Response:
        """Send the GET to the first checked address that takes the connection.

        The URL names the address, so the connection goes there and nowhere else; the
        ``Host`` header keeps the name (see :func:`_pinned_adapter`).
        """
        import requests
        import urllib3.exceptions

        failure: MetadataFetchError | None = None
        for address in addresses:
            netloc = f"[{address}]" if address.version == 6 else str(address)
            try:
                return self._session.get(
                    f"{scheme}://{netloc}:{port}{path}",
                    headers=headers,
                    allow_redirects=False,
                    stream=True,
                    timeout=(self.timeout, self.timeout),
                )
            except requests.Timeout:
                raise MetadataFetchError(
                    f"no answer within {self.timeout:g} s", FailureKind.TIMEOUT
                ) from None
            except requests.exceptions.SSLError as exc:
                raise MetadataFetchError(
                    f"TLS failed ({_reason(exc)})", FailureKind.UNREACHABLE
                ) from None
            except requests.ConnectionError as exc:
                cause = _cause(exc)
                failure = MetadataFetchError(
                    f"cannot connect ({_reason(cause)})", FailureKind.UNREACHABLE
                )
                if not isinstance(cause, urllib3.exceptions.NewConnectionError):
                    raise failure from None  # reset, closed without answer, bad status line
                # refused, unreachable: try the next address
            except requests.RequestException as exc:
                raise MetadataFetchError(
                    f"cannot connect ({_reason(exc)})", FailureKind.UNREACHABLE
                ) from None
        assert failure is not None
        raise failure


def _ascii_name(host: str) -> str:
    """A host name as TLS and HTTP carry it: IDNA (``bücher.example`` → ``xn--bcher-kva…``)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host  # an address literal; resolution has accepted the host already


def _host_header(host: str, port: int | None) -> str:
    """The ``Host`` header: the name in ASCII, brackets for IPv6, the port if given; never
    the URL's credentials."""
    name = _ascii_name(host)
    if ":" in name:
        name = f"[{name}]"
    return f"{name}:{port}" if port else name


def _backoff(attempt: int) -> float:
    return float(BACKOFF * 2.0**attempt)


def _pause(seconds: float, deadline: float, failure: MetadataFetchError) -> None:
    """Sleep before a retry, or give up with ``failure`` when that would pass the deadline."""
    if time.monotonic() + seconds > deadline:
        raise failure
    time.sleep(seconds)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds the server asks to wait (delta-seconds or an HTTP date), if it says."""
    value = (response.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    import email.utils  # loaded only by a run that fetches

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_text(response: requests.Response) -> str:
    return f"HTTP {response.status_code} {shorten(response.reason or '')}".strip()


def _redirect_target(url: str, location: str) -> str:
    target = urljoin(url, location)
    old, new = urlsplit(url), urlsplit(target)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        raise MetadataFetchError(
            "refusing redirect to another scheme or host"
            f" ({shorten(new.scheme + '://' + (new.netloc or ''))})",
            FailureKind.REFUSED,
        )
    return target


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    import urllib3.exceptions

    raw: urllib3.BaseHTTPResponse = response.raw
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise MetadataFetchError(
            f"document is larger than {max_bytes} bytes", FailureKind.TOO_LARGE
        )
    chunks, size = [], 0
    try:
        # read1 returns what has arrived instead of waiting for a full chunk, so a body
        # trickling in byte by byte still meets the deadline.
        while chunk := raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise MetadataFetchError(
                    f"document is larger than {max_bytes} bytes", FailureKind.TOO_LARGE
                )
            if time.monotonic() > deadline:
                raise MetadataFetchError("document took too long to arrive", FailureKind.TIMEOUT)
            chunks.append(chunk)
    except urllib3.exceptions.HTTPError as exc:
        raise MetadataFetchError(
            f"connection broke while reading ({_reason(exc)})", FailureKind.UNREACHABLE
        ) from None
    return b"".join(chunks)


def _cause(exc: requests.RequestException) -> BaseException:
    """The urllib3 error a requests error wraps (the reason, when it is a retry error)."""
    import urllib3.exceptions

    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason is not None:
        return cause.reason
    return cause


def _reason(exc: BaseException) -> str:
    """The innermost cause of a transport error, short and without tenant data."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    if isinstance(exc, OSError) and exc.strerror:
        text = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else exc.strerror
    else:
        text = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
    return shorten(text or type(exc).__name__, 120)


# --- many at once ------------------------------------------------------------------------


def fetch_all(work: Sequence[tuple[str, Callable[[], T]]], jobs: int, per_host: int) -> list[T]:
    """Run ``(url, job)`` pairs on a pool of ``jobs`` threads, at most ``per_host`` of them
    for one host at any moment; results in the order given, whatever finishes first.

    A job waiting for its host never holds a thread: it is started only when its host has
    room, so a slow host delays only its own URLs. A job's exception is raised here.
    """
    queues: dict[str, deque[int]] = {}
    for index, (url, _) in enumerate(work):
        queues.setdefault((urlsplit(url).hostname or "").lower(), deque()).append(index)
    busy = dict.fromkeys(queues, 0)
    results: dict[int, T] = {}
    running: dict[Future[T], tuple[str, int]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fetch") as pool:
        while queues or running:
            for host in sorted(queues):  # fill free slots, host by host
                queue = queues[host]
                while queue and busy[host] < per_host and len(running) < jobs:
                    index = queue.popleft()
                    running[pool.submit(work[index][1])] = (host, index)
                    busy[host] += 1
                if not queue:
                    del queues[host]
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][1]):
                host, index = running.pop(future)
                busy[host] -= 1
                results[index] = future.result()
    return [results[index] for index in range(len(work))]
