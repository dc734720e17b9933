"""Build SAML 2.0 IdP metadata documents and self-signed certificates for tests.

Shared by every test that needs federation metadata: parsing, value resolution, fetching,
whole builds. Import with ``from idp import make_certificate, make_metadata``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import textwrap
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
ARTIFACT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"

ENTITY_ID = "https://idp.example.com/saml"
SSO_URL = "https://idp.example.com/saml/sso"
SLO_URL = "https://idp.example.com/saml/slo"

CertText = bytes | str
"""DER bytes (Base64-encoded into the element) or the element's text exactly as given."""
CertUse = str | None
"""The KeyDescriptor's ``use`` attribute; None writes no attribute (signing and encryption)."""


@functools.cache
def _key() -> rsa.RSAPrivateKey:
    # One key per test run: generating RSA keys is the slow part, and tests only need
    # distinct certificates, which the serial number and subject already give.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_certificate(
    cn: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[bytes, x509.Certificate]:
    """A self-signed certificate for ``cn``; returns its DER bytes and the parsed certificate."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = not_before or now - dt.timedelta(days=1)
    end = not_after or now + dt.timedelta(days=365)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(_key(), hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER), cert


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def _elements(der: bytes) -> list[bytes]:
    """The DER elements (tag, length and contents) that follow each other in ``der``."""
    found, offset = [], 0
    while offset < len(der):
        first = der[offset + 1]
        start = offset + 2
        if first < 0x80:
            size = first
        else:
            size = int.from_bytes(der[start : start + (first & 0x7F)], "big")
            start += first & 0x7F
        found.append(der[offset : start + size])
        offset = start + size
    return found


def _contents(element: bytes) -> bytes:
    first = element[1]
    return element[2 + (first & 0x7F if first >= 0x80 else 0) :]


def make_negative_serial_certificate(cn: str, serial: bytes = b"\xb0\x01\x02\x03") -> bytes:
    """DER of a certificate with a negative serial number (two's complement ``serial``, high
    bit set), signed properly. ``cryptography`` refuses to build one, so a normal one is
    built and its to-be-signed part edited, as some real IdPs' certificates are."""
    der, _ = make_certificate(cn)
    version, _serial, *rest = _elements(_contents(_elements(_contents(der))[0]))
    tbs = _tlv(0x30, version + _tlv(0x02, serial) + b"".join(rest))
    signature = _key().sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    algorithm = _elements(_contents(der))[1]
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))


@functools.cache
def default_certificate() -> tuple[bytes, x509.Certificate]:
    """One signing certificate reused by documents that do not ask for their own."""
    return make_certificate("idp.example.com")


def certificate_text(der: bytes, *, width: int | None = None, indent: str = "") -> str:
    """Base64 of ``der`` as metadata writes it: one line, or ``width`` columns, indented."""
    body = base64.b64encode(der).decode("ascii")
    if width is None:
        return body
    return "\n" + "\n".join(indent + line for line in textwrap.wrap(body, width)) + "\n"


