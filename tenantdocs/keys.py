"""The metadata keys a template may use, each declared once with everything about it.

A key's :class:`KeySpec` holds its spelling and aliases, kind, description, the label admins
see, whether admins copy it, whether it is an IdP endpoint (and which metadata field holds
it) and how guides link its published file; every other list of keys is derived from
:data:`KEYS`, whose order is the order admins read them in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Literal


class KeyKind(Enum):
    """What a key's value is, which decides how it is validated and escaped."""

    TEXT = "text"
    URL = "url"


MetadataField = Literal["entity_id", "sso_url", "slo_url"]

METADATA_ELEMENTS: Mapping[MetadataField, str] = MappingProxyType(
    {"entity_id": "entityID", "sso_url": "SingleSignOnService", "slo_url": "SingleLogoutService"}
)
"""The SAML metadata element (or attribute) each metadata field is read from, for provenance."""
"""The :class:`~tenantdocs.metadata.IdpMetadata` fields that hold an IdP endpoint."""


@dataclass(frozen=True, slots=True)
class DownloadLink:
    """How a guide's "Downloads" line links a file published for a key."""

    label: str
    """The link text, e.g. ``Signing certificate (Base64)``."""
    position: int
    """Place on the line, left to right (certificates before the metadata copy)."""
    home: str | None = None
    """The link text in each app's row on the tenant home; None: linked from the guide only."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One known key: everything the pipeline and the admin pages need to know about it."""

    name: str
    """Canonical spelling, as written in templates and tenant files."""
    kind: KeyKind
    """Text or URL; URL values must be http(s) or, for published files, site-relative."""
    description: str
    """What the value is, shown by ``check`` and in the README."""
    label: str
    """What admins call the value, on the tenant home and the guides' panels."""
    aliases: tuple[str, ...] = ()
    """Historical spellings that resolve to this key (``check`` warns on them)."""
    copyable: bool = False
    """Admins paste the value into an app: it is marked up as code with a copy button."""
    idp_endpoint: bool = False
    """An IdP endpoint: when a metadata document is there, only it may give the value."""
    metadata_field: MetadataField | None = None
    """The metadata field the value is read from, and ``refresh`` compares."""
    on_home: bool = False
    """One of the IdP's public values: on the tenant home even when no guide uses it."""
    download: DownloadLink | None = None
    """For a file published beside each guide: how the guide's "Downloads" line links it."""


KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        "singleSignOnServiceUrl",
        KeyKind.URL,
        "Login URL: the IdP's SAML single sign-on endpoint",
        "Sign-on URL",
        aliases=("SignOnUrl",),
        copyable=True,
        idp_endpoint=True,
        metadata_field="sso_url",
        on_home=True,
    ),
    KeySpec(
        "singleSignOutServiceUrl",
        KeyKind.URL,
        "Logout URL: the IdP's SAML single logout endpoint",
        "Sign-out URL",
        aliases=("singleLogoutServiceUrl", "singleLogoutService"),
        copyable=True,
        idp_endpoint=True,
        metadata_field="slo_url",
        on_home=True,
    ),
    KeySpec(
        "IssuerUri",
        KeyKind.TEXT,
        "IdP entity ID (SAML issuer)",
        "Entity ID (issuer)",
        copyable=True,
        idp_endpoint=True,
        metadata_field="entity_id",
        on_home=True,
    ),
    KeySpec(
        "metadataDownloadUrl",
        KeyKind.URL,
        "link to the federation metadata XML",
        "Federation metadata",
        on_home=True,
        download=DownloadLink("Federation metadata (XML)", 3, home="metadata (XML)"),
    ),
    KeySpec(
        "certificateDownloadBase64Url",
        KeyKind.URL,
        "link to the signing certificate, Base64 (PEM) .cer",
        "Signing certificate (Base64)",
        on_home=True,
        download=DownloadLink("Signing certificate (Base64)", 1),
    ),
    KeySpec(
        "CertificateDownloadRawUrl",
        KeyKind.URL,
        "link to the signing certificate, raw (DER) .cer",
        "Signing certificate (raw)",
        aliases=("CertificateDownloadUrl",),
        on_home=True,
        download=DownloadLink("Signing certificate (raw)", 2),
    ),
    KeySpec(
        "wsFederationSignInUrl",
        KeyKind.URL,
        "WS-Federation sign-on endpoint",
        "WS-Federation sign-on URL",
        copyable=True,
        idp_endpoint=True,
    ),
    KeySpec(
        "changePasswordUrl",
        KeyKind.URL,
        "where users change their password",
        "Change-password URL",
        copyable=True,
    ),
    KeySpec("DisplayName", KeyKind.TEXT, "the application's display name", "App name"),
    KeySpec(
        "SignInUrlExample",
        KeyKind.TEXT,
        "an example of the app's sign-on URL",
        "Sign-in URL example",
    ),
    KeySpec(
        "ExternalArticleUrl", KeyKind.URL, "the app's full tutorial elsewhere", "Full tutorial"
    ),
    KeySpec(
        "appFederationMetadataUrl",
        KeyKind.URL,
        "Entra App Federation Metadata URL of the app",
        "App federation metadata URL",
        copyable=True,
    ),
    KeySpec(
        "certificateThumbprint",
        KeyKind.TEXT,
        "SHA-1 thumbprint of the signing certificate",
        "Certificate thumbprint (SHA-1)",
        copyable=True,
        on_home=True,
    ),
    KeySpec(
        "certificateExpiry",
        KeyKind.TEXT,
        "expiry date of the signing certificate (UTC)",
        "Certificate expires",
    ),
    KeySpec("tenantId", KeyKind.TEXT, "directory (tenant) ID", "Tenant ID", copyable=True),
    KeySpec(
        "appId", KeyKind.TEXT, "the enterprise application's ID", "Application ID", copyable=True
    ),
)
"""Every key, in the order admins read them (the panels' rows follow it)."""

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


def key_order(name: str) -> int:
    """A key's place in :data:`KEYS`, for sorting rows the way admins read them."""
    return KEYS.index(_BY_NAME[name])


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
