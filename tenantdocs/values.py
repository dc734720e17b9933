"""Resolve the values of one tenant × app, each with its provenance.

Precedence, highest first: the app's entry in the tenant file > the tenant file's
``metadata:`` > federation metadata (local file or fetched) > values derived from
``tenant_id`` / ``app_id`` > app defaults (``app.yml``, gallery ``metadata.json``, folder
name). Pure: the metadata document is read and parsed by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from tenantdocs import entra
from tenantdocs.certificates import Certificate, shown_time
from tenantdocs.errors import Location
from tenantdocs.keys import KEYS, METADATA_ELEMENTS, key_spec
from tenantdocs.sources import LoadedMetadata as LoadedMetadata  # made by the sources stage
from tenantdocs.templates import App
from tenantdocs.tenants import Setting, Tenant


class Origin(StrEnum):
    """Which source a value came from, in precedence order (highest first)."""

    APP_ENTRY = "tenant file, app entry"
    TENANT_FILE = "tenant file"
    METADATA = "federation metadata"
    DERIVED = "derived"
    APP_DEFAULT = "app default"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value came from, shown to admins."""

    origin: Origin
    """The kind of source."""
    location: Location
    """The file (and line) of the value; for derived values, the setting it is derived from."""
    detail: str = ""
    """For derived values: what it was derived from, e.g. ``derived from tenant_id``."""
    document: str = ""
    """For metadata values: the document, its file or URL with when it was fetched."""
    element: str = ""
    """For metadata values: what in the document gave it, e.g. ``SingleSignOnService``."""


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """A file published in the tenant's site (certificate, metadata copy)."""

    site_path: str
    """Path inside the tenant's site, '/'-separated, e.g. ``litware-crm/signing-certificate.cer``."""
    data: bytes
    """The exact bytes to publish."""


@dataclass(frozen=True, slots=True)
class ResolvedValue:
    """One key's value for one tenant × app."""

    key: str
    """The canonical key."""
    text: str
    """The value: a URL, an identifier or text."""
    provenance: Provenance
    """Where it came from."""
    site_path: str | None = None
    """For links to published files: the file's path inside the tenant's site."""


@dataclass(frozen=True, slots=True)
class ValueSet:
    """All values of one tenant × app, and the files they link to."""

    app: str
    """The app folder name."""
    values: Mapping[str, ResolvedValue]
    """Values by canonical key."""
    files: tuple[PublishedFile, ...] = ()
    """Files to publish beside the guide."""
    certificates: tuple[Certificate, ...] = ()
    """The metadata's signing certificates; the first is the one published for download."""
    metadata: LoadedMetadata | None = None
    """The federation metadata the values were read from, if any (shown as provenance)."""


def metadata_identity(metadata: LoadedMetadata) -> tuple[str, str]:
    """Which metadata a page was built from: its file or URL, and its SHA-256 (hex).

    The fetch time is left out: a document the server confirms unchanged must not change
    the pages, or every refresh would rebuild every tenant. The reports have it.
    """
    return metadata.source, hashlib.sha256(metadata.document.raw).hexdigest()


BASE64_CERTIFICATE = "signing-certificate.cer"
RAW_CERTIFICATE = "signing-certificate-raw.cer"
METADATA_COPY = "federation-metadata.xml"


def certificate_files(index: int) -> tuple[str, str]:
    """File names (Base64, raw) of the ``index``-th signing certificate; 0 is the primary."""
    if index == 0:
        return BASE64_CERTIFICATE, RAW_CERTIFICATE
    return f"signing-certificate-{index + 1}.cer", f"signing-certificate-{index + 1}-raw.cer"


