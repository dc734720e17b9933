"""SAML 2.0 federation metadata: parsed from bytes into the values an IdP publishes.

Metadata is untrusted input: it is parsed from bytes only, with DTDs, entity declarations
and external references refused (no XXE, no billion laughs), at most
:data:`MAX_METADATA_BYTES` long and :data:`MAX_XML_DEPTH` elements deep, with no element a
browser would run (it is published byte for byte), namespace-aware, and values are taken
from the ``IDPSSODescriptor`` only (WS-Federation ``RoleDescriptor`` elements repeat the
keys and are ignored). Signatures are not verified: the document is trusted as far as the
HTTPS connection or the tenant file that names it.

Pure: bytes in, :class:`IdpMetadata` out. A problem is a :class:`DocumentProblem` with the
line (and column) in the document, so each caller words it for its source: a local file is
located in that file, a fetched document by the tenant file line naming its URL.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from tenantdocs.certificates import Certificate, CertificateError, load_certificate
from tenantdocs.errors import Location, MetadataError, Problem, Severity
from tenantdocs.keys import shorten, value_problem

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
class DocumentProblem:
    """One thing wrong with a metadata document, and where in the document it is."""

    message: str
    """What is wrong, in one line."""
    line: int = 0
    """1-based line in the document, or 0 for the whole document."""
    column: int = 0
    """1-based column, or 0 when only the line is known."""

    def located(
        self, path: Path, severity: Severity = Severity.ERROR, tenant: str | None = None
    ) -> Problem:
        """This problem in the local file ``path``."""
        return Problem(Location(path, self.line, self.column), self.message, severity, tenant)

    def worded(self) -> str:
        """This problem for a message that names the document another way (by its URL)."""
        return f"at line {self.line}: {self.message}" if self.line else self.message


class InvalidMetadata(Exception):
    """Raised by :func:`read_metadata` for a document it cannot use; carries the problem."""

    def __init__(self, problem: DocumentProblem) -> None:
        self.problem = problem
        super().__init__(problem.worded())


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
    notes: tuple[DocumentProblem, ...] = ()
    """Warnings about the document (a certificate RFC 5280 forbids), each at its line."""


def parse_metadata(data: bytes, path: Path, entity_id: str | None = None) -> IdpMetadata:
    """Parse the local metadata file ``path``; a problem is a MetadataError located in it."""
    try:
        return read_metadata(data, entity_id)
    except InvalidMetadata as exc:
        raise MetadataError(exc.problem.located(path)) from None


def read_metadata(data: bytes, entity_id: str | None = None) -> IdpMetadata:
    """Parse a metadata document; raise :class:`InvalidMetadata` saying what and where."""
    if len(data) > MAX_METADATA_BYTES:
        raise _invalid(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    tree = _parse_xml(data)
    candidates = list(_entities(tree.root, ()))
    idps = [
        (e, limits) for e, limits in candidates if e.find(f"{{{MD}}}IDPSSODescriptor") is not None
    ]
    if entity_id is not None:
        chosen = [(e, limits) for e, limits in candidates if e.get("entityID") == entity_id]
        if not chosen:
            raise _invalid(f"no entity with entityID '{entity_id}' in the metadata")
        if len(chosen) > 1:
            # Which one is meant is anyone's guess (an injected copy could come first).
            raise _invalid(
                f"{len(chosen)} entities have entityID '{entity_id}'; expected one",
                tree.at(chosen[1][0]),
            )
        if chosen[0][0].find(f"{{{MD}}}IDPSSODescriptor") is None:
            raise _invalid(
                f"entity '{entity_id}' is not an identity provider (no IDPSSODescriptor)",
                tree.at(chosen[0][0]),
            )
        entity, limits = chosen[0]
    elif len(idps) == 1:
        entity, limits = idps[0]
    elif not idps:
        raise _invalid("metadata has no identity provider (no IDPSSODescriptor)")
    else:
        found = sorted(shorten(e.get("entityID", "?")) for e, _ in idps)
        names = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise _invalid(
            f"metadata holds {len(idps)} identity providers; set 'entity_id' to one of: {names}"
        )
    return _idp(tree, entity, limits, data)


def _invalid(message: str, where: tuple[int, int] = (0, 0)) -> InvalidMetadata:
    return InvalidMetadata(DocumentProblem(message, *where))


@dataclass(frozen=True, slots=True)
class _Tree:
    """A parsed document and where each of its elements starts."""

    root: ET.Element
    """The document element."""
    positions: dict[ET.Element, tuple[int, int]]
    """Line and column (1-based) of each element's start tag."""

    def at(self, element: ET.Element) -> tuple[int, int]:
        """Where ``element`` starts (0, 0 if unknown)."""
        return self.positions.get(element, (0, 0))


