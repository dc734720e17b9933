"""The metadata keys a template may use: canonical spellings, historical aliases, kinds."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class KeyKind(Enum):
    """What a key's value is, which decides how it is validated and escaped."""

    TEXT = "text"
    URL = "url"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One known key."""

    name: str
    """Canonical spelling, as written in templates and tenant files."""
    kind: KeyKind
    """Text or URL; URL values must be http(s) or, for published files, site-relative."""
    description: str
    """What the value is, shown by ``check`` and in the README."""
    aliases: tuple[str, ...] = ()
    """Historical spellings that resolve to this key (``check`` warns on them)."""


KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "singleSignOnServiceUrl",
        KeyKind.URL,
        "Login URL: the IdP's SAML single sign-on endpoint",
        ("SignOnUrl",),
    ),
    KeySpec(
        "singleSignOutServiceUrl",
        KeyKind.URL,
        "Logout URL: the IdP's SAML single logout endpoint",
        ("singleLogoutServiceUrl", "singleLogoutService"),
    ),
    KeySpec("IssuerUri", KeyKind.TEXT, "IdP entity ID (SAML issuer)"),
    KeySpec("metadataDownloadUrl", KeyKind.URL, "link to the federation metadata XML"),
    KeySpec(
        "certificateDownloadBase64Url",
        KeyKind.URL,
        "link to the signing certificate, Base64 (PEM) .cer",
    ),
    KeySpec(
        "CertificateDownloadRawUrl",
        KeyKind.URL,
        "link to the signing certificate, raw (DER) .cer",
        ("CertificateDownloadUrl",),
    ),
    KeySpec("wsFederationSignInUrl", KeyKind.URL, "WS-Federation sign-on endpoint"),
    KeySpec("changePasswordUrl", KeyKind.URL, "where users change their password"),
    KeySpec("DisplayName", KeyKind.TEXT, "the application's display name"),
    KeySpec("SignInUrlExample", KeyKind.TEXT, "an example of the app's sign-on URL"),
    KeySpec("ExternalArticleUrl", KeyKind.URL, "the app's full tutorial elsewhere"),
    KeySpec(
        "appFederationMetadataUrl",
        KeyKind.URL,
        "Entra App Federation Metadata URL of the app",
    ),
    KeySpec("certificateThumbprint", KeyKind.TEXT, "SHA-1 thumbprint of the signing certificate"),
    KeySpec("certificateExpiry", KeyKind.TEXT, "expiry date of the signing certificate (UTC)"),
    KeySpec("tenantId", KeyKind.TEXT, "directory (tenant) ID"),
    KeySpec("appId", KeyKind.TEXT, "the enterprise application's ID"),
)

_BY_FOLDED_SPELLING: Mapping[str, KeySpec] = MappingProxyType(
    {spelling.casefold(): spec for spec in KEYS for spelling in (spec.name, *spec.aliases)}
)

_BY_NAME: Mapping[str, KeySpec] = MappingProxyType({spec.name: spec for spec in KEYS})


def lookup_key(spelling: str) -> KeySpec | None:
    """Return the key a spelling means (any case, canonical or alias), or None if unknown."""
    return _BY_FOLDED_SPELLING.get(spelling.casefold())


def key_spec(name: str) -> KeySpec:
    """Return the spec of a canonical key name."""
    return _BY_NAME[name]


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """Return the closest candidate to ``word`` (ignoring case), or None if none is close."""
    folded = {c.casefold(): c for c in candidates}
    matches = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def suggest_key(spelling: str) -> str | None:
    """Return the canonical key closest to an unknown spelling, for "did you mean"."""
    match = suggest(spelling, list(_BY_FOLDED_SPELLING))
    return _BY_FOLDED_SPELLING[match.casefold()].name if match else None


def did_you_mean(suggestion: str | None) -> str:
    """Format a suggestion as a message suffix ('' when there is none)."""
    return f" (did you mean '{suggestion}'?)" if suggestion else ""


_HTTPS_URL = re.compile(r"https://[^\s/?#]+\S*", re.IGNORECASE)
# Control characters (C0, C1, Unicode line separators, bidirectional overrides that make a
# URL read differently from what is copied) and the characters that open markup or code.
_FORBIDDEN_IN_VALUES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069<>`]")
MAX_VALUE_LENGTH = 2048


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a value of any key (empty, too long, markup), or None."""
    if not value.strip():
        return "value is empty"
    if len(value) > MAX_VALUE_LENGTH:
        return f"value is longer than {MAX_VALUE_LENGTH} characters"
    if _FORBIDDEN_IN_VALUES.search(value):
        return "value contains a control character, '<', '>' or '`'"
    return None


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable https URL, or None when it is."""
    if not _HTTPS_URL.fullmatch(value):
        return f"'{shorten(value)}' is not an https:// URL"
    return None


def shorten(value: str, limit: int = 60) -> str:
    """Cut a value for a message, so errors never dump long contents."""
    return value if len(value) <= limit else value[: limit - 1] + "…"
