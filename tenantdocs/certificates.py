"""X.509 signing certificates: decoded from metadata text, described, exported as PEM and DER."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

_WHITESPACE = re.compile(r"\s+")
_PEM_BODY = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----"
)


class CertificateError(ValueError):
    """Raised by :func:`load_certificate` for text that is not one X.509 certificate."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """One signing certificate of an identity provider."""

    der: bytes
    """The certificate in DER form (the raw ``.cer`` download)."""
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

    def pem(self) -> str:
        """The certificate in Base64 (PEM) form, 64 characters a line, LF line endings."""
        body = base64.b64encode(self.der).decode("ascii")
        lines = "\n".join(textwrap.wrap(body, 64))
        return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def load_certificate(text: str) -> Certificate:
    """Decode an ``X509Certificate`` element's Base64 text (any whitespace) into a Certificate.

    Some IdPs Base64-encode a whole PEM text instead of the DER bytes; that is unwrapped.
    """
    try:
        der = base64.b64decode(_WHITESPACE.sub("", text), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("X509Certificate is not valid Base64") from None
    if der.startswith(b"-----BEGIN CERTIFICATE-----"):
        pem = _PEM_BODY.search(der.decode("ascii", "replace"))
        if pem is None:
            raise CertificateError("X509Certificate holds a broken PEM text")
        return load_certificate(pem.group("body"))
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(f"X509Certificate is not a DER certificate ({exc})") from None
    canonical = cert.public_bytes(Encoding.DER)
    return Certificate(
        der=canonical,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        thumbprint=hashlib.sha1(canonical, usedforsecurity=False).hexdigest().upper(),
        sha256=hashlib.sha256(canonical).hexdigest().upper(),
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