def resolve_values(tenant: Tenant, app: App, metadata: LoadedMetadata | None) -> ValueSet:
    """Merge every source for one tenant × app, highest precedence winning."""
    values: dict[str, ResolvedValue] = {}
    files: list[PublishedFile] = []

    def put(layer: Mapping[str, ResolvedValue]) -> None:
        values.update(layer)

    put(
        {
            key: ResolvedValue(key, d.value, Provenance(Origin.APP_DEFAULT, d.location))
            for key, d in app.defaults.items()
        }
    )
    derived = _derived(tenant, app)
    if metadata is not None:
        # The document describes the IdP: an endpoint it lacks (e.g. no SingleLogoutService)
        # must not be filled with an Entra URL guessed from tenant_id.
        derived = {k: v for k, v in derived.items() if not key_spec(k).idp_endpoint}
    put(derived)
    if metadata is not None:
        layer, files = _from_metadata(app.name, metadata)
        put(layer)
    put(_settings(tenant.metadata, Origin.TENANT_FILE))
    put(_settings(tenant.app_entry(app.name).metadata, Origin.APP_ENTRY))
    certificates = metadata.document.signing_certificates if metadata is not None else ()
    return ValueSet(app.name, MappingProxyType(values), tuple(files), certificates, metadata)


def _settings(settings: Mapping[str, Setting], origin: Origin) -> dict[str, ResolvedValue]:
    return {
        key: ResolvedValue(key, s.value, Provenance(origin, s.location))
        for key, s in settings.items()
    }


def _derived(tenant: Tenant, app: App) -> dict[str, ResolvedValue]:
    """Entra ID values that follow from the tenant ID (and the app ID)."""
    found: dict[str, ResolvedValue] = {}

    def derive(key: str, text: str, setting: Setting, what: str) -> None:
        found[key] = ResolvedValue(
            key, text, Provenance(Origin.DERIVED, setting.location, f"derived from {what}")
        )

    tid = tenant.tenant_id
    if tid is not None:
        guid = tid.value.lower()
        derive("tenantId", guid, tid, "tenant_id")
        derive("singleSignOnServiceUrl", entra.saml_url(guid), tid, "tenant_id")
        derive("singleSignOutServiceUrl", entra.saml_url(guid), tid, "tenant_id")
        derive("IssuerUri", entra.issuer_uri(guid), tid, "tenant_id")
        derive("wsFederationSignInUrl", entra.wsfed_url(guid), tid, "tenant_id")
        derive("changePasswordUrl", entra.CHANGE_PASSWORD, tid, "tenant_id (Entra ID default)")
    app_id = tenant.app_entry(app.name).app_id
    if app_id is not None:
        aid = app_id.value.lower()
        derive("appId", aid, app_id, "app_id")
        if tid is not None:
            url = entra.app_federation_metadata_url(tid.value, aid)
            derive("appFederationMetadataUrl", url, app_id, "tenant_id and app_id")
    return found


def _from_metadata(
    app: str, loaded: LoadedMetadata
) -> tuple[dict[str, ResolvedValue], list[PublishedFile]]:
    doc = loaded.document
    found: dict[str, ResolvedValue] = {}
    files: list[PublishedFile] = []

    def put(key: str, text: str, element: str, site_path: str | None = None) -> None:
        provenance = Provenance(
            Origin.METADATA, loaded.location, document=loaded.detail, element=element
        )
        found[key] = ResolvedValue(key, text, provenance, site_path)

    def publish(name: str, data: bytes) -> str:
        site_path = f"{app}/{name}"
        files.append(PublishedFile(site_path, data))
        return site_path

    for spec in KEYS:
        if spec.metadata_field is not None and (text := getattr(doc, spec.metadata_field)):
            put(spec.name, text, METADATA_ELEMENTS[spec.metadata_field])
    copy = publish(METADATA_COPY, doc.raw)
    put("metadataDownloadUrl", METADATA_COPY, "byte-exact copy", copy)
    if doc.signing_certificates:
        primary = doc.signing_certificates[0]
        pem = publish(BASE64_CERTIFICATE, primary.pem().encode("ascii"))
        der = publish(RAW_CERTIFICATE, primary.der)
        # Key rollover: every other signing certificate is published too, numbered.
        for index, other in enumerate(doc.signing_certificates[1:], start=1):
            base64_name, raw_name = certificate_files(index)
            publish(base64_name, other.pem().encode("ascii"))
            publish(raw_name, other.der)
        put("certificateDownloadBase64Url", BASE64_CERTIFICATE, "signing certificate", pem)
        put("CertificateDownloadRawUrl", RAW_CERTIFICATE, "signing certificate", der)
        put("certificateThumbprint", primary.thumbprint, "signing certificate")
        put("certificateExpiry", shown_time(primary.not_after), "signing certificate")
    return found, files
