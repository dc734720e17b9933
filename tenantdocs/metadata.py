"""SAML 2.0 federation metadata: parsed from bytes into the values an IdP publishes.

Metadata is untrusted input: it is parsed from bytes only, with DTDs, entity declarations
and external references refused (no XXE, no billion laughs), at most
:data:`MAX_METADATA_BYTES` long and :data:`MAX_XML_DEPTH` elements deep, with no element a
browser would run (it is published byte for byte), namespace-aware, and values are taken
from the ``IDPSSODescriptor`` only (WS-Federation ``RoleDescriptor`` elements repeat the
keys and are ignored). Signatures are not verified: the document is trusted as far as the
HTTPS connection or the tenant file that names it.
"""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET

if TYPE_CHECKING:
    import requests

from tenantdocs.certificates import Certificate, CertificateError, load_certificate
from tenantdocs.errors import Location, MetadataError, Problem
from tenantdocs.keys import KEYS, shorten, value_problem

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_METADATA_BYTES = 5 * 1024 * 1024
MAX_XML_DEPTH = 64
"""Real metadata nests about ten elements deep; deeper documents are refused while parsing
(walking a tree 100,000 elements deep would exhaust Python's stack)."""

_URL = re.compile(r"https?://[^\s<>`\"]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    """What one identity provider's metadata says, plus the exact bytes it came from."""

    entity_id: str
    """The IdP's entityID (the SAML issuer)."""
    sso_url: str | None
    """SingleSignOnService location, HTTP-Redirect binding, else HTTP-POST."""
    slo_url: str | None
    """SingleLogoutService location, HTTP-Redirect binding, else HTTP-POST."""
    signing_certificates: tuple[Certificate, ...]
    """Signing certificates, de-duplicated by fingerprint; the first is the primary one."""
    valid_until: datetime | None
    """The earliest ``validUntil`` on the chosen entity or its ancestors."""
    raw: bytes
    """The document byte for byte, published as the metadata download."""


def parse_metadata(data: bytes, path: Path, entity_id: str | None = None) -> IdpMetadata:
    """Parse a metadata document; ``path`` names it in errors (file or URL)."""
    where = Location(path)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(Problem(where, f"metadata is larger than {MAX_METADATA_BYTES} bytes"))
    root = _parse_xml(data, path)
    candidates = list(_entities(root, ()))
    idps = [
        (e, limits) for e, limits in candidates if e.find(f"{{{MD}}}IDPSSODescriptor") is not None
    ]
    if entity_id is not None:
        chosen = [(e, limits) for e, limits in candidates if e.get("entityID") == entity_id]
        if not chosen:
            raise MetadataError(
                Problem(where, f"no entity with entityID '{entity_id}' in the metadata")
            )
        if len(chosen) > 1:
            # Which one is meant is anyone's guess (an injected copy could come first).
            raise MetadataError(
                Problem(where, f"{len(chosen)} entities have entityID '{entity_id}'; expected one")
            )
        if chosen[0][0].find(f"{{{MD}}}IDPSSODescriptor") is None:
            raise MetadataError(
                Problem(
                    where, f"entity '{entity_id}' is not an identity provider (no IDPSSODescriptor)"
                )
            )
        entity, limits = chosen[0]
    elif len(idps) == 1:
        entity, limits = idps[0]
    elif not idps:
        raise MetadataError(
            Problem(where, "metadata has no identity provider (no IDPSSODescriptor)")
        )
    else:
        found = sorted(shorten(e.get("entityID", "?")) for e, _ in idps)
        names = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise MetadataError(
            Problem(
                where,
                f"metadata holds {len(idps)} identity providers; set 'entity_id' to one of: {names}",
            )
        )
    return _idp(entity, limits, data, where)


class _Refused(Exception):
    """Raised by :class:`_GuardedBuilder` to stop the parse; carries the user's message."""


# Namespaces whose elements a browser runs or renders: the metadata is published byte for
# byte beside the guides, and opened directly an XML file with an XHTML <script> runs in
# the site's origin.
_ACTIVE_NAMESPACES = (
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/XSL/Transform",
)


class _GuardedBuilder(ET.TreeBuilder):
    """An ElementTree builder that stops the parse at :data:`MAX_XML_DEPTH` levels, at an
    element a browser would run (HTML, SVG…) and at a processing instruction (a stylesheet)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _Refused(f"metadata nests elements more than {MAX_XML_DEPTH} levels deep")
        if tag.startswith("{") and tag[1:].split("}", 1)[0] in _ACTIVE_NAMESPACES:
            raise _Refused(
                "metadata must not contain HTML, SVG, MathML or XSLT elements"
                " (a browser would run them in the published copy)"
            )
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        return super().end(tag)

    def pi(self, target: str, text: str | None = None) -> ET.Element:
        raise _Refused(
            f"metadata must not contain processing instructions (<?{shorten(target, 20)} …?>)"
        )


def _parse_xml(data: bytes, path: Path) -> ET.Element:
    parser = SafeET.DefusedXMLParser(
        target=_GuardedBuilder(),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        return parser.close()
    except _Refused as exc:
        message = str(exc)
    except defusedxml.DTDForbidden:
        message = "metadata must not contain a DOCTYPE (DTDs are refused)"
    except defusedxml.EntitiesForbidden:
        message = "metadata must not declare entities"
    except defusedxml.ExternalReferenceForbidden:
        message = "metadata must not reference external resources"
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise MetadataError(
            Problem(Location(path, line, column + 1), f"metadata is not well-formed XML: {reason}")
        ) from None
    raise MetadataError(Problem(Location(path), message))


def _entities(
    element: ET.Element, limits: tuple[str, ...]
) -> list[tuple[ET.Element, tuple[str, ...]]]:
    """EntityDescriptors below ``element`` with the validUntil values of their ancestors."""
    valid_until = element.get("validUntil")
    here = (*limits, valid_until) if valid_until else limits
    if element.tag == f"{{{MD}}}EntityDescriptor":
        return [(element, here)]
    if element.tag == f"{{{MD}}}EntitiesDescriptor":
        return [found for child in element for found in _entities(child, here)]
    return []


def _idp(entity: ET.Element, limits: tuple[str, ...], data: bytes, where: Location) -> IdpMetadata:
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError(Problem(where, "EntityDescriptor has no entityID"))
    problem = value_problem(entity_id)
    if problem:
        # The entityID becomes IssuerUri, written into pages: refuse markup like tenant values.
        raise MetadataError(Problem(where, f"entityID is not usable: {problem}"))
    if "{tenantid}" in entity_id.lower():
        raise MetadataError(
            Problem(
                where,
                f"entityID '{entity_id}' is the multi-tenant 'common' endpoint; use the tenant's own metadata",
            )
        )
    descriptor = entity.find(f"{{{MD}}}IDPSSODescriptor")
    assert descriptor is not None  # chosen entities are identity providers
    certificates: dict[str, Certificate] = {}
    for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
        if key.get("use", "signing") != "signing":
            continue  # no `use` means both signing and encryption (SAML metadata 2.4.1.1)
        for element in key.iter(f"{{{DS}}}X509Certificate"):
            try:
                cert = load_certificate(element.text or "")
            except CertificateError as exc:
                raise MetadataError(
                    Problem(where, f"signing certificate of '{entity_id}': {exc}")
                ) from None
            certificates.setdefault(cert.sha256, cert)
    return IdpMetadata(
        entity_id=entity_id,
        sso_url=_endpoint(descriptor, "SingleSignOnService", where),
        slo_url=_endpoint(descriptor, "SingleLogoutService", where),
        signing_certificates=tuple(certificates.values()),
        valid_until=_earliest(limits, where),
        raw=data,
    )


def _endpoint(descriptor: ET.Element, name: str, where: Location) -> str | None:
    by_binding: dict[str | None, str | None] = {}
    for element in descriptor.findall(f"{{{MD}}}{name}"):
        # The first endpoint of a binding is the one meant, as in other SAML toolkits.
        by_binding.setdefault(element.get("Binding"), element.get("Location"))
    url = by_binding.get(REDIRECT) or by_binding.get(POST)
    if url is None:
        return None
    url = url.strip()
    if not _URL.fullmatch(url):
        raise MetadataError(Problem(where, f"{name} Location is not an http(s) URL"))
    problem = value_problem(url)
    if problem:
        # Written into pages like tenant values: the same limits (length, control characters).
        raise MetadataError(Problem(where, f"{name} Location is not usable: {problem}"))
    return url


def _earliest(limits: tuple[str, ...], where: Location) -> datetime | None:
    parsed = []
    for text in limits:
        try:
            parsed.append(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise MetadataError(
                Problem(where, f"validUntil '{shorten(text)}' is not a date-time")
            ) from None
    return min(parsed, default=None)


# --- fetching ----------------------------------------------------------------------------

LOOPBACK_ENV = "TENANTDOCS_ALLOW_LOOPBACK_HTTP"
TIMEOUT_ENV = "TENANTDOCS_FETCH_TIMEOUT"
MAX_REDIRECTS = 3
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class MetadataFetchError(Exception):
    """Raised by :func:`download` when a URL is refused or cannot be fetched; a plain reason."""


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


def check_url(url: str) -> None:
    """Refuse anything but https (plain http only to loopback, and only when tests allow it)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    loopback_ok = os.environ.get(LOOPBACK_ENV) == "1" and parts.hostname in _LOOPBACK_HOSTS
    if parts.scheme == "http" and loopback_ok:
        return
    raise MetadataFetchError(f"refusing '{shorten(url)}': metadata must be fetched over https://")


def _session() -> requests.Session:
    """A session that retries connection errors and 5xx answers with backoff (urllib3 Retry)."""
    import requests  # imported here: builds from local files never pay for it
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=3,
        connect=3,
        read=1,
        status=3,
        backoff_factor=0.25,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        redirect=False,
        # A server's Retry-After must not stretch a fetch beyond our own timeouts.
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False  # no proxy or netrc surprises from the environment
    return session


def fetch_timeout() -> float:
    """Seconds to wait for a connection, and between bytes (``TENANTDOCS_FETCH_TIMEOUT``)."""
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, "10")))
    except ValueError:
        return 10.0


