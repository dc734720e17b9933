"""End to end: `build` and `refresh` with tenants whose metadata is fetched from a loopback server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from idp import (
    ENTITY_ID,
    POST,
    SSO_URL,
    make_certificate,
    make_metadata,
    make_negative_serial_certificate,
)
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tenantdocs import cache
from tenantdocs.certificates import load_certificate
from tenantdocs.cli import main
from tenantdocs.fetch import LOOPBACK_ENV, TIMEOUT_ENV

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "idp-metadata"
GUIDE = """\
# Demo

1. Sign-on URL: %metadata:singleSignOnServiceUrl%
2. Identifier: %metadata:IssuerUri%
3. [Download the signing certificate](%metadata:certificateDownloadBase64Url%),
   thumbprint %metadata:certificateThumbprint%.
"""
URL_AT = "tenants/acme.yml:2:15"  # where `metadata_url:` puts its value in write_tenant()
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One app with a guide, an empty tenants folder; the working directory."""
    (tmp_path / "templates" / "demo").mkdir(parents=True)
    (tmp_path / "templates" / "demo" / "sso_configure.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "tenants").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    return tmp_path


def write_tenant(slug: str, url: str, *more: str) -> None:
    text = "\n".join([f"name: {slug.title()}", f"metadata_url: {url}", *more, ""])
    Path("tenants", f"{slug}.yml").write_text(text, encoding="utf-8")


def build(*args: str) -> int:
    return main(["build", "--jobs", "1", *args])


def output(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    """Lines written to stdout and stderr since the last call."""
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


def report(path: str = "report.json") -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/metadata.xml"


class Idp:
    """What the loopback server publishes; switch ``document`` to roll a change out."""

    def __init__(self, document: bytes) -> None:
        self.document = document

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.document).hexdigest()[:12] + '"'

    def handler(self, request: Request) -> Response:
        if request.headers.get("If-None-Match") == self.etag:
            return Response(status=304, headers={"ETag": self.etag})
        return Response(self.document, headers={"ETag": self.etag})


def serve(server: HTTPServer, document: bytes, path: str = "/metadata.xml") -> tuple[Idp, str]:
    idp = Idp(document)
    server.expect_request(path).respond_with_handler(idp.handler)
    return idp, server.url_for(path)


def cert(cn: str, *, expired: bool = False) -> tuple[bytes, str]:
    """DER bytes and SHA-256 fingerprint of a new certificate, valid now unless ``expired``."""
    now = datetime.now(UTC)
    if expired:
        der, _ = make_certificate(
            cn, not_before=now - timedelta(days=400), not_after=now - timedelta(days=30)
        )
    else:
        der, _ = make_certificate(cn)
    return der, load_certificate(b64(der)).sha256


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


# --- build -------------------------------------------------------------------------------


def test_build_publishes_fetched_values_and_reuses_them_on_304(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = cert("old.example.com", expired=True)
    new, _ = cert("new.example.com")
    body = make_metadata(certs=[(old, "signing"), (new, "signing")])
    idp, url = serve(httpserver, body)
    write_tenant("acme", url)

    assert build("--report", "report.json") == 0
    out, err = output(capsys)
    assert err == []
    assert report()["tenants"][0]["status"] == "built"
    assert report()["tenants"][0]["warnings"] == []
    app = project / "site" / "acme" / "demo"
    page = (app / "index.html").read_text(encoding="utf-8")
    primary = load_certificate(b64(new))
    assert SSO_URL in page and ENTITY_ID in page
    # Key rollover: the certificate valid now is the one the guide names and publishes,
    # not the first one listed.
    assert re.findall(r"thumbprint\s*<code[^>]*>([0-9A-F]{40})</code>", page) == [
        primary.thumbprint
    ]
    assert (app / "signing-certificate.cer").read_text(encoding="ascii") == primary.pem()
    assert (app / "signing-certificate-raw.cer").read_bytes() == primary.der
    # The other (expired) signing certificate is published too, numbered, and linked.
    other = load_certificate(b64(old))
    assert (app / "signing-certificate-2.cer").read_text(encoding="ascii") == other.pem()
    assert (app / "signing-certificate-2-raw.cer").read_bytes() == other.der
    assert 'href="signing-certificate-2.cer"' in page
    assert (app / "federation-metadata.xml").read_bytes() == body

    before = {p.name: p.read_bytes() for p in app.iterdir() if p.suffix in (".cer", ".xml")}
    assert build() == 0  # nothing changed: the server answers 304 and the cached copy is used
    first, second = (request for request, _ in httpserver.log)
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == idp.etag
    assert {p.name: p.read_bytes() for p in app.iterdir() if p.suffix in (".cer", ".xml")} == before

    # The IdP now publishes only an expired certificate: the build fails, the site stays.
    idp.document = make_metadata(certs=[(old, "signing")])
    published = (app / "signing-certificate.cer").read_bytes()
    capsys.readouterr()
    assert build() == 1
    out, err = output(capsys)
    expiry = load_certificate(b64(old)).not_after
    assert err == [
        f"{URL_AT}: error: every signing certificate in the metadata has expired"
        f" (latest on {expiry:%Y-%m-%d}); publish anyway with 'allow_expired_certificate: true'"
    ]
    assert out[0] == "acme: failed (previous site kept)"
    assert (app / "signing-certificate.cer").read_bytes() == published


def test_parallel_build_plans_every_tenant_with_its_fetched_values(
    project: Path, httpserver: HTTPServer
) -> None:
    # Defence: the workers that plan tenants are forked only after every fetch has ended
    # (MetadataLoader.settle); forked mid-fetch, they waited forever for an answer.
    for number in range(4):
        body = make_metadata(entity_id=f"https://idp.example.com/{number}/")

        def slow(request: Request, body: bytes = body) -> Response:
            time.sleep(0.3)  # still in flight when the workers would start
            return Response(body, content_type="application/xml")

        httpserver.expect_request(f"/t{number}.xml").respond_with_handler(slow)
        write_tenant(f"t{number}", httpserver.url_for(f"/t{number}.xml"))
    with subprocess.Popen(
        [sys.executable, "-m", "tenantdocs", "build", "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its worker processes too are stopped if it hangs
    ) as child:
        try:
            _, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            pytest.fail("the parallel build hung")
    assert (child.returncode, err) == (0, "")
    for number in range(4):
        page = (project / "site" / f"t{number}" / "demo" / "index.html").read_text()
        assert f"https://idp.example.com/{number}/" in page


def test_server_down_without_a_cached_copy_fails_the_tenant(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = closed_port_url()
    write_tenant("acme", url)
    assert build("--report", "report.json") == 1
    _, err = output(capsys)
    [line] = err
    expected = (
        f"{re.escape(URL_AT)}: error: cannot fetch metadata from {re.escape(url)}:"
        r" cannot connect \(.*Connection refused\); no cached copy to fall back on"
    )
    assert re.fullmatch(expected, line), line
    [tenant] = report()["tenants"]
    assert (tenant["status"], tenant["reason"]) == ("failed", "previous site kept")
    assert [e["text"] for e in tenant["errors"]] == [line]
    assert not (project / "site" / "acme").exists()


def test_server_down_falls_back_to_the_cached_copy_and_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = make_metadata()
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        _, url = serve(server, body)
        write_tenant("acme", url)
        assert main(["refresh"]) == 0
    finally:
        server.stop()  # the same URL now refuses connections
    out, _ = output(capsys)
    assert out == ["acme/demo: changed: document: first fetch", "changed tenants: acme"]
    entry, _ = cache.read_entry(Path(".cache"), url) or pytest.fail("refresh cached nothing")

    assert build("--report", "report.json") == 0
    _, err = output(capsys)
    [line] = err
    expected = (
        f"{re.escape(URL_AT)}: warning: cannot fetch metadata from {re.escape(url)}:"
        r" cannot connect \(.*Connection refused\); using the cached copy from "
        + re.escape(entry.fetched_at)
    )
    assert re.fullmatch(expected, line), line
    [tenant] = report()["tenants"]
    assert tenant["status"] == "built"
    assert [w["text"] for w in tenant["warnings"]] == [line]
    assert (project / "site" / "acme" / "demo" / "federation-metadata.xml").read_bytes() == body

    # --offline does not even try, so there is nothing to warn about.
    assert build("--offline", "--report", "report.json") == 0
    assert output(capsys)[1] == []
    assert report()["tenants"][0]["status"] == "unchanged"


def test_metadata_confirmed_unchanged_does_not_rebuild_the_tenant(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    body = make_metadata()
    idp, url = serve(httpserver, body)
    write_tenant("acme", url)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    entry = cache.CacheEntry(url, yesterday, hashlib.sha256(body).hexdigest(), etag=idp.etag)
    cache.write_entry(Path(".cache"), entry, body)
    assert build("--offline") == 0  # yesterday's build, from yesterday's fetch
    assert build("--report", "report.json") == 0  # today: the server confirms it (304)
    [(_, response)] = httpserver.log
    assert response.status_code == 304
    # A metadata URL is always fetched (here a 304) and the tenant rendered; its pages are
    # the same, so it is not rebuilt.
    assert report()["tenants"][0]["reason"] == "pages unchanged"
    assert report()["tenants"][0]["status"] == "unchanged"


def test_offline_app_id_source(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tid = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
    app_id = "3f6c2a1e-8b4d-4e7a-9c21-5d0b7e9a4c11"
    url = (
        f"https://login.microsoftonline.com/{tid}/federationmetadata/2007-06/"
        f"federationmetadata.xml?appid={app_id}"
    )
    Path("tenants/acme.yml").write_text(
        f"name: Acme\ntenant_id: {tid}\napps:\n  demo:\n    app_id: {app_id}\n", encoding="utf-8"
    )
    assert build("--offline", "--report", "report.json") == 1
    _, err = output(capsys)
    assert err == [
        f"tenants/acme.yml:5:13: error: no cached metadata for {url} (--offline);"
        " build or refresh once with network access"
    ]
    assert report()["tenants"][0]["errors"][0]["line"] == 5

    body = make_metadata(entity_id=f"https://sts.windows.net/{tid}/")
    entry = cache.CacheEntry(
        url, datetime.now(UTC).isoformat(timespec="seconds"), hashlib.sha256(body).hexdigest()
    )
    cache.write_entry(Path(".cache"), entry, body)
    assert build("--offline") == 0
    assert output(capsys)[1] == []
    page = (project / "site" / "acme" / "demo" / "index.html").read_text(encoding="utf-8")
    assert f"https://sts.windows.net/{tid}/" in page


def test_plain_http_is_refused_without_the_test_switch(
    project: Path,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(LOOPBACK_ENV)
    _, url = serve(httpserver, make_metadata())
    write_tenant("acme", url)
    assert build() == 1
    assert output(capsys)[1] == [
        f"{URL_AT}: error: cannot fetch metadata from {url}: refusing '{url}': metadata must be"
        " fetched over https://; no cached copy to fall back on"
    ]
    assert httpserver.log == []


# --- refresh -----------------------------------------------------------------------------


def test_refresh_reports_what_changed_for_each_tenant_and_app(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cert_a, sha_a = cert("a.example.com")
    cert_b, sha_b = cert("b.example.com")
    acme, acme_url = serve(httpserver, make_metadata(certs=[(cert_a, "signing")]), "/acme.xml")
    _, globex_url = serve(
        httpserver, make_metadata(entity_id="https://globex.example/idp"), "/g.xml"
    )
    write_tenant("acme", acme_url)
    write_tenant("globex", globex_url)

    assert main(["refresh"]) == 0
    assert output(capsys) == (
        [
            "acme/demo: changed: document: first fetch",
            "globex/demo: changed: document: first fetch",
            "changed tenants: acme globex",
        ],
        [],
    )

    assert main(["refresh", "--report", "report.json"]) == 0  # both answer 304
    assert output(capsys) == (
        ["acme/demo: unchanged", "globex/demo: unchanged", "changed tenants: (none)"],
        [],
    )
    assert [app["fetch"] for app in report()["apps"]] == ["not modified", "not modified"]

    # Acme's IdP rolls its key over and moves its sign-on endpoint.
    acme.document = make_metadata(
        certs=[(cert_b, "signing"), (cert_a, "signing")],
        sso=[(POST, "https://idp.example.com/saml/post")],
    )
    assert main(["refresh", "--report", "report.json"]) == 0
    assert output(capsys) == (
        [
            f"acme/demo: changed: singleSignOnServiceUrl: {SSO_URL} ->"
            f" https://idp.example.com/saml/post; signing certificates: {sha_a} -> {sha_b}, {sha_a}",
            "globex/demo: unchanged",
            "changed tenants: acme",
        ],
        [],
    )
    data = report()
    assert (data["command"], data["exit_code"], data["changed_tenants"]) == ("refresh", 0, ["acme"])
    acme_app, globex_app = data["apps"]
    assert re.fullmatch(TIME, acme_app.pop("fetched_at"))
    assert acme_app == {
        "tenant": "acme",
        "app": "demo",
        "url": acme_url,
        "status": "changed",
        "fetch": "fetched",
        "changes": [
            {
                "key": "singleSignOnServiceUrl",
                "old": SSO_URL,
                "new": "https://idp.example.com/saml/post",
            },
            {"key": "signing certificates", "old": sha_a, "new": f"{sha_b}, {sha_a}"},
        ],
        "errors": [],
        "warnings": [],
    }
    assert (globex_app["status"], globex_app["changes"]) == ("unchanged", [])
    assert data["invalid_tenants"] == []

    # A broken answer does not replace the good copy; the failure is reported, never silent.
    acme.document = b"<html><body>Sign in to continue</body></html>\n<p>"
    assert main(["refresh", "--report", "report.json", "--tenant", "acme"]) == 1
    out, err = output(capsys)
    assert out == ["acme/demo: failed", "changed tenants: (none)"]
    [line] = err
    assert re.fullmatch(
        f"{re.escape(URL_AT)}: warning: cannot fetch metadata from {re.escape(acme_url)}:"
        " the document at line 2: metadata is not well-formed XML:"
        f" junk after document element; using the cached copy from {TIME}",
        line,
    ), line
    [acme_app] = report()["apps"]
    assert (acme_app["status"], acme_app["fetch"]) == ("failed", "stale")
    assert [w["text"] for w in acme_app["warnings"]] == [line]


def test_refresh_failures_and_invalid_tenants(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=404)
    url = httpserver.url_for("/gone.xml")
    write_tenant("acme", url)
    Path("tenants/broken.yml").write_text("name: Broken\nmetadata_urll: x\n", encoding="utf-8")
    Path("tenants/local.yml").write_text("name: Local\n", encoding="utf-8")  # nothing to fetch

    assert main(["refresh", "--report", "report.json"]) == 1
    out, err = output(capsys)
    assert out == ["acme/demo: failed", "changed tenants: (none)"]
    assert err == [
        "tenants/broken.yml:2:1: error: unknown key 'metadata_urll' in tenant file"
        " (did you mean 'metadata_url'?)",
        f"{URL_AT}: error: cannot fetch metadata from {url}: HTTP 404 NOT FOUND;"
        " no cached copy to fall back on",
    ]
    data = report()
    assert data["exit_code"] == 1
    [app] = data["apps"]
    assert (app["tenant"], app["status"], app["fetch"], app["fetched_at"]) == (
        "acme",
        "failed",
        "",
        "",
    )
    assert [e["text"] for e in app["errors"]] == [err[1]]
    assert [t["slug"] for t in data["invalid_tenants"]] == ["broken"]


def test_unknown_tenant_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tenant("acme", "https://idp.example.com/metadata")
    assert main(["refresh", "--tenant", "acme2"]) == 2
    assert output(capsys)[1] == [
        "tenants: error: no tenant 'acme2' (no acme2.yml here) (did you mean 'acme'?)"
    ]


# --- real documents ----------------------------------------------------------------------


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path.read_bytes()


def test_real_documents_end_to_end(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = {
        name: corpus(f"{name}.xml")
        for name in (
            "adfs-v2-federationmetadata",
            "azure-ad-common-federationmetadata",
            "multi-idp-entitiesdescriptor-validuntil",
            "onelogin-idp-multi-signing-certs",
            "shibboleth-idp-metadata",
            "testshib-providers",
        )
    }
    urls = {name: serve(httpserver, data, f"/{name}.xml")[1] for name, data in documents.items()}
    expired_ok = "allow_expired_certificate: true"
    foo = "https://foo.example.com/access/saml/idp.xml"
    tenants: dict[str, tuple[str, ...]] = {
        "adfs": ("adfs-v2-federationmetadata", expired_ok),
        "azure": ("azure-ad-common-federationmetadata", expired_ok),
        "multi": ("multi-idp-entitiesdescriptor-validuntil",),
        "multi-foo": ("multi-idp-entitiesdescriptor-validuntil", f"entity_id: {foo}"),
        "onelogin": ("onelogin-idp-multi-signing-certs", expired_ok),
        "onelogin-strict": ("onelogin-idp-multi-signing-certs",),
        "shibboleth": ("shibboleth-idp-metadata", expired_ok),
        "testshib": ("testshib-providers",),
    }
    for slug, (name, *more) in tenants.items():
        write_tenant(slug, urls[name], *more)

    assert main(["check", "--report", "report.json"]) == 1
    out, err = output(capsys)
    assert out[-1] == "checked 8 tenants: 4 errors, 1 warnings"
    # `check` shows the tenant file line naming the URL under each error.
    for slug in ("azure", "multi", "multi-foo", "onelogin-strict"):
        url = urls[tenants[slug][0]]
        index = next(i for i, line in enumerate(err) if line.startswith(f"tenants/{slug}.yml:"))
        assert err[index + 1 : index + 3] == [f"    metadata_url: {url}", " " * 18 + "^"]
    err = [line for line in err if not line.startswith("    ")]
    azure, multi = (
        urls["azure-ad-common-federationmetadata"],
        urls["multi-idp-entitiesdescriptor-validuntil"],
    )
    onelogin = urls["onelogin-idp-multi-signing-certs"]
    assert err == [
        f"tenants/azure.yml:2:15: error: cannot fetch metadata from {azure}: the document at"
        " line 1: entityID 'https://sts.windows.net/{tenantid}/' is the multi-tenant 'common'"
        " endpoint; use the tenant's own metadata; no cached copy to fall back on",
        f"tenants/multi.yml:2:15: error: cannot fetch metadata from {multi}: metadata holds 2 identity providers; set 'entity_id' to one of:"
        f" https://bar.example.com/access/saml/idp.xml, {foo}; no cached copy to fall back on",
        "tenants/multi-foo.yml:2:15: error: metadata expired: validUntil is"
        " 2014-04-17T18:02:33.910000+00:00",
        # A certificate with a negative serial number: our own located warning, published.
        f"tenants/onelogin.yml:2:15: warning: metadata from {onelogin} at line 37: signing"
        " certificate 'CN=example.com,O=example.com,ST=example.com,C=us' (thumbprint"
        " B3914C17050236528FB121540ACB58A5407E1D1D) has a negative or zero serial number,"
        " which RFC 5280 forbids and some SAML software refuses; published as it is",
        "tenants/onelogin-strict.yml:2:15: error: every signing certificate in the metadata has"
        " expired (latest on 2021-08-05); publish anyway with 'allow_expired_certificate: true'",
    ]
    statuses = {t["slug"]: t["status"] for t in report()["tenants"]}
    assert statuses == {
        "adfs": "checked",
        "azure": "failed",
        "multi": "failed",
        "multi-foo": "failed",
        "onelogin": "checked",
        "onelogin-strict": "failed",
        "shibboleth": "checked",
        "testshib": "checked",
    }

    # The documents that pass publish their values and a byte-exact copy. (`check` wrote
    # nothing, so the cache is filled by fetching once more.)
    assert not (project / ".cache").exists()
    assert build("--tenant", "testshib", "--tenant", "adfs") == 0
    site = project / "site"
    expected: dict[str, tuple[str, str, str]] = {
        "adfs": (
            "adfs-v2-federationmetadata",
            "https://fs.msidlab7.com/adfs/ls/",
            "http://fs.msidlab7.com/adfs/services/trust",
        ),
        "testshib": (
            "testshib-providers",
            "https://idp.testshib.org/idp/profile/SAML2/Redirect/SSO",
            "https://idp.testshib.org/idp/shibboleth",
        ),
    }
    for slug, (name, sso, entity) in expected.items():
        page = (site / slug / "demo" / "index.html").read_text(encoding="utf-8")
        assert sso in page and entity in page, slug
        copy = site / slug / "demo" / "federation-metadata.xml"
        assert copy.read_bytes() == documents[name], slug


def test_check_fetches_but_writes_no_cache(project: Path, httpserver: HTTPServer) -> None:
    new, _ = cert("new.example.com")
    _, url = serve(httpserver, make_metadata(certs=[(new, "signing")]))
    write_tenant("acme", url)
    assert main(["check"]) == 0
    assert len(httpserver.log) == 1  # the document was fetched and checked...
    assert not (project / ".cache").exists()  # ...and nothing was written
    assert not (project / "site").exists()


def test_refresh_says_when_the_previous_cached_copy_no_longer_parses(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # A cached copy this version cannot read (a stricter parser, an edited entity_id) is
    # not a first fetch: refresh says so, and asks for the whole document, not a 304.
    idp, url = serve(httpserver, make_metadata())
    write_tenant("acme", url)
    unreadable = b"<md:EntityDescriptor>\n<oops/>\n"
    entry = cache.CacheEntry(
        url,
        datetime.now(UTC).isoformat(timespec="seconds"),
        hashlib.sha256(unreadable).hexdigest(),
        etag=idp.etag,
    )
    cache.write_entry(Path(".cache"), entry, unreadable)
    assert main(["refresh", "--report", "report.json"]) == 0
    assert output(capsys) == (
        [
            "acme/demo: changed: document: unreadable cached copy (at line 1: metadata is not"
            " well-formed XML: unbound prefix) -> fetched",
            "changed tenants: acme",
        ],
        [],
    )
    [(request, _)] = httpserver.log
    assert "If-None-Match" not in request.headers
    assert report()["apps"][0]["changes"] == [
        {
            "key": "document",
            "old": "unreadable cached copy (at line 1: metadata is not well-formed XML:"
            " unbound prefix)",
            "new": "fetched",
        }
    ]
    assert cache.read_entry(Path(".cache"), url) is not None


@pytest.mark.filterwarnings("error")
def test_negative_serial_certificate_is_published_with_a_located_warning(
    project: Path, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Warnings are errors here: a raw CryptographyDeprecationWarning would fail the test.
    der = make_negative_serial_certificate("neg.example.com")
    body = make_metadata(certs=[(der, "signing")]).replace(b"<md:IDPSSO", b"\n<md:IDPSSO")
    _, url = serve(httpserver, body)
    write_tenant("acme", url)
    assert build("--report", "report.json") == 0
    _, err = output(capsys)
    thumbprint = hashlib.sha1(der).hexdigest().upper()
    assert err == [
        f"{URL_AT}: warning: metadata from {url} at line 3: signing certificate"
        f" 'CN=neg.example.com' (thumbprint {thumbprint}) has a negative or zero serial number,"
        " which RFC 5280 forbids and some SAML software refuses; published as it is"
    ]
    app = project / "site" / "acme" / "demo"
    assert (app / "signing-certificate-raw.cer").read_bytes() == der
    assert (app / "signing-certificate.cer").read_text(encoding="ascii") == (
        ssl.DER_cert_to_PEM_cert(der)
    )
    page = (app / "index.html").read_text(encoding="utf-8")
    assert thumbprint in page
    assert report()["tenants"][0]["warnings"][0]["line"] == 2


@pytest.mark.parametrize("value", ["0", "33", "x"])
def test_per_host_limit_is_at_most_32(
    project: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main(["refresh", "--per-host", value]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"tenantdocs refresh: error: argument --per-host: '{value}' is not a number from 1 to 32"
    )


def test_output_order_does_not_follow_completion_order(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first tenants' documents answer last; lines and report stay in tenant order.
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    try:
        for index in range(6):
            body = make_metadata(entity_id=f"https://idp{index}.example.com/")

            def slow(
                request: Request, delay: float = 0.05 * (6 - index), body: bytes = body
            ) -> Response:
                time.sleep(delay)
                return Response(body)

            server.expect_request(f"/{index}.xml").respond_with_handler(slow)
            write_tenant(f"t{index}", server.url_for(f"/{index}.xml"))
        assert main(["refresh", "--report", "report.json"]) == 0
        for command in (["build", "--jobs", "1"], ["check"]):
            assert main([*command, "--report", f"{command[0]}.json"]) == 0
    finally:
        server.clear()
        server.stop()
    out, err = output(capsys)
    slugs = [f"t{index}" for index in range(6)]
    assert out[:7] == [f"{slug}/demo: changed: document: first fetch" for slug in slugs] + [
        "changed tenants: " + " ".join(slugs)
    ]
    assert [app["tenant"] for app in report()["apps"]] == slugs
    assert [t["slug"] for t in report("build.json")["tenants"]] == slugs
    assert [t["slug"] for t in report("check.json")["tenants"]] == slugs
    assert err == []
