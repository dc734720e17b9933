"""X.509 signing certificates: decoded from metadata text, described, exported as PEM and DER.

Real IdPs (TestShib, several SimpleSAMLphp installations, OneLogin) publish certificates
whose serial number is negative or zero. RFC 5280 forbids that, ``cryptography`` warns
about it and a future release will refuse to load them, yet SAML software accepts them and
admins need them. Such a certificate is never handed to the library as it is: its subject
and validity are read from a copy whose serial is replaced by 1 (:func:`with_serial`), while
its bytes, fingerprints and PEM text are those of the certificate as published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

_WHITESPACE = re.compile(r"\s+")
_PEM_BODY = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)
_SEQUENCE = 0x30
_INTEGER = 0x02
_VERSION = 0xA0  # [0] EXPLICIT Version, before the serial number


class CertificateError(ValueError):
    """Raised by :func:`load_certificate` for text that is not one X.509 certificate."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """One signing certificate of an identity provider."""

    der: bytes
    """The certificate in DER form, as published (the raw ``.cer`` download)."""
    pem_text: str
    """The certificate in Base64 (PEM) form, 64 characters a line, LF line endings."""
    subject: str
    """The subject distinguished name, RFC 4514."""
    not_before: datetime
    """Start of validity, UTC."""
    not_after: datetime
    """End of validity, UTC."""
    thumbprint: str
    """SHA-1 fingerprint in upper-case hex, as Entra and Windows show it."""
    sha256: str
    """SHA-256 fingerprint in upper-case hex, for de-duplication and reports."""
    positive_serial: bool = True
    """False when the serial number is negative or zero (RFC 5280 forbids it)."""

    def pem(self) -> str:
        """The certificate in Base64 (PEM) form (the Base64 ``.cer`` download)."""
        return self.pem_text


def load_certificate(text: str) -> Certificate:
    """Decode an ``X509Certificate`` element's Base64 text (any whitespace) into a Certificate.

    Some IdPs Base64-encode a whole PEM text instead of the DER bytes; that is unwrapped.
    """
    try:
        der = base64.b64decode(_WHITESPACE.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("X509Certificate is not valid Base64") from None
    if der.startswith(b"-----BEGIN CERTIFICATE-----"):
        found = _PEM_BODY.search(der.decode("ascii", "replace"))
        if found is None:
            raise CertificateError("X509Certificate holds a broken PEM text")
        return load_certificate(found.group("body"))
    # Loaded by the runs that read a certificate only (a no-op rebuild reads none).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    serial = serial_number(der)
    positive = serial is None or (serial[0] < 0x80 and serial != b"\x00")
    try:
        # A structure too broken to find the serial in goes to the library as it is, which
        # then says what is wrong with it.
        cert = x509.load_der_x509_certificate(der if positive else with_serial(der, b"\x01"))
    except ValueError as exc:
        raise CertificateError(f"X509Certificate is not a DER certificate ({exc})") from None
    if positive:
        published = cert.public_bytes(Encoding.DER)
        pem = cert.public_bytes(Encoding.PEM).decode("ascii")
        sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()  # SHA-1: the thumbprint Entra shows
        sha256 = cert.fingerprint(hashes.SHA256()).hex().upper()
    else:
        # The library only ever saw the repaired copy: these come from the published bytes.
        published = der
        pem = ssl.DER_cert_to_PEM_cert(der)
        sha1 = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
        sha256 = hashlib.sha256(der).hexdigest().upper()
    return Certificate(
        der=published,
        pem_text=pem,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        thumbprint=sha1,
        sha256=sha256,
        positive_serial=positive,
    )


EXPIRY_WARNING = timedelta(days=30)
"""A signing certificate that expires within this time gets a warning."""


class CertificateState(StrEnum):
    """A signing certificate's validity at the time the site is built."""

    VALID = "valid"
    EXPIRING = "expires soon"
    EXPIRED = "expired"
    NOT_YET_VALID = "not valid yet"


def certificate_state(certificate: Certificate, now: datetime) -> CertificateState:
    """Whether ``certificate`` is valid at ``now``, and for more than :data:`EXPIRY_WARNING`."""
    if now >= certificate.not_after:
        return CertificateState.EXPIRED
    if now < certificate.not_before:
        return CertificateState.NOT_YET_VALID
    if certificate.not_after - now <= EXPIRY_WARNING:
        return CertificateState.EXPIRING
    return CertificateState.VALID


def shown_time(moment: datetime) -> str:
    """A moment of a certificate's validity as the pages show it: ``YYYY-MM-DD HH:MM:SS UTC``."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


# --- the few bytes of DER needed to find and replace a serial number ----------------------


def _header(der: bytes, offset: int) -> tuple[int, int, int]:
    """Tag, start of contents and end of one DER element at ``offset``; ValueError if cut."""
    if offset + 2 > len(der):
        raise ValueError("truncated")
    tag, first = der[offset], der[offset + 1]
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or start + count > len(der):
            raise ValueError("bad length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated")
    return tag, start, start + length


def _serial_span(der: bytes) -> tuple[int, int, int, int]:
    """(certificate contents start, tbs offset, serial offset, serial end) in ``der``."""
    tag, body, _ = _header(der, 0)
    tbs_tag, tbs_body, _ = _header(der, body)
    if tag != _SEQUENCE or tbs_tag != _SEQUENCE:
        raise ValueError("not a certificate")
    offset = tbs_body
    element, _, end = _header(der, offset)
    if element == _VERSION:
        offset = end
        element, _, end = _header(der, offset)
    if element != _INTEGER:
        raise ValueError("no serial number")
    return body, tbs_body, offset, end


def serial_number(der: bytes) -> bytes | None:
    """The serial number's content octets (two's complement), or None if not found."""
    try:
        _, _, offset, end = _serial_span(der)
        _, start, _ = _header(der, offset)
    except ValueError:
        return None
    return der[start:end] or None


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def with_serial(der: bytes, serial: bytes) -> bytes:
    """``der`` with its serial number's content octets replaced (lengths fixed; the
    signature no longer matches, which does not matter for reading names and dates)."""
    _, tbs_body, offset, end = _serial_span(der)
    _, _, tbs_end = _header(der, _header(der, 0)[1])
    _, _, cert_end = _header(der, 0)
    tbs = der[tbs_body:offset] + bytes([_INTEGER]) + _length(len(serial)) + serial
    tbs += der[end:tbs_end]
    inner = bytes([_SEQUENCE]) + _length(len(tbs)) + tbs + der[tbs_end:cert_end]
    return bytes([_SEQUENCE]) + _length(len(inner)) + inner