def _key_descriptor(cert: CertText, use: CertUse) -> str:
    text = certificate_text(cert) if isinstance(cert, bytes) else cert
    use_attr = f" use={quoteattr(use)}" if use is not None else ""
    return (
        f"<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data>"
        f"<ds:X509Certificate>{text}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )


def _endpoints(name: str, endpoints: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f"<md:{name} Binding={quoteattr(binding)} Location={quoteattr(url)}/>"
        for binding, url in endpoints
    )


def make_entity(
    entity_id: str = ENTITY_ID,
    *,
    sso: Sequence[tuple[str, str]] = ((REDIRECT, SSO_URL),),
    slo: Sequence[tuple[str, str]] = (),
    certs: Sequence[tuple[CertText, CertUse]] | None = None,
    valid_until: str | None = None,
    idp: bool = True,
    sp: bool = False,
    wsfed: str = "",
) -> str:
    """One ``md:EntityDescriptor`` element as text (namespace prefixes declared by the caller).

    ``certs`` are (certificate, use) pairs; None gives one signing certificate. ``sp`` adds
    an SPSSODescriptor, ``idp=False`` leaves out the IDPSSODescriptor, ``wsfed`` is inserted
    verbatim before the SAML roles (for WS-Federation RoleDescriptor elements).
    """
    if certs is None:
        certs = [(default_certificate()[0], "signing")]
    until = f" validUntil={quoteattr(valid_until)}" if valid_until else ""
    parts = [f"<md:EntityDescriptor entityID={quoteattr(entity_id)}{until}>", wsfed]
    if sp:
        sp_der, _ = make_certificate("sp.example.com")
        parts.append(
            '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            + _key_descriptor(sp_der, "signing")
            + _endpoints("SingleLogoutService", [(REDIRECT, "https://sp.example.com/slo")])
            + f'<md:AssertionConsumerService Binding="{POST}"'
            ' Location="https://sp.example.com/acs" index="0"/>'
            "</md:SPSSODescriptor>"
        )
    if idp:
        parts.append(
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            + "".join(_key_descriptor(cert, use) for cert, use in certs)
            + _endpoints("SingleLogoutService", slo)
            + "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
            + _endpoints("SingleSignOnService", sso)
            + "</md:IDPSSODescriptor>"
        )
    parts.append("</md:EntityDescriptor>")
    return "".join(parts)


_NAMESPACES = (
    f'xmlns:md="{MD}" xmlns:ds="{DS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"'
    ' xmlns:wsa="http://www.w3.org/2005/08/addressing"'
)


def make_metadata(
    entity_id: str = ENTITY_ID,
    *,
    sso: Sequence[tuple[str, str]] = ((REDIRECT, SSO_URL),),
    slo: Sequence[tuple[str, str]] = ((REDIRECT, SLO_URL),),
    certs: Sequence[tuple[CertText, CertUse]] | None = None,
    valid_until: str | None = None,
    entities: Sequence[str] | None = None,
    sp: bool = False,
    wsfed: str = "",
) -> bytes:
    """A metadata document (UTF-8 bytes with an XML declaration).

    Without ``entities``: one EntityDescriptor built from the other arguments (see
    :func:`make_entity`). With ``entities`` (texts from :func:`make_entity`): an
    EntitiesDescriptor holding them, carrying ``valid_until``; the other arguments are unused.
    """
    if entities is None:
        body = make_entity(
            entity_id,
            sso=sso,
            slo=slo,
            certs=certs,
            valid_until=valid_until,
            sp=sp,
            wsfed=wsfed,
        )
        root = body.replace("<md:EntityDescriptor ", f"<md:EntityDescriptor {_NAMESPACES} ", 1)
    else:
        until = f" validUntil={quoteattr(valid_until)}" if valid_until else ""
        root = (
            f'<md:EntitiesDescriptor {_NAMESPACES} Name="urn:example:federation"{until}>'
            + "\n".join(entities)
            + "</md:EntitiesDescriptor>"
        )
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + root + "\n").encode()


def wsfed_role(cert: bytes, url: str = "https://idp.example.com/wsfed") -> str:
    """A WS-Federation SecurityTokenServiceType RoleDescriptor with its own key and endpoint."""
    return (
        '<md:RoleDescriptor xsi:type="fed:SecurityTokenServiceType"'
        ' protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">'
        + _key_descriptor(cert, "signing")
        + "<fed:PassiveRequestorEndpoint><wsa:EndpointReference>"
        f"<wsa:Address>{url}</wsa:Address>"
        "</wsa:EndpointReference></fed:PassiveRequestorEndpoint>"
        "</md:RoleDescriptor>"
    )


def entra_metadata(tenant_id: str) -> bytes:
    """An Entra tenant's federation metadata: its login URL, entity ID and a fresh signing
    certificate valid 2026–2036."""
    der, _ = make_certificate(
        "Microsoft Azure Federated SSO Certificate",
        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2036, 1, 1, tzinfo=dt.UTC),
    )
    login = f"https://login.microsoftonline.com/{tenant_id}/saml2"
    return make_metadata(
        f"https://sts.windows.net/{tenant_id}/",
        sso=((REDIRECT, login),),
        slo=((REDIRECT, login),),
        certs=((der, "signing"),),
    )
