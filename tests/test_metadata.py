"""Federation metadata: parse_metadata on generated documents and on real IdP documents."""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from idp import (
    ARTIFACT,
    ENTITY_ID,
    POST,
    REDIRECT,
    SLO_URL,
    SSO_URL,
    certificate_text,
    make_certificate,
    make_entity,
    make_metadata,
    make_negative_serial_certificate,
    wsfed_role,
)

from tenantdocs.certificates import serial_number, with_serial
from tenantdocs.errors import Location, MetadataError
from tenantdocs.metadata import DocumentProblem, IdpMetadata, parse_metadata

PATH = Path("metadata/idp.xml")
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "idp-metadata"


def parse(data: bytes, entity_id: str | None = None) -> IdpMetadata:
    return parse_metadata(data, PATH, entity_id)


def at(data: bytes, marker: str, occurrence: int = 0) -> str:
    """``line:column`` (1-based) where the ``occurrence``-th ``marker`` starts in ``data``."""
    index = -1
    for _ in range(occurrence + 1):
        index = data.index(marker.encode(), index + 1)
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    return f"{line}:{column}"


def expect_error(data: bytes, message: str, entity_id: str | None = None) -> None:
    """Parsing must fail with exactly one problem reading ``message``."""
    with pytest.raises(MetadataError) as info:
        parse_metadata(data, PATH, entity_id)
    assert [str(p) for p in info.value.problems] == [message]
    assert info.value.exit_code == 1


# --- values from the IDPSSODescriptor ------------------------------------------------------


def test_values_of_a_simple_idp() -> None:
    der, cert = make_certificate("idp.example.com")
    data = make_metadata(certs=[(der, "signing")])
    parsed = parse(data)
    assert parsed.entity_id == ENTITY_ID
    assert parsed.sso_url == SSO_URL
    assert parsed.slo_url == SLO_URL
    assert parsed.valid_until is None
    assert parsed.raw == data
    [signing] = parsed.signing_certificates
    assert signing.der == der
    assert signing.thumbprint == hashlib.sha1(der).hexdigest().upper()
    assert signing.sha256 == hashlib.sha256(der).hexdigest().upper()
    assert signing.subject == "CN=idp.example.com"
    assert signing.not_after == cert.not_valid_after_utc
    assert signing.not_before == cert.not_valid_before_utc


def test_redirect_binding_is_preferred_over_post() -> None:
    parsed = parse(
        make_metadata(
            sso=[
                (POST, "https://idp.example.com/post"),
                (REDIRECT, "https://idp.example.com/redir"),
            ],
            slo=[(POST, "https://idp.example.com/slo-post"), (REDIRECT, SLO_URL)],
        )
    )
    assert parsed.sso_url == "https://idp.example.com/redir"
    assert parsed.slo_url == SLO_URL


def test_post_binding_when_there_is_no_redirect() -> None:
    parsed = parse(
        make_metadata(
            sso=[(ARTIFACT, "https://idp.example.com/art"), (POST, "https://idp.example.com/post")],
            slo=[(POST, "https://idp.example.com/slo-post")],
        )
    )
    assert parsed.sso_url == "https://idp.example.com/post"
    assert parsed.slo_url == "https://idp.example.com/slo-post"


def test_other_bindings_only_give_no_value() -> None:
    parsed = parse(make_metadata(sso=[(ARTIFACT, "https://idp.example.com/art")], slo=[]))
    assert parsed.sso_url is None
    assert parsed.slo_url is None


def test_first_endpoint_of_a_binding_wins() -> None:
    parsed = parse(
        make_metadata(
            sso=[
                (REDIRECT, "https://idp.example.com/first"),
                (REDIRECT, "https://idp.example.com/2"),
            ]
        )
    )
    assert parsed.sso_url == "https://idp.example.com/first"


def test_endpoint_location_is_stripped() -> None:
    parsed = parse(make_metadata(sso=[(REDIRECT, "  https://idp.example.com/sso\n")]))
    assert parsed.sso_url == "https://idp.example.com/sso"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://idp.example.com/", "/saml/sso"])