class _Refused(Exception):
    """Raised by :class:`_GuardedBuilder` to stop the parse; carries the message and place."""

    def __init__(self, message: str, where: tuple[int, int]) -> None:
        super().__init__(message)
        self.where = where


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
    """An ElementTree builder that records where each element starts and stops the parse at
    :data:`MAX_XML_DEPTH` levels, at an element a browser would run (HTML, SVG…) and at a
    processing instruction (a stylesheet)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.expat: Any = None  # the parser's expat object, for positions (set after creation)
        self.positions: dict[ET.Element, tuple[int, int]] = {}

    def here(self) -> tuple[int, int]:
        """The position of the event being handled (expat columns are 0-based)."""
        return self.expat.CurrentLineNumber, self.expat.CurrentColumnNumber + 1

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _Refused(
                f"metadata nests elements more than {MAX_XML_DEPTH} levels deep", self.here()
            )
        if tag.startswith("{") and tag[1:].split("}", 1)[0] in _ACTIVE_NAMESPACES:
            raise _Refused(
                "metadata must not contain HTML, SVG, MathML or XSLT elements"
                " (a browser would run them in the published copy)",
                self.here(),
            )
        element = super().start(tag, attrs)
        self.positions[element] = self.here()
        return element

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        return super().end(tag)

    def pi(self, target: str, text: str | None = None) -> ET.Element:
        raise _Refused(
            f"metadata must not contain processing instructions (<?{shorten(target, 20)} …?>)",
            self.here(),
        )


def _parse_xml(data: bytes) -> _Tree:
    builder = _GuardedBuilder()
    parser = SafeET.DefusedXMLParser(
        target=builder,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    builder.expat = parser.parser  # the pure-Python XMLParser defusedxml extends keeps it
    try:
        parser.feed(data)
        return _Tree(parser.close(), builder.positions)
    except _Refused as exc:
        raise _invalid(str(exc), exc.where) from None
    except defusedxml.DTDForbidden:
        message = "metadata must not contain a DOCTYPE (DTDs are refused)"
    except defusedxml.EntitiesForbidden:
        message = "metadata must not declare entities"
    except defusedxml.ExternalReferenceForbidden:
        message = "metadata must not reference external resources"
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise _invalid(f"metadata is not well-formed XML: {reason}", (line, column + 1)) from None
    raise _invalid(message, (builder.expat.CurrentLineNumber, 0))


def _entities(
    element: ET.Element, limits: tuple[ET.Element, ...]
) -> list[tuple[ET.Element, tuple[ET.Element, ...]]]:
    """EntityDescriptors below ``element`` with their ancestors that carry a validUntil."""
    here = (*limits, element) if element.get("validUntil") else limits
    if element.tag == f"{{{MD}}}EntityDescriptor":
        return [(element, here)]
    if element.tag == f"{{{MD}}}EntitiesDescriptor":
        return [found for child in element for found in _entities(child, here)]
    return []


def _idp(
    tree: _Tree, entity: ET.Element, limits: tuple[ET.Element, ...], data: bytes
) -> IdpMetadata:
    entity_id = (entity.get("entityID") or "").strip()
    where = tree.at(entity)
    if not entity_id:
        raise _invalid("EntityDescriptor has no entityID", where)
    problem = value_problem(entity_id)
    if problem:
        # The entityID becomes IssuerUri, written into pages: refuse markup like tenant values.
        raise _invalid(f"entityID is not usable: {problem}", where)
    if "{tenantid}" in entity_id.lower():
        raise _invalid(
            f"entityID '{entity_id}' is the multi-tenant 'common' endpoint;"
            " use the tenant's own metadata",
            where,
        )
    descriptor = entity.find(f"{{{MD}}}IDPSSODescriptor")
    assert descriptor is not None  # chosen entities are identity providers
    certificates: dict[str, Certificate] = {}
    notes: list[DocumentProblem] = []
    for key in descriptor.findall(f"{{{MD}}}KeyDescriptor"):
        if key.get("use", "signing") != "signing":
            continue  # no `use` means both signing and encryption (SAML metadata 2.4.1.1)
        for element in key.iter(f"{{{DS}}}X509Certificate"):
            try:
                cert = load_certificate(element.text or "")
            except CertificateError as exc:
                raise _invalid(
                    f"signing certificate of '{entity_id}': {exc}", tree.at(element)
                ) from None
            if cert.sha256 not in certificates and not cert.positive_serial:
                notes.append(
                    DocumentProblem(
                        f"signing certificate '{shorten(cert.subject)}' (thumbprint"
                        f" {cert.thumbprint}) has a negative or zero serial number, which"
                        " RFC 5280 forbids and some SAML software refuses; published as it is",
                        *tree.at(element),
                    )
                )
            certificates.setdefault(cert.sha256, cert)
    return IdpMetadata(
        entity_id=entity_id,
        sso_url=_endpoint(tree, descriptor, "SingleSignOnService"),
        slo_url=_endpoint(tree, descriptor, "SingleLogoutService"),
        signing_certificates=tuple(certificates.values()),
        valid_until=_earliest(tree, limits),
        raw=data,
        notes=tuple(notes),
    )


def _endpoint(tree: _Tree, descriptor: ET.Element, name: str) -> str | None:
    by_binding: dict[str | None, ET.Element] = {}
    for element in descriptor.findall(f"{{{MD}}}{name}"):
        # The first endpoint of a binding is the one meant, as in other SAML toolkits.
        by_binding.setdefault(element.get("Binding"), element)
    redirect = by_binding.get(REDIRECT)
    chosen = redirect if redirect is not None and redirect.get("Location") else by_binding.get(POST)
    url = chosen.get("Location") if chosen is not None else None
    if chosen is None or url is None:
        return None
    url = url.strip()
    if not _URL.fullmatch(url):
        raise _invalid(f"{name} Location is not an http(s) URL", tree.at(chosen))
    problem = value_problem(url)
    if problem:
        # Written into pages like tenant values: the same limits (length, control characters).
        raise _invalid(f"{name} Location is not usable: {problem}", tree.at(chosen))
    return url


def _earliest(tree: _Tree, limits: tuple[ET.Element, ...]) -> datetime | None:
    parsed = []
    for element in limits:
        text = element.get("validUntil", "")
        try:
            parsed.append(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise _invalid(
                f"validUntil '{shorten(text)}' is not a date-time", tree.at(element)
            ) from None
    return min(parsed, default=None)