def download(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_METADATA_BYTES,
) -> Download:
    """GET ``url`` conditionally, with timeouts, a size cap and same-host redirects only."""
    import requests
    import urllib3.exceptions

    check_url(url)
    timeout = fetch_timeout()
    deadline = time.monotonic() + 3 * timeout
    headers = {"Accept": "application/samlmetadata+xml, application/xml, text/xml"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with _session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = session.get(
                    url,
                    headers=headers,
                    timeout=(timeout, timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.RetryError as exc:
                raise MetadataFetchError(f"server kept failing ({_reason(exc)})") from None
            except requests.exceptions.Timeout:
                raise MetadataFetchError(f"no answer within {timeout:g} s") from None
            except requests.exceptions.ConnectionError as exc:
                # A read timeout that used up its retries arrives as a ConnectionError
                # (a refused connection is a NewConnectionError, a ConnectTimeoutError too).
                reason = getattr(exc.args[0], "reason", None) if exc.args else None
                if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
                    reason, urllib3.exceptions.NewConnectionError
                ):
                    raise MetadataFetchError(f"no answer within {timeout:g} s") from None
                raise MetadataFetchError(f"cannot connect ({_reason(exc)})") from None
            except requests.exceptions.RequestException as exc:
                raise MetadataFetchError(f"cannot connect ({_reason(exc)})") from None
            with response:
                if response.is_redirect:
                    url = _redirect_target(url, response.headers.get("Location", ""))
                    continue
                if response.status_code == 304:
                    return Download(url, None, etag, last_modified)
                if response.status_code != 200:
                    raise MetadataFetchError(
                        f"HTTP {response.status_code} {shorten(response.reason or '')}".strip()
                    )
                data = _read_capped(response, max_bytes, deadline)
                return Download(
                    url, data, response.headers.get("ETag"), response.headers.get("Last-Modified")
                )
    raise MetadataFetchError(f"more than {MAX_REDIRECTS} redirects")


def _redirect_target(url: str, location: str) -> str:
    target = urljoin(url, location)
    old, new = urlsplit(url), urlsplit(target)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        raise MetadataFetchError(
            f"refusing redirect to another scheme or host ({shorten(new.scheme + '://' + (new.netloc or ''))})"
        )
    return target


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    import requests
    import urllib3.exceptions

    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise MetadataFetchError(f"document is larger than {max_bytes} bytes")
    chunks, size = [], 0
    try:
        # read1 returns what has arrived instead of waiting for a full chunk, so a body
        # trickling in byte by byte still meets the deadline.
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise MetadataFetchError(f"document is larger than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise MetadataFetchError("document took too long to arrive")
            chunks.append(chunk)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise MetadataFetchError(f"connection broke while reading ({_reason(exc)})") from None
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, short and without tenant data."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
    return shorten(text or type(exc).__name__, 120)


# --- changes between two versions of a document ------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One value that differs between the cached and the fetched document."""

    key: str
    """The metadata key, or ``signing certificates``."""
    old: str | None
    """The previous value (None when it had none)."""
    new: str | None
    """The new value (None when it has none now)."""


def document_changes(old: IdpMetadata | None, new: IdpMetadata) -> list[Change]:
    """What a pipeline must rebuild for: changed endpoints, entity ID or certificates."""
    if old is None:
        return [Change("document", None, "first fetch")]
    # In the document's field order (entity ID, sign-on, sign-out), as refresh reports them.
    read = {spec.metadata_field: spec.name for spec in KEYS if spec.metadata_field is not None}
    changes = [
        Change(read[field.name], a, b)
        for field in fields(IdpMetadata)
        if field.name in read and (a := getattr(old, field.name)) != (b := getattr(new, field.name))
    ]
    old_certs = [c.sha256 for c in old.signing_certificates]
    new_certs = [c.sha256 for c in new.signing_certificates]
    if old_certs != new_certs:
        changes.append(
            Change(
                "signing certificates", ", ".join(old_certs) or None, ", ".join(new_certs) or None
            )
        )
    return changes