def test_endpoint_must_be_an_http_url(url: str) -> None:
    # Located at the element, so `check` can show the line (issue: no line before).
    data = make_metadata(sso=[(REDIRECT, url)])
    expect_error(
        data,
        f"metadata/idp.xml:{at(data, '<md:SingleSignOnService')}: error: SingleSignOnService"
        " Location is not an http(s) URL",
    )


def test_endpoint_problem_names_its_line_in_a_multi_line_document() -> None:
    data = make_metadata(slo=[(POST, "https://idp.example.com/ok")], sso=[(POST, "ftp://x/")])
    data = data.replace(b"><", b">\n  <")
    assert at(data, "<md:SingleSignOnService").endswith(":3")
    expect_error(
        data,
        f"metadata/idp.xml:{at(data, '<md:SingleSignOnService')}: error: SingleSignOnService"
        " Location is not an http(s) URL",
    )


def test_wsfed_role_descriptors_are_ignored() -> None:
    saml_der, _ = make_certificate("saml.example.com")
    wsfed_der, _ = make_certificate("wsfed.example.com")
    parsed = parse(make_metadata(certs=[(saml_der, "signing")], wsfed=wsfed_role(wsfed_der)))
    assert [c.der for c in parsed.signing_certificates] == [saml_der]
    assert parsed.sso_url == SSO_URL


def test_sp_role_is_ignored() -> None:
    der, _ = make_certificate("idp.example.com")
    parsed = parse(make_metadata(certs=[(der, "signing")], slo=[], sp=True))
    assert [c.der for c in parsed.signing_certificates] == [der]
    assert parsed.slo_url is None  # the SP's SingleLogoutService is not the IdP's


def test_key_without_use_is_a_signing_key() -> None:
    der, _ = make_certificate("both.example.com")
    parsed = parse(make_metadata(certs=[(der, None)]))
    assert [c.der for c in parsed.signing_certificates] == [der]


def test_encryption_keys_are_ignored() -> None:
    signing, _ = make_certificate("signing.example.com")
    encryption, _ = make_certificate("encryption.example.com")
    parsed = parse(make_metadata(certs=[(encryption, "encryption"), (signing, "signing")]))
    assert [c.der for c in parsed.signing_certificates] == [signing]


def test_no_signing_certificate() -> None:
    encryption, _ = make_certificate("encryption.example.com")
    assert parse(make_metadata(certs=[(encryption, "encryption")])).signing_certificates == ()


def test_rollover_order_is_kept_and_duplicates_dropped() -> None:
    current, _ = make_certificate("current.example.com")
    next_, _ = make_certificate("next.example.com")
    parsed = parse(
        make_metadata(
            certs=[
                (current, "signing"),
                (next_, "signing"),
                (certificate_text(current, width=64), None),  # same cert, written differently
                (current, "signing"),
            ]
        )
    )
    assert [c.der for c in parsed.signing_certificates] == [current, next_]
    assert parsed.signing_certificates[0].subject == "CN=current.example.com"


def test_wrapped_certificate_text() -> None:
    der, _ = make_certificate("wrapped.example.com")
    text = certificate_text(der, width=64, indent="\t    ") + "  \r\n "
    assert "\n" in text
    parsed = parse(make_metadata(certs=[(text, "signing")]))
    assert [c.der for c in parsed.signing_certificates] == [der]


def test_base64_of_a_pem_text_is_unwrapped() -> None:
    der, cert = make_certificate("double.example.com")
    pem = cert.public_bytes(Encoding.PEM)
    text = base64.b64encode(pem).decode("ascii")
    assert text.startswith("LS0tLS1CRUdJTi")
    parsed = parse(make_metadata(certs=[(text, "signing")]))
    assert [c.der for c in parsed.signing_certificates] == [der]


def test_broken_pem_inside_base64() -> None:
    text = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n").decode("ascii")
    data = make_metadata(certs=[(text, "signing")])
    expect_error(
        data,
        f"metadata/idp.xml:{at(data, '<ds:X509Certificate')}: error: signing certificate of '{ENTITY_ID}': X509Certificate holds"
        " a broken PEM text",
    )


