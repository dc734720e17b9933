"""Write SAML 2.0 IdP federation metadata for the sample tenants in tenants/."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)

DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "tenants"

CONTOSO_TENANT_ID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
CONTOSO_APPS = (
    "litware-crm",
    "tailspin-travel",
    "wingtip-tickets",
    "adventure-works-learning",
)


@dataclass(frozen=True)
class IdpDocument:
    """One metadata document to write: where, for which IdP, with which cert CN."""

    path: str
    entity_id: str
    sso_url: str
    slo_url: str
    common_name: str


def sample_documents() -> list[IdpDocument]:
    """Return the metadata documents of the sample tenants, paths relative to tenants/."""
    entra_saml = f"https://login.microsoftonline.com/{CONTOSO_TENANT_ID}/saml2"
    docs = [
        IdpDocument(
            path=f"contoso/{app}.xml",
            entity_id=f"https://sts.windows.net/{CONTOSO_TENANT_ID}/",
            sso_url=entra_saml,
            slo_url=entra_saml,
            common_name="Microsoft Azure Federated SSO Certificate",
        )
        for app in CONTOSO_APPS
    ]
    keycloak_saml = "https://idp.fabrikam.example/realms/fabrikam/protocol/saml"
    docs.append(
        IdpDocument(
            path="fabrikam/idp-metadata.xml",
            entity_id="https://idp.fabrikam.example/realms/fabrikam",
            sso_url=keycloak_saml,
            slo_url=keycloak_saml,
            common_name="fabrikam",
        )
    )
    return docs


def make_certificate(common_name: str) -> x509.Certificate:
    """Create a self-signed RSA-2048 signing certificate valid 2026-01-01 to 2036-01-01 UTC."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def metadata_xml(doc: IdpDocument, cert: x509.Certificate) -> str:
    """Return the pretty-printed metadata document, with XML declaration."""
    md = f"{{{MD_NS}}}"
    ds = f"{{{DS_NS}}}"
    root = ET.Element(f"{md}EntityDescriptor", {"entityID": doc.entity_id})
    idp = ET.SubElement(root, f"{md}IDPSSODescriptor", {"protocolSupportEnumeration": PROTOCOL})
    key_descriptor = ET.SubElement(idp, f"{md}KeyDescriptor", {"use": "signing"})
    key_info = ET.SubElement(key_descriptor, f"{ds}KeyInfo")
    x509_data = ET.SubElement(key_info, f"{ds}X509Data")
    der = cert.public_bytes(serialization.Encoding.DER)
    ET.SubElement(x509_data, f"{ds}X509Certificate").text = base64.b64encode(der).decode("ascii")
    ET.SubElement(
        idp,
        f"{md}SingleLogoutService",
        {"Binding": BINDING_REDIRECT, "Location": doc.slo_url},
    )
    for binding in (BINDING_REDIRECT, BINDING_POST):
        ET.SubElement(
            idp,
            f"{md}SingleSignOnService",
            {"Binding": binding, "Location": doc.sso_url},
        )
    ET.indent(root, space="  ")
    ET.register_namespace("md", MD_NS)
    ET.register_namespace("ds", DS_NS)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def write_sample_metadata(out_dir: Path) -> list[Path]:
    """Write every sample document under out_dir, each with a fresh certificate."""
    written = []
    for doc in sample_documents():
        target = out_dir / doc.path
        target.parent.mkdir(parents=True, exist_ok=True)
        xml = metadata_xml(doc, make_certificate(doc.common_name))
        target.write_text(xml, encoding="utf-8", newline="\n")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the documents and list them on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="tenants directory to write into (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    for path in write_sample_metadata(args.out_dir):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
