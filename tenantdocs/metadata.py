"""SAML 2.0 federation metadata: parsed from bytes into the values an IdP publishes.

Metadata is untrusted input: it is parsed from bytes only, with DTDs, entity declarations
and external references refused (no XXE, no billion laughs), namespace-aware, and values are
taken from the ``IDPSSODescriptor`` only (WS-Federation ``RoleDescriptor`` elements repeat
the keys and are ignored).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from tenantdocs.certificates import Certificate, CertificateError, load_certificate
from tenantdocs.errors import Location, MetadataError, Problem
from tenantdocs.keys import shorten, value_problem

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_METADATA_BYTES = 5 * 1024 * 1024

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


def _parse_xml(data: bytes, path: Path) -> ET.Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
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
    return url


def _earliest(limits: tuple[str, ...], where: Location) -> datetime | None:
    parsed = []
    for text in limits:
        try:
            parsed.append(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise MetadataError(Problem(where, f"validUntil '{text}' is not a date-time")) from None
    return min(parsed, default=None)