@pytest.mark.parametrize("text", ["not base64!", "MIIB*", "MIIBC"])
def test_invalid_base64_certificate(text: str) -> None:
    data = make_metadata(certs=[(text, "signing")])
    expect_error(
        data,
        f"metadata/idp.xml:{at(data, '<ds:X509Certificate')}: error: signing certificate of '{ENTITY_ID}': X509Certificate is not"
        " valid Base64",
    )


def test_invalid_encryption_certificate_is_not_read() -> None:
    parsed = parse(make_metadata(certs=[("not base64!", "encryption")]))
    assert parsed.signing_certificates == ()


def test_utf8_bom() -> None:
    data = b"\xef\xbb\xbf" + make_metadata()
    parsed = parse(data)
    assert parsed.entity_id == ENTITY_ID
    assert parsed.raw == data


def test_non_ascii_document() -> None:
    data = make_metadata("https://idp.example.com/münchen")
    assert parse(data).entity_id == "https://idp.example.com/münchen"


# --- which entity --------------------------------------------------------------------------


def _two_idps() -> bytes:
    return make_metadata(
        entities=[
            make_entity("https://b.example.com/idp", sso=[(REDIRECT, "https://b.example.com/sso")]),
            make_entity("https://sp.example.com/sp", idp=False, sp=True),
            make_entity("https://a.example.com/idp", sso=[(REDIRECT, "https://a.example.com/sso")]),
        ],
    )


def test_several_idps_need_entity_id() -> None:
    expect_error(
        _two_idps(),
        "metadata/idp.xml: error: metadata holds 2 identity providers; set 'entity_id' to one"
        " of: https://a.example.com/idp, https://b.example.com/idp",
    )


@pytest.mark.parametrize("host", ["a", "b"])
def test_entity_id_chooses_the_idp(host: str) -> None:
    parsed = parse(_two_idps(), f"https://{host}.example.com/idp")
    assert parsed.entity_id == f"https://{host}.example.com/idp"
    assert parsed.sso_url == f"https://{host}.example.com/sso"


def test_single_idp_among_sps_is_chosen_without_entity_id() -> None:
    data = make_metadata(
        entities=[make_entity("https://sp.example.com/sp", idp=False, sp=True), make_entity()]
    )
    assert parse(data).entity_id == ENTITY_ID


def test_sp_chosen_by_entity_id() -> None:
    data = _two_idps()
    expect_error(
        data,
        f"metadata/idp.xml:{at(data, '<md:EntityDescriptor', 1)}: error: entity"
        " 'https://sp.example.com/sp' is not an identity provider"
        " (no IDPSSODescriptor)",
        entity_id="https://sp.example.com/sp",
    )


def test_unknown_entity_id() -> None:
    expect_error(
        make_metadata(),
        "metadata/idp.xml: error: no entity with entityID 'https://other.example.com/' in the"
        " metadata",
        entity_id="https://other.example.com/",
    )


def test_document_without_idp() -> None:
    expect_error(
        make_metadata(entities=[make_entity("https://sp.example.com/sp", idp=False, sp=True)]),
        "metadata/idp.xml: error: metadata has no identity provider (no IDPSSODescriptor)",
    )


def test_other_xml_document() -> None:
    expect_error(
        b"<html><body><p>Sign in</p></body></html>",
        "metadata/idp.xml: error: metadata has no identity provider (no IDPSSODescriptor)",
    )


def test_nested_entities_descriptors_and_earliest_valid_until() -> None:
    inner = (
        '<md:EntitiesDescriptor validUntil="2030-01-02T00:00:00Z">'
        + make_entity(valid_until="2031-01-01T00:00:00Z")
        + "</md:EntitiesDescriptor>"
    )
    parsed = parse(make_metadata(entities=[inner], valid_until="2032-06-01T12:00:00Z"))
    assert parsed.entity_id == ENTITY_ID
    assert parsed.valid_until == datetime(2030, 1, 2, tzinfo=UTC)


def test_valid_until_of_the_entity() -> None:
    parsed = parse(make_metadata(valid_until="2031-05-06T07:08:09.5Z"))
    assert parsed.valid_until == datetime(2031, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)


