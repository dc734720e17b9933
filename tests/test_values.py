"""Value resolution: precedence of the sources, provenance and the published files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from idp import REDIRECT, make_certificate, make_metadata

from tenantdocs.errors import Location
from tenantdocs.metadata import parse_metadata
from tenantdocs.templates import App, AppDefault, load_templates
from tenantdocs.tenants import Tenant, parse_tenant
from tenantdocs.values import LoadedMetadata, Origin, PublishedFile, ValueSet, resolve_values

TENANT_PATH = Path("tenants/contoso.yml")
APP_FILE = Path("templates/litware-crm/app.yml")
METADATA_PATH = Path("tenants/contoso/litware-crm.xml")
TID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
AID = "3f6c2a1e-8b4d-4e7a-9c21-5d0b7e9a4c11"
ENTRA = "https://login.microsoftonline.com"


def tenant(text: str) -> Tenant:
    parsed, warnings = parse_tenant(text, TENANT_PATH, {"litware-crm", "tailspin-travel"})
    assert warnings == []
    return parsed


def app(**defaults: tuple[str, int]) -> App:
    """The litware-crm app with defaults given as key=(value, line in app.yml)."""
    return App(
        name="litware-crm",
        folder=Path("templates/litware-crm"),
        guide=None,
        defaults={
            key: AppDefault(value, Location(APP_FILE, line, 3))
            for key, (value, line) in defaults.items()
        },
    )


def loaded(data: bytes) -> LoadedMetadata:
    return LoadedMetadata(
        parse_metadata(data, METADATA_PATH),
        Location(METADATA_PATH),
        "tenants/contoso/litware-crm.xml",
        "contoso/litware-crm.xml",
    )


def files(values: ValueSet) -> dict[str, bytes]:
    return {f.site_path: f.data for f in values.files}


# --- app defaults and derived values -------------------------------------------------------


def test_app_defaults_only() -> None:
    values = resolve_values(
        tenant("name: Contoso\n"),
        app(DisplayName=("Litware CRM", 3), SignInUrlExample=("https://x.litware.example/", 4)),
        None,
    )
    assert values.app == "litware-crm"
    assert sorted(values.values) == ["DisplayName", "SignInUrlExample"]
    display = values.values["DisplayName"]
    assert display.text == "Litware CRM"
    assert display.provenance.origin is Origin.APP_DEFAULT
    assert display.provenance.location == Location(APP_FILE, 3, 3)
    assert display.site_path is None
    assert values.files == ()


def test_values_derived_from_tenant_id() -> None:
    values = resolve_values(tenant(f"name: Contoso\ntenant_id: {TID}\n"), app(), None)
    assert {key: v.text for key, v in values.values.items()} == {
        "tenantId": TID,
        "singleSignOnServiceUrl": f"{ENTRA}/{TID}/saml2",
        "singleSignOutServiceUrl": f"{ENTRA}/{TID}/saml2",
        "IssuerUri": f"https://sts.windows.net/{TID}/",
        "wsFederationSignInUrl": f"{ENTRA}/{TID}/wsfed",
        "changePasswordUrl": "https://account.activedirectory.windowsazure.com/ChangePassword.aspx",
    }
    for value in values.values.values():
        assert value.provenance.origin is Origin.DERIVED
        assert value.provenance.location == Location(TENANT_PATH, 2, 12)
    assert values.values["IssuerUri"].provenance.detail == "derived from tenant_id"
    assert values.values["IssuerUri"].text.endswith("/")


def test_app_federation_metadata_url_needs_tenant_and_app_id() -> None:
    text = f"name: Contoso\ntenant_id: {TID.upper()}\napps:\n  litware-crm:\n    app_id: {AID.upper()}\n"
    values = resolve_values(tenant(text), app(), None).values
    url = values["appFederationMetadataUrl"]
    assert url.text == (
        f"{ENTRA}/{TID}/federationmetadata/2007-06/federationmetadata.xml?appid={AID}"
    )
    assert url.provenance.origin is Origin.DERIVED
    assert url.provenance.location == Location(TENANT_PATH, 5, 13)
    assert url.provenance.detail == "derived from tenant_id and app_id"
    assert values["appId"].text == AID
    assert values["tenantId"].text == TID  # GUIDs are lower-cased
    assert values["singleSignOnServiceUrl"].text == f"{ENTRA}/{TID}/saml2"


def test_app_id_without_tenant_id() -> None:
    text = f"name: Contoso\napps:\n  litware-crm:\n    app_id: {AID}\n"
    values = resolve_values(tenant(text), app(), None).values
    assert values["appId"].text == AID
    assert "appFederationMetadataUrl" not in values
    assert "singleSignOnServiceUrl" not in values


def test_app_id_of_another_app_is_not_used() -> None:
    text = f"name: Contoso\ntenant_id: {TID}\napps:\n  tailspin-travel:\n    app_id: {AID}\n"
    values = resolve_values(tenant(text), app(), None).values
    assert "appId" not in values
    assert "appFederationMetadataUrl" not in values


# --- precedence ----------------------------------------------------------------------------

LAYERS = ("app default", "derived", "metadata", "tenant file", "app entry")


def _layered(count: int) -> ValueSet:
    """singleSignOnServiceUrl given by the first ``count`` sources of LAYERS."""
    used = LAYERS[:count]
    lines = ["name: Contoso"]
    if "derived" in used:
        lines.append(f"tenant_id: {TID}")
    if "tenant file" in used:
        lines += ["metadata:", "  singleSignOnServiceUrl: https://tenant.example.com/sso"]
    if "app entry" in used:
        lines += [
            "apps:",
            "  litware-crm:",
            "    metadata:",
            "      SignOnUrl: https://entry.example.com/sso",
        ]
    parsed, _ = parse_tenant("\n".join(lines) + "\n", TENANT_PATH, {"litware-crm"})
    document = (
        loaded(make_metadata(sso=[(REDIRECT, "https://idp.example.com/sso")]))
        if "metadata" in used
        else None
    )
    return resolve_values(
        parsed, app(singleSignOnServiceUrl=("https://default.example.com/sso", 5)), document
    )


@pytest.mark.parametrize(
    ("count", "text", "origin", "location"),
    [
        (1, "https://default.example.com/sso", Origin.APP_DEFAULT, Location(APP_FILE, 5, 3)),
        (2, f"{ENTRA}/{TID}/saml2", Origin.DERIVED, Location(TENANT_PATH, 2, 12)),
        (3, "https://idp.example.com/sso", Origin.METADATA, Location(METADATA_PATH)),
        (4, "https://tenant.example.com/sso", Origin.TENANT_FILE, Location(TENANT_PATH, 4, 27)),
        (5, "https://entry.example.com/sso", Origin.APP_ENTRY, Location(TENANT_PATH, 8, 18)),
    ],
)
def test_each_source_beats_the_ones_below(
    count: int, text: str, origin: Origin, location: Location
) -> None:
    value = _layered(count).values["singleSignOnServiceUrl"]
    assert value.text == text
    assert value.provenance.origin is origin
    assert value.provenance.location == location


def test_metadata_provenance_names_the_element() -> None:
    value = _layered(3).values["singleSignOnServiceUrl"]
    assert value.provenance.document == "tenants/contoso/litware-crm.xml"
    assert value.provenance.element == "SingleSignOnService"


def test_metadata_replaces_every_derived_endpoint_but_keeps_derived_ids() -> None:
    document = loaded(make_metadata("https://idp.example.com/saml", slo=[]))
    values = resolve_values(tenant(f"name: Contoso\ntenant_id: {TID}\n"), app(), document).values
    assert values["IssuerUri"].text == "https://idp.example.com/saml"
    assert values["IssuerUri"].provenance.origin is Origin.METADATA
    # The document has no SingleLogoutService: an Entra URL guessed from tenant_id would be
    # wrong for this IdP, so the key has no value (a template using it is an error).
    assert "singleSignOutServiceUrl" not in values
    assert "wsFederationSignInUrl" not in values
    assert values["tenantId"].provenance.origin is Origin.DERIVED
    assert values["changePasswordUrl"].provenance.origin is Origin.DERIVED


def test_tenant_values_beat_app_defaults_for_app_level_keys() -> None:
    text = (
        "name: Contoso\nmetadata:\n  DisplayName: Tenant name\n"
        "apps:\n  litware-crm:\n    metadata:\n      DisplayName: Entry name\n"
    )
    values = resolve_values(tenant(text), app(DisplayName=("Litware CRM", 3)), None).values
    assert values["DisplayName"].text == "Entry name"
    assert values["DisplayName"].provenance.origin is Origin.APP_ENTRY
    assert values["DisplayName"].provenance.location == Location(TENANT_PATH, 7, 20)
    other = App("tailspin-travel", Path("templates/tailspin-travel"), None, {})
    values = resolve_values(tenant(text), other, None).values
    assert values["DisplayName"].text == "Tenant name"
    assert values["DisplayName"].provenance.origin is Origin.TENANT_FILE
    assert values["DisplayName"].provenance.location == Location(TENANT_PATH, 3, 16)


# --- published files -----------------------------------------------------------------------


def test_certificate_and_metadata_files_are_published() -> None:
    der, cert = make_certificate("idp.example.com")
    data = make_metadata(certs=[(der, "signing")])
    values = resolve_values(tenant("name: Contoso\n"), app(), loaded(data))
    published = files(values)
    assert sorted(published) == [
        "litware-crm/federation-metadata.xml",
        "litware-crm/signing-certificate-raw.cer",
        "litware-crm/signing-certificate.cer",
    ]
    assert all(isinstance(f, PublishedFile) for f in values.files)
    assert published["litware-crm/federation-metadata.xml"] == data  # byte-exact copy
    assert published["litware-crm/signing-certificate-raw.cer"] == der
    pem = published["litware-crm/signing-certificate.cer"]
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert pem.endswith(b"-----END CERTIFICATE-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    assert x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER) == der

    v = values.values
    assert v["metadataDownloadUrl"].text == "federation-metadata.xml"
    assert v["metadataDownloadUrl"].site_path == "litware-crm/federation-metadata.xml"
    assert v["certificateDownloadBase64Url"].site_path == "litware-crm/signing-certificate.cer"
    assert v["CertificateDownloadRawUrl"].site_path == "litware-crm/signing-certificate-raw.cer"
    assert v["certificateThumbprint"].text == hashlib.sha1(der).hexdigest().upper()
    assert v["certificateThumbprint"].text == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert v["certificateExpiry"].text == cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    for key in ("metadataDownloadUrl", "certificateThumbprint", "certificateExpiry"):
        assert v[key].provenance.origin is Origin.METADATA
        assert v[key].provenance.location == Location(METADATA_PATH)


def test_primary_certificate_is_the_first_signing_certificate() -> None:
    first, _ = make_certificate("current.example.com")
    second, _ = make_certificate("next.example.com")
    data = make_metadata(certs=[(first, "signing"), (second, "signing")])
    values = resolve_values(tenant("name: Contoso\n"), app(), loaded(data))
    assert files(values)["litware-crm/signing-certificate-raw.cer"] == first
    assert values.values["certificateThumbprint"].text == hashlib.sha1(first).hexdigest().upper()


def test_metadata_without_signing_certificate_publishes_only_the_copy() -> None:
    encryption, _ = make_certificate("encryption.example.com")
    data = make_metadata(certs=[(encryption, "encryption")])
    values = resolve_values(tenant("name: Contoso\n"), app(), loaded(data))
    assert list(files(values)) == ["litware-crm/federation-metadata.xml"]
    assert "certificateThumbprint" not in values.values
    assert "certificateDownloadBase64Url" not in values.values


# --- with a real templates folder ----------------------------------------------------------


def test_app_defaults_from_app_yml(tmp_path: Path) -> None:
    (tmp_path / "_").mkdir()
    (tmp_path / "_" / "sso_configure.md").write_text(
        "# Set up %metadata:DisplayName%\n", encoding="utf-8"
    )
    folder = tmp_path / "litware-crm"
    folder.mkdir()
    (folder / "app.yml").write_text(
        "category: CRM\nmetadata:\n  DisplayName: Litware CRM\n"
        "  SignInUrlExample: https://yourcompany.litware.example/login\n",
        encoding="utf-8",
    )
    (tmp_path / "tailspin-travel").mkdir()
    (tmp_path / "tailspin-travel" / "sso_configure.md").write_text("# Tailspin\n", encoding="utf-8")
    templates = load_templates(tmp_path)
    litware = resolve_values(
        tenant(f"name: Contoso\ntenant_id: {TID}\n"), templates.apps["litware-crm"], None
    )
    display = litware.values["DisplayName"]
    assert display.text == "Litware CRM"
    assert display.provenance.origin is Origin.APP_DEFAULT
    assert display.provenance.location == Location(folder / "app.yml", 3, 3)
    assert litware.values["SignInUrlExample"].provenance.location == Location(
        folder / "app.yml", 4, 3
    )
    # Without app.yml the folder name is the DisplayName.
    tailspin = resolve_values(tenant("name: Contoso\n"), templates.apps["tailspin-travel"], None)
    assert tailspin.values["DisplayName"].text == "tailspin-travel"
    assert tailspin.values["DisplayName"].provenance.location == Location(
        tmp_path / "tailspin-travel"
    )