def test_bad_valid_until() -> None:
    expect_error(
        make_metadata(valid_until="tomorrow"),
        "metadata/idp.xml:2:1: error: validUntil 'tomorrow' is not a date-time",
    )


@pytest.mark.parametrize(
    "entity_id",
    ["https://sts.windows.net/{tenantid}/", "https://sts.windows.net/{TenantID}/"],
)
def test_common_endpoint_entity_id_is_refused(entity_id: str) -> None:
    expect_error(
        make_metadata(entity_id),
        f"metadata/idp.xml:2:1: error: entityID '{entity_id}' is the multi-tenant 'common'"
        " endpoint; use the tenant's own metadata",
    )


@pytest.mark.parametrize(
    "entity_id",
    ["https://idp.example.com/`<img src=x onerror=alert(1)>`", "https://idp.example.com/<b>"],
)
def test_entity_id_with_markup_is_refused(entity_id: str) -> None:
    # The entityID is written into pages as IssuerUri; untrusted metadata must not inject HTML.
    expect_error(
        make_metadata(entity_id),
        "metadata/idp.xml:2:1: error: entityID is not usable: value contains a control character,"
        " '<', '>' or '`'",
    )


def test_entity_without_entity_id() -> None:
    expect_error(
        make_metadata("   "), "metadata/idp.xml:2:1: error: EntityDescriptor has no entityID"
    )


# --- certificates RFC 5280 forbids, which real IdPs publish ---------------------------------


def test_library_refuses_a_negative_serial_when_warnings_are_errors() -> None:
    # What the guard below is for: handed to cryptography as it is, such a certificate is a
    # raw CryptographyDeprecationWarning today and an exception in a future release.
    der = make_negative_serial_certificate("neg.example.com")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises((CryptographyDeprecationWarning, ValueError)):
            x509.load_der_x509_certificate(der)


@pytest.mark.filterwarnings("error")
def test_negative_serial_certificate_is_published_with_our_own_warning() -> None:
    der = make_negative_serial_certificate("neg.example.com")
    _, regular = make_certificate("neg.example.com")
    data = make_metadata(certs=[(der, "signing")]).replace(
        b"<md:KeyDescriptor", b"\n<md:KeyDescriptor"
    )
    parsed = parse(data)
    [cert] = parsed.signing_certificates
    assert cert.der == der  # the bytes as published, not the repaired copy
    assert cert.thumbprint == hashlib.sha1(der).hexdigest().upper()
    assert cert.sha256 == hashlib.sha256(der).hexdigest().upper()
    assert cert.pem() == ssl.DER_cert_to_PEM_cert(der)
    assert base64.b64decode("".join(cert.pem().splitlines()[1:-1])) == der
    assert cert.subject == "CN=neg.example.com"
    # make_certificate's validity: the same day, so the same dates as a regular one.
    assert (cert.not_before, cert.not_after) == (
        regular.not_valid_before_utc,
        regular.not_valid_after_utc,
    )
    assert not cert.positive_serial
    assert parsed.notes == (
        DocumentProblem(
            "signing certificate 'CN=neg.example.com' (thumbprint"
            f" {cert.thumbprint}) has a negative or zero serial number, which RFC 5280 forbids"
            " and some SAML software refuses; published as it is",
            *map(int, at(data, "<ds:X509Certificate").split(":")),
        ),
    )


@pytest.mark.filterwarnings("error")
def test_zero_serial_is_noted_too() -> None:
    der = make_negative_serial_certificate("zero.example.com", serial=b"\x00")
    parsed = parse(make_metadata(certs=[(der, "signing")]))
    assert parsed.signing_certificates[0].der == der
    assert len(parsed.notes) == 1


def test_regular_certificate_uses_the_librarys_own_encodings() -> None:
    der, cert = make_certificate("idp.example.com")
    [signing] = parse(make_metadata(certs=[(der, "signing")])).signing_certificates
    assert signing.positive_serial
    assert signing.pem() == cert.public_bytes(Encoding.PEM).decode("ascii")
    assert signing.thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()


def test_serial_repair_keeps_everything_but_the_serial() -> None:
    der = make_negative_serial_certificate("neg.example.com")
    assert serial_number(der) == b"\xb0\x01\x02\x03"
    repaired = with_serial(der, b"\x01")
    assert serial_number(repaired) == b"\x01"
    assert len(repaired) == len(der) - 3
    assert serial_number(b"\x30\x03\x02\x01") is None  # cut short: left to the library


# --- hostile or broken documents -----------------------------------------------------------


def test_doctype_is_refused() -> None:
    data = make_metadata().replace(
        b"\n<md:", b'\n<!DOCTYPE md:EntityDescriptor SYSTEM "x.dtd">\n<md:', 1
    )
    expect_error(
        data, "metadata/idp.xml:2: error: metadata must not contain a DOCTYPE (DTDs are refused)"
    )


def test_external_entity_is_refused() -> None:
    data = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        b' entityID="&xxe;"/>\n'
    )
    expect_error(
        data, "metadata/idp.xml:2: error: metadata must not contain a DOCTYPE (DTDs are refused)"
    )


def test_billion_laughs_is_refused_quickly() -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    data = (
        '<?xml version="1.0"?>\n<!DOCTYPE md [' + "".join(entities) + "]>\n"
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        ' entityID="&lol9;"/>\n'
    ).encode()
    started = time.perf_counter()
    expect_error(
        data, "metadata/idp.xml:2: error: metadata must not contain a DOCTYPE (DTDs are refused)"
    )
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "metadata/idp.xml:1:1: error: metadata is not well-formed XML: no element found"),
        (b"not xml", "metadata/idp.xml:1:1: error: metadata is not well-formed XML: syntax error"),
        (
            b"<html>\n<body>\n<p>Sign in\n</body>\n</html>",
            "metadata/idp.xml:4:3: error: metadata is not well-formed XML: mismatched tag",
        ),
        (
            b'<md:EntityDescriptor entityID="x"/>',
            "metadata/idp.xml:1:1: error: metadata is not well-formed XML: unbound prefix",
        ),
        (
            b'<?xml version="1.0"?>\n<a>\n  <b x="1" x="2"/>\n</a>',
            "metadata/idp.xml:3:12: error: metadata is not well-formed XML: duplicate attribute",
        ),
    ],
)
def test_not_xml_is_located(data: bytes, message: str) -> None:
    expect_error(data, message)


def test_too_large_document() -> None:
    data = make_metadata() + b"<!--" + b"x" * (5 * 1024 * 1024) + b"-->"
    expect_error(data, "metadata/idp.xml: error: metadata is larger than 5242880 bytes")


def test_error_location_is_the_path_given() -> None:
    with pytest.raises(MetadataError) as info:
        parse_metadata(b"<", Path("https://idp.example.com/md"))
    assert info.value.problems[0].location == Location(Path("https://idp.example.com/md"), 1, 1)


# --- real documents ------------------------------------------------------------------------


def corpus(name: str) -> tuple[bytes, Path]:
    """A real metadata document from ../shared/corpus, or skip when the corpus is absent."""
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path.read_bytes(), Path(name)


def expect_corpus_error(name: str, message: str, entity_id: str | None = None) -> None:
    data, path = corpus(name)
    with pytest.raises(MetadataError) as info:
        parse_metadata(data, path, entity_id)
    assert [str(p) for p in info.value.problems] == [message]


def test_real_azure_common_document_is_refused() -> None:
    expect_corpus_error(
        "azure-ad-common-federationmetadata.xml",
        "azure-ad-common-federationmetadata.xml:1:39: error: entityID"
        " 'https://sts.windows.net/{tenantid}/' is the multi-tenant 'common' endpoint; use the"
        " tenant's own metadata",
    )


def test_real_adfs_document() -> None:
    data, path = corpus("adfs-v2-federationmetadata.xml")
    parsed = parse_metadata(data, path)
    assert parsed.entity_id == "http://fs.msidlab7.com/adfs/services/trust"
    assert parsed.sso_url == "https://fs.msidlab7.com/adfs/ls/"
    assert parsed.slo_url == "https://fs.msidlab7.com/adfs/ls/"
    [signing] = parsed.signing_certificates
    assert signing.subject == "CN=ADFS Signing - fs.msidlab7.com"  # not the encryption cert
    assert signing.not_after == datetime(2017, 12, 3, 2, 36, 10, tzinfo=UTC)
    assert parsed.raw == data


def test_real_shibboleth_document() -> None:
    data, path = corpus("shibboleth-idp-metadata.xml")
    parsed = parse_metadata(data, path)
    assert parsed.entity_id == "https://idp.msidlab13.com/idp/shibboleth"
    assert parsed.sso_url == "https://idp.msidlab13.com/idp/profile/SAML2/Redirect/SSO"
    assert parsed.slo_url is None
    [signing] = parsed.signing_certificates  # its KeyDescriptor has no `use`
    assert signing.subject == "CN=*.msidlab13.com,O=Shane Oatman,L=Redmond,ST=WA,C=US"
    assert parsed.valid_until is None


def test_real_testshib_document_idp_and_sp() -> None:
    data, path = corpus("testshib-providers.xml")
    idp = "https://idp.testshib.org/idp/shibboleth"
    # One IdP and one SP: the IdP is the only candidate, with or without entity_id.
    for entity_id in (None, idp):
        parsed = parse_metadata(data, path, entity_id)
        assert parsed.entity_id == idp
        assert parsed.sso_url == "https://idp.testshib.org/idp/profile/SAML2/Redirect/SSO"
        assert parsed.slo_url is None
        assert [c.subject for c in parsed.signing_certificates] == ["CN=idp.testshib.org"]
    expect_corpus_error(
        "testshib-providers.xml",
        "testshib-providers.xml:157:5: error: entity 'https://sp.testshib.org/shibboleth-sp' is"
        " not an"
        " identity provider (no IDPSSODescriptor)",
        entity_id="https://sp.testshib.org/shibboleth-sp",
    )


@pytest.mark.filterwarnings("error")
def test_real_onelogin_document_with_a_repeated_certificate() -> None:
    # One of OneLogin's certificates has a negative serial number: our own note, no raw
    # library warning (warnings are errors here).
    data, path = corpus("onelogin-idp-multi-signing-certs.xml")
    parsed = parse_metadata(data, path)
    assert [(n.line, n.column) for n in parsed.notes] == [(37, 11)]
    assert "has a negative or zero serial number" in parsed.notes[0].message
    assert parsed.entity_id == "https://idp.examle.com/saml/metadata"
    assert parsed.sso_url == "https://idp.examle.com/saml/sso"
    assert parsed.slo_url == "https://idp.examle.com/saml/slo"
    assert [c.subject for c in parsed.signing_certificates] == [
        "CN=OneLogin Account 89146,OU=OneLogin IdP,O=OneLogin Test (sgarcia-us-preprod),C=US",
        "CN=example.com,O=example.com,ST=example.com,C=us",
    ]


def test_real_multi_idp_document() -> None:
    expect_corpus_error(
        "multi-idp-entitiesdescriptor-validuntil.xml",
        "multi-idp-entitiesdescriptor-validuntil.xml: error: metadata holds 2 identity providers;"
        " set 'entity_id' to one of: https://bar.example.com/access/saml/idp.xml,"
        " https://foo.example.com/access/saml/idp.xml",
    )
    data, path = corpus("multi-idp-entitiesdescriptor-validuntil.xml")
    for host in ("foo", "bar"):
        entity_id = f"https://{host}.example.com/access/saml/idp.xml"
        parsed = parse_metadata(data, path, entity_id)
        assert parsed.entity_id == entity_id
        assert parsed.sso_url == "https://hello.example.com/access/saml/login"
        assert parsed.slo_url == "https://hello.example.com/access/saml/logout"
        # validUntil expired in 2014; enforcing it is a later feature, parsing it is not.
        assert parsed.valid_until == datetime(2014, 4, 17, 18, 2, 33, 910000, tzinfo=UTC)
        [signing] = parsed.signing_certificates  # double-encoded (Base64 of PEM), unwrapped
        assert "CN=lawrencepit.com" in signing.subject
        assert signing.not_after == datetime(2032, 4, 14, 22, 54, 18, tzinfo=UTC)
        assert signing.der.startswith(b"\x30\x82")  # DER, not PEM text
