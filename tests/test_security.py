"""Hostile tenant files, metadata and servers: real builds, then every published byte checked.

Tenant files may come from self-service onboarding and metadata from the network, so both
are untrusted; templates are trusted. Each test names the defence it proves in a comment;
removing that defence makes the test fail. SECURITY.md maps threats to these tests.
"""

from __future__ import annotations

import gzip
import html
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import struct
import threading
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from idp import REDIRECT, make_certificate, make_entity, make_metadata

from tenantdocs.cli import main
from tenantdocs.errors import MetadataError, TenantError
from tenantdocs.fetch import (
    LOOPBACK_ENV,
    TIMEOUT_ENV,
    FailureKind,
    Fetcher,
    MetadataFetchError,
    download,
)
from tenantdocs.hosts import PRIVATE_ENV, AddressKind, HostPolicy, classify, name_kind
from tenantdocs.metadata import MAX_METADATA_BYTES, parse_metadata
from tenantdocs.sources import MetadataLoader
from tenantdocs.tenants import parse_tenant

REPO = Path(__file__).resolve().parents[1]

# --- hostile values that pass validation (no '<', '>', '`' or control characters) ---------

NAME = 'Evil" onmouseover="alert(11)" x=\'&lt;/title&gt;&lt;img src=x onerror=alert(12)&gt;'
DISPLAY = '&lt;/title&gt;&lt;script&gt;alert(13)&lt;/script&gt;" onfocus="alert(14)\' - [x](javascript:alert(15)) **b** #1'
ISSUER = 'javascript:alert(16)//" onmouseover="alert(17)&amp;'
SIGN_IN = '[click](javascript:alert(18)) ![i](x) {: onclick="alert(19)"} &#60;b&#62;'
SSO = "https://evil.example/sso?a=\"onmouseover=alert(20)&b='x'&c=&lt;script&gt;"
CHANGE_PASSWORD = "https://evil.example/pw?x='onmouseover='alert(21)'&y=javascript:alert(22)"
META_ENTITY = 'https://idp.example/" onmouseover="alert(23)&lt;/title&gt;'
META_SSO = "https://idp.example/sso?x='alert(24)'&y=1"
META_CN = '"><img src=x onerror=alert(25)>'  # the signing certificate's subject

HOSTILE_GUIDE = """\
## Set up %metadata:DisplayName%

Sign in to %metadata:DisplayName% at %metadata:SignInUrlExample%.

1. Copy the **Login URL** : %metadata:singleSignOnServiceUrl%
2. [Open the login page](%metadata:singleSignOnServiceUrl%) or [change your password](%metadata:changePasswordUrl%).
3. [Look the issuer up](https://www.example.com/search?q=%metadata:IssuerUri%)

| Setting | Value |
| --- | --- |
| Identifier | %metadata:IssuerUri% |
| App | %metadata:DisplayName% |

Inline: `%metadata:IssuerUri%` and `%metadata:DisplayName%`

```sh
curl '%metadata:singleSignOnServiceUrl%' -H 'X-App: %metadata:DisplayName%'
```

<p><a href="%metadata:changePasswordUrl%" title="%metadata:DisplayName%">Change password</a></p>

![%metadata:DisplayName%](media/logo.png "%metadata:DisplayName%")
"""


def yaml_text(data: dict[str, Any]) -> str:
    """A tenant file: JSON is YAML, and json.dumps quotes every hostile character."""
    return json.dumps(data, indent=2) + "\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def sample_project(root: Path) -> None:
    """The sample templates plus an app whose guide puts values in every Markdown context."""
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "tenants", root / "tenants")
    app = root / "templates" / "hostile-app"
    write(app / "sso_configure.md", HOSTILE_GUIDE)
    write(
        app / "app.yml",
        "category: Tests\nmetadata:\n  SignInUrlExample: https://app.example/login\n",
    )
    write(app / "media" / "logo.png", b"\x89PNG\r\n\x1a\n")


def build(root: Path, *args: str) -> int:
    return main(
        [
            "build",
            "--jobs",
            "1",
            "--templates",
            str(root / "templates"),
            "--tenants",
            str(root / "tenants"),
            "--site",
            str(root / "site"),
            "--cache",
            str(root / ".cache"),
            *args,
        ]
    )


# --- auditing what was published ----------------------------------------------------------

_SCRIPT_SCHEME = re.compile(r"\s*(?:javascript|vbscript|data)\s*:", re.IGNORECASE)
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "srcset"}
_ACTIVE_ELEMENTS = {"a", "area", "img", "iframe", "script", "form", "embed", "object", "source"}


class Audit(HTMLParser):
    """Finds markup a value could have injected: event handlers, script URLs, scripts, images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.findings: list[str] = []
        self.titles: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.findings.append(f"<{tag} {name}={value!r}>")
            active = name in _URL_ATTRIBUTES and tag in _ACTIVE_ELEMENTS
            if active and value and _SCRIPT_SCHEME.match(value):
                self.findings.append(f"<{tag} {name}={value!r}>")
        found = dict(attrs)
        if tag == "img" and found.get("src") == "x":
            self.findings.append("<img src=x>")
        if tag == "script" and found.get("src") and "//" in str(found["src"]):
            self.findings.append(f"<script src={found['src']!r}>")
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] == "script" and "alert(" in data:
            self.findings.append(f"<script>{data.strip()[:60]}</script>")
        if self._open and self._open[-1] == "title":
            self.titles.append(data)


def audit(html: str) -> Audit:
    parser = Audit()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One build of the samples, tenants with hostile but valid values, and refused ones."""
    root = tmp_path_factory.mktemp("hostile")
    sample_project(root)
    tenants = root / "tenants"
    write(
        tenants / "hostile.yml",
        yaml_text(
            {
                "name": NAME,
                "metadata": {"changePasswordUrl": CHANGE_PASSWORD},
                "metadata_file": "hostile/idp.xml",
                "apps": {
                    "hostile-app": {
                        "metadata": {
                            "DisplayName": DISPLAY,
                            "IssuerUri": ISSUER,
                            "SignInUrlExample": SIGN_IN,
                            "singleSignOnServiceUrl": SSO,
                        }
                    },
                    "litware-crm": {"metadata": {"DisplayName": DISPLAY}},
                },
            }
        ),
    )
    write(tenants / "hostile" / "idp.xml", make_metadata())
    write(
        tenants / "hostile-metadata.yml",
        yaml_text(
            {
                "name": "Hostile Metadata",
                "metadata_file": "hostile-metadata.xml",
                "metadata": {"changePasswordUrl": "https://idp.example/pw"},
                "apps": {"hostile-app": None, "litware-crm": None},
            }
        ),
    )
    write(
        tenants / "hostile-metadata.xml",
        make_metadata(
            META_ENTITY,
            sso=[(REDIRECT, META_SSO)],
            certs=[(make_certificate(META_CN)[0], "signing")],
        ),
    )
    for slug, key, value in REFUSED_VALUES:
        write(
            tenants / f"{slug}.yml",
            yaml_text({"name": "Refused", "apps": {"hostile-app": {"metadata": {key: value}}}}),
        )
    for slug, document in REFUSED_METADATA:
        write(tenants / f"{slug}.xml", document)
        write(
            tenants / f"{slug}.yml", yaml_text({"name": "Refused", "metadata_file": f"{slug}.xml"})
        )
    cwd = Path.cwd()
    os.chdir(root)
    try:
        code = build(root, "--report", str(root / "report.json"))
    finally:
        os.chdir(cwd)
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    report["exit"] = code
    yield root, report


# --- 1. hostile values that are accepted: escaped everywhere --------------------------------


def test_every_published_page_is_free_of_injected_markup(
    hostile_site: tuple[Path, dict[str, Any]],
) -> None:
    # Defences: render.escape_value (prose, tables, link targets, HTML), MkDocs/Material
    # escaping of code, sitebuild.Markup-escaped site name and navigation titles (Material
    # prints them raw, and `striptags` in <title> decodes entities), autoescaped directory.
    root, report = hostile_site
    statuses = {t["slug"]: t["status"] for t in report["tenants"]}
    assert statuses["hostile"] == statuses["hostile-metadata"] == "built"
    pages = sorted((root / "site").rglob("*.html"))
    assert len(pages) > 20
    findings = {
        str(page.relative_to(root)): found
        for page in pages
        if (found := audit(page.read_text(encoding="utf-8")).findings)
    }
    assert findings == {}


def test_hostile_text_is_shown_as_the_text_it_is(
    hostile_site: tuple[Path, dict[str, Any]],
) -> None:
    # Defence: the same escaping, checked positively: the value reads back exactly.
    root, _ = hostile_site
    guide = (root / "site" / "hostile" / "hostile-app" / "index.html").read_text(encoding="utf-8")
    # <title> is `{{ page.title | striptags }} - {{ config.site_name }}`: nav title and site
    # name arrive escaped once; Material's `striptags` then decodes the title once more, so
    # a literal `&lt;` in the value shows as `<` there (text all the same, never a tag).
    assert "".join(audit(guide).titles).strip() == f"{html.unescape(DISPLAY)} - {NAME}"
    home = (root / "site" / "hostile" / "index.html").read_text(encoding="utf-8")
    assert "".join(audit(home).titles).strip() == NAME
    text = _text_of(guide)
    for value in (DISPLAY, ISSUER, SIGN_IN, SSO, NAME):
        assert value in text
    directory = _text_of((root / "site" / "index.html").read_text(encoding="utf-8"))
    assert NAME in directory
    assert DISPLAY in directory  # the hostile app's title, in the tenant's list of apps


def test_link_targets_are_only_https_or_the_sites_own_files(
    hostile_site: tuple[Path, dict[str, Any]],
) -> None:
    # Defence: render.link_href (http(s) only, percent-encoded) for `[x](%metadata:K%)` and
    # `<a href="%metadata:K%">`; a quote in a URL value cannot end the attribute.
    root, _ = hostile_site
    guide = root / "site" / "hostile" / "hostile-app" / "index.html"
    links = _links(guide.read_text(encoding="utf-8"))
    external = sorted({link for link in links if "evil.example" in link})
    assert external == [
        "https://evil.example/pw?x='onmouseover='alert%2821%29'&y=javascript:alert%2822%29",
        # `&lt;` stays the text it is (render: an entity-like `&` is written `&amp;`).
        "https://evil.example/sso?a=%22onmouseover=alert%2820%29&b='x'&c=&lt;script&gt;",
    ]
    assert (
        "https://www.example.com/search?q=javascript%3Aalert%2816%29%2F%2F%22%20onmouseover%3D%22alert%2817%29%26amp%3B"
        in links
    )
    schemes = {m.group(0) for link in links if (m := re.match(r"[A-Za-z][\w+.-]*:", link))}
    assert schemes <= {"https:", "http:"}


def test_search_index_and_sitemap_hold_no_markup(
    hostile_site: tuple[Path, dict[str, Any]],
) -> None:
    # Defence: what MkDocs indexes is the escaped page (and escaped titles); Material's
    # search shows titles and text as HTML, so they must carry no live markup.
    root, _ = hostile_site
    for slug in ("hostile", "hostile-metadata"):
        index = json.loads((root / "site" / slug / "search" / "search_index.json").read_text())
        if slug == "hostile":  # the hostile app name is indexed, as escaped text
            assert any("alert(13)" in doc["title"] for doc in index["docs"])
        for doc in index["docs"]:
            assert audit(doc["title"]).findings == []
            assert audit(doc["text"]).findings == []
            assert "<script" not in doc["title"] + doc["text"]
        sitemap = SafeET.fromstring((root / "site" / slug / "sitemap.xml").read_bytes())
        assert "alert(" not in "".join(sitemap.itertext())


def test_hostile_metadata_values_are_escaped(hostile_site: tuple[Path, dict[str, Any]]) -> None:
    # Defence: metadata values are escaped like tenant values (entityID → IssuerUri,
    # SingleSignOnService → singleSignOnServiceUrl).
    root, _ = hostile_site
    guide = (root / "site" / "hostile-metadata" / "hostile-app" / "index.html").read_text()
    assert audit(guide).findings == []
    assert META_ENTITY in _text_of(guide)
    assert 'CN=\\"\\>\\<img src=x onerror=alert(25)\\>' in _text_of(guide)  # RFC 4514
    assert "https://idp.example/sso?x='alert%2824%29'&y=1" in _links(guide)


REFUSED_VALUES = [
    ("refused-script", "DisplayName", '"><script>alert(1)</script>'),
    ("refused-javascript", "changePasswordUrl", "javascript:alert(1)"),
    ("refused-javascript-case", "singleSignOnServiceUrl", "JaVaScRiPt:alert(1)"),
    (
        "refused-data",
        "ExternalArticleUrl",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    ),
    ("refused-vbscript", "singleSignOutServiceUrl", "vbscript:msgbox(1)"),
    ("refused-protocol-relative", "changePasswordUrl", "//evil.example/x"),
    ("refused-http", "changePasswordUrl", "http://evil.example/x"),
    ("refused-bidi", "DisplayName", "Contoso \u202egnp.exe"),
    ("refused-newline", "IssuerUri", "https://idp.example/\nerror: forged"),
]
REFUSED_METADATA = [
    (
        "refused-metadata-sso",
        make_metadata(sso=[(REDIRECT, "javascript:alert(1)")]),
    ),
    (
        "refused-metadata-entity",
        make_metadata('"><script>alert(1)</script>'),
    ),
    (
        "refused-metadata-bidi",
        make_metadata(sso=[(REDIRECT, "https://idp.example/\u202eexe.lmth")]),
    ),
]


def test_script_urls_and_markup_in_values_are_refused_with_a_located_error(
    hostile_site: tuple[Path, dict[str, Any]],
) -> None:
    # Defences: keys.url_problem (https:// only) and keys.value_problem (no '<', '>', '`',
    # control characters or bidirectional overrides) on tenant values; metadata._endpoint and
    # _idp apply them to metadata. A refused tenant publishes nothing; the others do.
    root, report = hostile_site
    assert report["exit"] == 1
    errors = {
        t["slug"]: [e["text"] for e in t["errors"]]
        for t in report["tenants"]
        if t["slug"].startswith("refused")
    }
    url = "is not an https:// URL"
    markup = "value contains a control character, '<', '>' or '`'"

    def sso_at(name: str) -> str:
        data = (root / "tenants" / f"refused-metadata-{name}.xml").read_bytes()
        start = data.index(b"<md:SingleSignOnService")
        line, column = data.count(b"\n", 0, start) + 1, start - data.rfind(b"\n", 0, start)
        return f"{line}:{column}"

    assert errors == {
        "refused-script": [f"tenants/refused-script.yml:6:24: error: 'DisplayName': {markup}"],
        "refused-javascript": [
            f"tenants/refused-javascript.yml:6:30: error: 'changePasswordUrl': 'javascript:alert(1)' {url}"
        ],
        "refused-javascript-case": [
            "tenants/refused-javascript-case.yml:6:35: error: 'singleSignOnServiceUrl':"
            f" 'JaVaScRiPt:alert(1)' {url}"
        ],
        "refused-data": [
            "tenants/refused-data.yml:6:31: error: 'ExternalArticleUrl':"
            f" 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==' {url}"
        ],
        "refused-vbscript": [
            "tenants/refused-vbscript.yml:6:36: error: 'singleSignOutServiceUrl':"
            f" 'vbscript:msgbox(1)' {url}"
        ],
        "refused-protocol-relative": [
            "tenants/refused-protocol-relative.yml:6:30: error: 'changePasswordUrl':"
            f" '//evil.example/x' {url}"
        ],
        "refused-http": [
            f"tenants/refused-http.yml:6:30: error: 'changePasswordUrl': 'http://evil.example/x' {url}"
        ],
        "refused-bidi": [f"tenants/refused-bidi.yml:6:24: error: 'DisplayName': {markup}"],
        "refused-newline": [f"tenants/refused-newline.yml:6:22: error: 'IssuerUri': {markup}"],
        # Problems in a metadata document name their line and column there.
        "refused-metadata-sso": [
            f"tenants/refused-metadata-sso.xml:{sso_at('sso')}: error: SingleSignOnService"
            " Location is not an http(s) URL"
        ],
        "refused-metadata-entity": [
            f"tenants/refused-metadata-entity.xml:2:1: error: entityID is not usable: {markup}"
        ],
        "refused-metadata-bidi": [
            f"tenants/refused-metadata-bidi.xml:{sso_at('bidi')}: error: SingleSignOnService"
            f" Location is not usable: {markup}"
        ],
    }
    published = {p.name for p in (root / "site").iterdir()}
    assert not {slug for slug in errors if slug in published}
    assert {"contoso", "fabrikam", "hostile", "hostile-metadata"} <= published


# --- 2. secrets: values nobody uses never reach the site or the report ---------------------

SECRET_GUIDE = "Sign in at %metadata:singleSignOnServiceUrl% to set up %metadata:DisplayName%.\n"


def test_values_no_template_uses_reach_neither_the_site_nor_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defences: adminpages._home_values shows a tenant-file value only where the app's
    # guide uses it (before: the home page listed an unused singleSignOutServiceUrl), the
    # provenance panel lists only keys a page uses, and warnings name keys, never values.
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "templates" / "demo" / "sso_configure.md", SECRET_GUIDE)
    write(tmp_path / "tenants" / "idp.xml", make_metadata())
    write(
        tmp_path / "tenants" / "acme.yml",
        yaml_text(
            {
                "name": "Acme",
                "metadata_file": "idp.xml",
                "metadata": {
                    "singleSignOutServiceUrl": "https://secret-one.example/logout",
                    "wsFederationSignInUrl": "https://secret-two.example/wsfed",
                },
                "apps": {
                    "demo": {"metadata": {"ExternalArticleUrl": "https://secret-three.example/a"}}
                },
            }
        ),
    )
    assert build(tmp_path, "--report", "report.json") == 0
    report = Path("report.json").read_text(encoding="utf-8")
    warnings = [w["message"] for w in json.loads(report)["tenants"][0]["warnings"]]
    assert "'singleSignOutServiceUrl' is set but no guide of this tenant uses it" in warnings
    published = [p for p in Path("site").rglob("*") if p.is_file()]
    assert len(published) > 10
    for secret in (b"secret-one", b"secret-two", b"secret-three"):
        assert secret not in report.encode()
        assert [p for p in published if secret in p.read_bytes()] == []
    # The IdP's own (public) logout URL was overridden, so it is not shown either.
    assert b"Sign in at" in Path("site/acme/demo/index.html").read_bytes()


def test_error_messages_never_dump_documents_or_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defences: messages quote values through keys.shorten (validUntil, keys, server
    # reasons), tenants.MAX_PROBLEMS_PER_FILE caps the lines of one file, errors.one_line
    # escapes control characters, and check's source excerpt shows a window of a long line.
    monkeypatch.chdir(tmp_path)
    sample_project(tmp_path)
    tenants = tmp_path / "tenants"
    megabyte = 1024 * 1024
    # A one-line, 1 MB metadata document that breaks at its end (excerpted by `check`).
    write(tenants / "fabrikam" / "idp-metadata.xml", b"<a>" + b"x" * megabyte + b"<b>\x01</a>")
    # A 1 MB validUntil.
    write(tenants / "contoso" / "litware-crm.xml", make_metadata(valid_until="A" * megabyte))
    # 5,000 unknown keys, a 200 kB key, a key that would forge a line and colour the terminal.
    write(
        tenants / "keys.yml",
        "name: Keys\nmetadata:\n" + "".join(f"  k{i}: v\n" for i in range(5000)),
    )
    write(tenants / "long.yml", f"name: Long\n? {'k' * 200_000}\n: v\n")  # an explicit key
    write(tenants / "forged.yml", 'name: Forged\n"a\\nforged.yml:1:1: error: x\\e[31m": v\n')
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert max(len(line) for line in lines) < 400
    assert len(err) < 40_000
    assert sum("keys.yml" in line for line in lines) == 101
    assert "tenants/keys.yml: error: 4900 more problems in this file are not shown" in lines
    assert f"tenants/long.yml:2:3: error: unknown key '{'k' * 59}…' in tenant file" in lines
    assert (
        "tenants/forged.yml:2:1: error: unknown key 'a\\nforged.yml:1:1: error: x\\x1b[31m'"
        " in tenant file" in lines
    )
    assert not any(line.startswith("forged.yml") for line in lines)
    assert "\x1b" not in err
    assert any(
        line.startswith("tenants/contoso/litware-crm.xml:2:1: error: validUntil 'AAA")
        for line in lines
    )


# --- 3. XML attacks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x">'
        + b"<a>" * 100_000
        + b"</a>" * 100_000
        + b"</md:EntityDescriptor>",
        b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">' * 1000
        + b"</md:EntitiesDescriptor>" * 1000,
    ],
    ids=["100k nested elements", "1000 nested EntitiesDescriptor"],
)
def test_deeply_nested_metadata_is_refused_quickly(document: bytes) -> None:
    # Defence: metadata._GuardedBuilder stops the parse at MAX_XML_DEPTH levels. Before
    # it, nested EntitiesDescriptor elements crashed the build with a RecursionError.
    assert len(document) < MAX_METADATA_BYTES
    started = time.perf_counter()
    with pytest.raises(MetadataError) as info:
        parse_metadata(document, Path("idp.xml"))
    # Located at the element one level too deep: the 65th start tag on the one line.
    column = next(i for n, i in enumerate(re.finditer(b"<", document)) if n == 64).start() + 1
    assert str(info.value) == (
        f"idp.xml:1:{column}: error: metadata nests elements more than 64 levels deep"
    )
    assert time.perf_counter() - started < 1.0


ACTIVE = "metadata must not contain HTML, SVG, MathML or XSLT elements (a browser would run them in the published copy)"


@pytest.mark.parametrize(
    ("inserted", "message"),
    [
        (
            '<h:script xmlns:h="http://www.w3.org/1999/xhtml">window.xss = 1</h:script>',
            ACTIVE,
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            ACTIVE,
        ),
        (
            '<x:stylesheet xmlns:x="http://www.w3.org/1999/XSL/Transform" version="1.0"/>',
            ACTIVE,
        ),
        (
            '<?xml-stylesheet type="text/xsl" href="data:,x"?>',
            "metadata must not contain processing instructions (<?xml-stylesheet …?>)",
        ),
    ],
    ids=["xhtml script", "svg", "xslt", "stylesheet instruction"],
)
def test_metadata_a_browser_would_run_is_refused(inserted: str, message: str) -> None:
    # Defence: metadata._GuardedBuilder. The document is published byte for byte as
    # federation-metadata.xml in the tenant's site; opened directly, Chromium runs an XHTML
    # <script> in it with the site's origin (checked by hand: window.xss was set). Real
    # metadata holds no such element, so refusing costs nothing.
    document = make_metadata().replace(
        b"<md:IDPSSODescriptor", inserted.encode() + b"<md:IDPSSODescriptor", 1
    )
    if inserted.startswith("<?"):
        document = make_metadata().replace(b"\n<md:", b"\n" + inserted.encode() + b"\n<md:", 1)
    with pytest.raises(MetadataError) as info:
        parse_metadata(document, Path("idp.xml"))
    start = document.index(inserted.encode())
    line = document.count(b"\n", 0, start) + 1
    column = start - document.rfind(b"\n", 0, start)
    assert str(info.value) == f"idp.xml:{line}:{column}: error: {message}"


def test_two_entities_with_the_chosen_entity_id_are_refused() -> None:
    # Defence: metadata.parse_metadata refuses an ambiguous entity_id; a copy injected into
    # an aggregate must not silently win or lose. (Signatures are not verified, so there is
    # no signature to wrap: see SECURITY.md.)
    forged = make_entity(sso=((REDIRECT, "https://forged.example/sso"),))
    document = make_metadata(entities=[forged, make_entity()])
    with pytest.raises(MetadataError) as info:
        parse_metadata(document, Path("idp.xml"), "https://idp.example.com/saml")
    assert str(info.value) == (
        "idp.xml:3:1: error: 2 entities have entityID 'https://idp.example.com/saml'; expected one"
    )


# --- 4. YAML attacks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nmetadata: " + "[" * 300_000 + "]" * 300_000 + "\n",
            "tenants/x.yml:2:42: error: invalid YAML: nested deeper than 32 levels",
        ),
        (
            "name: x\nmetadata: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
            "tenants/x.yml:2:132: error: invalid YAML: nested deeper than 32 levels",
        ),
        (
            "name: x\x00y\n",
            "tenants/x.yml:1:8: error: invalid YAML: character U+0000 is not allowed in YAML",
        ),
    ],
    ids=["nested lists", "nested mappings", "NUL"],
)
def test_hostile_yaml_structure_is_a_located_error(text: str, message: str) -> None:
    # Defence: yamlfile._StrictLoader caps nesting at MAX_YAML_DEPTH (the composer recurses
    # per level: before, 1,000 levels crashed every tenant's build with a RecursionError);
    # a character YAML refuses is located on one line instead of a two-line message.
    started = time.perf_counter()
    with pytest.raises(TenantError) as info:
        parse_tenant(text, Path("tenants/x.yml"), ["demo"])
    assert str(info.value) == message
    assert time.perf_counter() - started < 2.0


# --- 5. paths: nothing outside the tenants and templates folders is read -------------------


def test_metadata_file_linked_outside_the_tenants_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: sources.MetadataLoader._local resolves links before checking the path is
    # inside the tenants folder (the tenant file check only sees the text `idp.xml`).
    monkeypatch.chdir(tmp_path)
    sample_project(tmp_path)
    outside = write(tmp_path / "outside" / "idp.xml", make_metadata())
    (tmp_path / "tenants" / "linked.xml").symlink_to(outside)
    (tmp_path / "tenants" / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    write(tmp_path / "tenants" / "linked.yml", "name: Linked\nmetadata_file: linked.xml\n")
    write(tmp_path / "tenants" / "viadir.yml", "name: Via\nmetadata_file: linked-dir/idp.xml\n")
    assert main(["check", "--tenant", "linked", "--tenant", "viadir"]) == 1
    err = capsys.readouterr().err
    assert (
        "tenants/linked.yml:2:16: error: metadata_file must be inside the tenants folder\n" in err
    )
    assert (
        "tenants/viadir.yml:2:16: error: metadata_file must be inside the tenants folder\n" in err
    )


def test_metadata_file_is_read_no_further_than_the_size_cap(tmp_path: Path) -> None:
    # Defence: sources.MetadataLoader._local reads at most MAX_METADATA_BYTES + 1 bytes; an
    # endless file (here a pipe that never ends) used to be read until memory ran out.
    fifo = tmp_path / "tenants" / "endless.xml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    sent = [0]

    def endless() -> None:
        try:
            with fifo.open("wb") as stream:
                while sent[0] < 64 * MAX_METADATA_BYTES:
                    stream.write(b"x" * 65536)
                    sent[0] += 65536
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=endless, daemon=True)
    writer.start()
    tenant, _ = parse_tenant(
        "name: X\nmetadata_file: endless.xml\n", tmp_path / "tenants" / "x.yml", ["demo"]
    )
    loader = MetadataLoader(tmp_path / "tenants", tmp_path / "cache", False, datetime.now(UTC))
    outcome: list[str] = []

    def load() -> None:
        try:
            loader.load(tenant, "demo")
        except TenantError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the loader kept reading"
    writer.join(5)
    assert outcome == [f"{fifo}: error: metadata is larger than {MAX_METADATA_BYTES} bytes"]
    assert sent[0] < 2 * MAX_METADATA_BYTES


def test_app_folder_or_guide_linked_outside_the_templates_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: templates.load_templates refuses app folders and app files whose links lead
    # outside the templates folder; before, such a folder was an app and every file in it
    # (secrets included) was published as its media.
    monkeypatch.chdir(tmp_path)
    sample_project(tmp_path)
    outside = tmp_path / "elsewhere"
    write(outside / "app" / "sso_configure.md", "Guide %metadata:DisplayName%\n")
    write(outside / "app" / "secret.txt", "SECRET-OUTSIDE")
    write(outside / "guide.md", "Guide %metadata:DisplayName%\n")
    (tmp_path / "templates" / "linked-app").symlink_to(outside / "app", target_is_directory=True)
    (tmp_path / "templates" / "linked-guide").mkdir()
    (tmp_path / "templates" / "linked-guide" / "sso_configure.md").symlink_to(outside / "guide.md")
    assert main(["build", "--jobs", "1"]) == 2
    message = "is a symbolic link to outside the templates folder; nothing outside it is read"
    assert capsys.readouterr().err.splitlines() == [
        f"templates/linked-app: error: {message}",
        f"templates/linked-guide/sso_configure.md: error: {message}",
    ]
    assert not Path("site").exists()


def test_app_folder_names_that_would_change_a_url_or_path_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Defence: templates._BAD_APP_NAME. An app folder name becomes a folder and a URL of
    # every site; `#`, `?`, `%` or `\` would point its links elsewhere.
    monkeypatch.chdir(tmp_path)
    for name in ("a#b", "a?b", "a%2e%2e", "a\\b"):
        write(tmp_path / "templates" / name / "sso_configure.md", "Guide\n")
    write(tmp_path / "templates" / "good" / "sso_configure.md", "Guide\n")
    write(tmp_path / "tenants" / "acme.yml", "name: Acme\n")
    assert main(["check"]) == 1
    message = "app folder name must not contain control characters, '/', '\\', '#', '?' or '%'"
    assert capsys.readouterr().err.splitlines() == [
        f"templates/{name}: error: {message}" for name in ("a#b", "a%2e%2e", "a?b", "a\\b")
    ]


def test_media_linked_outside_the_templates_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defence: templates._assets skips symbolic links (files) and does not descend into
    # linked folders; without it /etc/passwd and the outside folder would be published.
    monkeypatch.chdir(tmp_path)
    sample_project(tmp_path)
    write(tmp_path / "elsewhere" / "secret.png", b"SECRET-MEDIA")
    media = tmp_path / "templates" / "litware-crm" / "media"
    media.mkdir()
    (media / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (media / "passwd.png").symlink_to("/etc/passwd")
    (media / "secret.png").symlink_to(tmp_path / "elsewhere" / "secret.png")
    write(media / "real.png", b"REAL-MEDIA")
    assert main(["build", "--jobs", "1", "--tenant", "contoso"]) == 0
    published = {
        p.relative_to("site/contoso").as_posix(): p.read_bytes()
        for p in Path("site/contoso/litware-crm").rglob("*")
        if p.is_file()
    }
    assert published["litware-crm/media/real.png"] == b"REAL-MEDIA"
    assert not [
        name for name in published if "passwd" in name or "linked" in name or "secret" in name
    ]
    secret = Path("/etc/passwd").read_bytes()
    assert not [
        p
        for p in Path("site").rglob("*")
        if p.is_file() and p.read_bytes() in (secret, b"SECRET-MEDIA")
    ]


# --- 6. network: resets, bombs and what a server may put into our messages -----------------


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    monkeypatch.setenv(TIMEOUT_ENV, "1")


def raw_server(answer: Any) -> Generator[str, None, None]:
    """A TCP server on 127.0.0.1 that hands each connection to ``answer``; yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                answer(connection)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/metadata.xml"
    finally:
        server.close()


RESET = r"\[Errno (?:104\] Connection reset by peer|32\] Broken pipe)"
CLOSED = r"Remote end closed connection without response"


def reset(connection: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset_at_once(connection: socket.socket) -> None:
    reset(connection)


def reset_after_the_request(connection: socket.socket) -> None:
    connection.recv(65536)
    reset(connection)


def reset_in_the_body(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n<md:" + b"x" * 300)
    time.sleep(0.05)
    reset(connection)


def close_in_the_body(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n<md:" + b"x" * 300)


def forged_status_line(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(b"\x1b[31mforged\r\nerror: fake line\r\n\r\n")


BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), 9)


def gzip_bomb(connection: socket.socket) -> None:
    connection.recv(65536)
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(BOMB)
        + BOMB
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        # Whether the reset meets the request while it is sent or while the answer is
        # awaited depends on timing: a reset, a broken pipe or an empty answer.
        (reset_at_once, rf"cannot connect \((?:{RESET}|{CLOSED})\)"),
        (reset_after_the_request, rf"cannot connect \((?:{RESET}|{CLOSED})\)"),
        (reset_in_the_body, rf"connection broke while reading \({RESET}\)"),
        (
            close_in_the_body,
            re.escape(
                "connection broke while reading"
                " (IncompleteRead(304 bytes read, 99696 more expected))"
            ),
        ),
        (gzip_bomb, f"document is larger than {MAX_METADATA_BYTES} bytes"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
@pytest.mark.usefixtures("loopback")
def test_broken_or_hostile_connections_fail_cleanly(answer: Any, message: str) -> None:
    # Defence: fetch.Fetcher.download maps every transport error to MetadataFetchError (the
    # build then falls back to the cache or fails the tenant), caps the *decoded* body
    # (a 200 kB gzip of 200 MB stops at the cap) and stops retrying after a few attempts.
    servers = raw_server(answer)
    url = next(servers)
    started = time.monotonic()
    try:
        with pytest.raises(MetadataFetchError) as info:
            download(url)
    finally:
        servers.close()
    assert re.fullmatch(message, str(info.value)), str(info.value)
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("loopback")
def test_what_a_server_sends_cannot_forge_our_error_lines(tmp_path: Path) -> None:
    # Defence: errors.one_line escapes control characters in every printed message; before,
    # a server's garbage status line (with CR LF and an escape sequence) was printed as is.
    servers = raw_server(forged_status_line)
    url = next(servers)
    try:
        tenant, _ = parse_tenant(f"name: X\nmetadata_url: {url}\n", Path("tenants/x.yml"), ["demo"])
        loader = MetadataLoader(tmp_path, tmp_path / "cache", False, datetime.now(UTC))
        with pytest.raises(TenantError) as info:
            loader.load(tenant, "demo")
    finally:
        servers.close()
    [line] = str(info.value).splitlines()
    assert "\x1b" not in line and "\r" not in line
    assert line.startswith(
        f"tenants/x.yml:2:15: error: cannot fetch metadata from {url}: cannot connect ("
    )
    assert "\\x1b[31mforged\\r\\n" in line


# --- the threat table ------------------------------------------------------------------------


def test_security_md_names_only_tests_that_exist() -> None:
    # SECURITY.md maps each threat to the test that proves its defence; a renamed or
    # deleted test must not leave a threat pointing at nothing.
    table = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(test_\w+\.py)::(test_\w+)", table))
    assert len(named) > 40
    missing = [
        f"{file}::{test}"
        for file, test in sorted(named)
        if not re.search(rf"^def {test}\(", (REPO / "tests" / file).read_text(), re.MULTILINE)
    ]
    assert missing == []


# --- helpers -------------------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def _links(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.links


# --- 6. requests where tenant files should not reach (SSRF) --------------------------------
# Defences: hosts.HostPolicy (names and every resolved address), checked by fetch.Fetcher
# before any connection, which then connects to the address it checked.


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", AddressKind.LINK_LOCAL),  # cloud instance metadata
        ("10.1.2.3", AddressKind.PRIVATE),
        ("172.16.0.1", AddressKind.PRIVATE),
        ("192.168.1.1", AddressKind.PRIVATE),
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("127.8.9.10", AddressKind.LOOPBACK),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("100.64.0.1", AddressKind.RESERVED),  # shared address space (carrier NAT)
        ("192.0.2.1", AddressKind.PRIVATE),  # documentation
        ("224.0.0.1", AddressKind.MULTICAST),
        ("::1", AddressKind.LOOPBACK),
        ("::", AddressKind.UNSPECIFIED),
        ("fc00::1", AddressKind.PRIVATE),
        ("fd12:3456::1", AddressKind.PRIVATE),
        ("fe80::1", AddressKind.LINK_LOCAL),
        ("::ffff:169.254.169.254", AddressKind.LINK_LOCAL),  # IPv4-mapped
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("::ffff:10.0.0.1", AddressKind.PRIVATE),
        ("2002:a9fe:a9fe::1", AddressKind.LINK_LOCAL),  # 6to4 of 169.254.169.254
        ("64:ff9b::a9fe:a9fe", AddressKind.LINK_LOCAL),  # NAT64 of 169.254.169.254
        ("20.190.128.1", AddressKind.PUBLIC),  # login.microsoftonline.com's range
        ("8.8.8.8", AddressKind.PUBLIC),
        ("2606:4700::1111", AddressKind.PUBLIC),
        ("::ffff:8.8.8.8", AddressKind.PUBLIC),
    ],
)
def test_addresses_are_classified(address: str, kind: AddressKind) -> None:
    assert classify(ipaddress.ip_address(address)) is kind
    refused = HostPolicy().address_refusal("idp.example.com", [ipaddress.ip_address(address)])
    assert (refused is None) is (kind is AddressKind.PUBLIC)


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("localhost", AddressKind.LOOPBACK),
        ("LOCALHOST.", AddressKind.LOOPBACK),
        ("idp.localhost", AddressKind.LOOPBACK),
        ("metadata.google.internal", AddressKind.PRIVATE),
        ("printer.local", AddressKind.PRIVATE),
        ("nas.home.arpa", AddressKind.PRIVATE),
        ("169.254.169.254", AddressKind.LINK_LOCAL),
        ("[::1]", AddressKind.LOOPBACK),
        ("[::ffff:a9fe:a9fe]", AddressKind.LINK_LOCAL),
        ("login.microsoftonline.com", AddressKind.PUBLIC),  # resolution decides
    ],
)
def test_host_names_are_judged_before_resolving(host: str, kind: AddressKind) -> None:
    assert name_kind(host) is kind


def test_every_resolved_address_must_be_public() -> None:
    # One private address among public ones is enough to refuse (the connection could go
    # to any of them).
    addresses = [ipaddress.ip_address(a) for a in ("20.190.128.1", "10.0.0.7")]
    assert HostPolicy().address_refusal("idp.example.com", addresses) == (
        "refusing 'idp.example.com': it resolves to 10.0.0.7, a private address (allow such"
        " hosts with --allow-private-hosts or TENANTDOCS_ALLOW_PRIVATE_HOSTS=1)"
    )


def test_only_the_operator_allows_non_public_hosts() -> None:
    loopback, private = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.1")
    tests_only = HostPolicy(allow_loopback=True)
    assert tests_only.address_refusal("h", [loopback]) is None
    assert tests_only.address_refusal("h", [private]) is not None  # loopback only
    operator = HostPolicy(allow_private=True)
    assert operator.address_refusal("h", [private, loopback]) is None


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback TCP port that records connection attempts (never accepts them)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def connection_attempts(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


HINT = "(allow such hosts with --allow-private-hosts or TENANTDOCS_ALLOW_PRIVATE_HOSTS=1)"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),  # by name: an address literal
        ("localhost", "a loopback host name"),  # by name
        ("2130706433", "it resolves to 127.0.0.1, a loopback address"),  # by resolution
        ("0x7f000001", "it resolves to 127.0.0.1, a loopback address"),  # the same, in hex
    ],
)
def test_refused_host_is_never_connected_to(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket, host: str, reason: str
) -> None:
    monkeypatch.delenv(LOOPBACK_ENV, raising=False)
    monkeypatch.delenv(PRIVATE_ENV, raising=False)
    url = f"https://{host}:{listener.getsockname()[1]}/metadata.xml"
    with pytest.raises(MetadataFetchError) as info:
        download(url)
    assert info.value.kind is FailureKind.REFUSED
    assert str(info.value) == f"refusing '{host}': {reason} {HINT}"
    assert connection_attempts(listener) == 0


def test_resolved_address_refusal_names_the_address(
    monkeypatch: pytest.MonkeyPatch, listener: socket.socket
) -> None:
    monkeypatch.delenv(LOOPBACK_ENV, raising=False)
    url = f"https://2130706433:{listener.getsockname()[1]}/metadata.xml"
    with pytest.raises(MetadataFetchError) as info:
        download(url)
    assert str(info.value) == (
        "refusing '2130706433': it resolves to 127.0.0.1, a loopback address (allow such hosts"
        " with --allow-private-hosts or TENANTDOCS_ALLOW_PRIVATE_HOSTS=1)"
    )
    assert connection_attempts(listener) == 0


def test_tenant_url_to_a_private_host_fails_the_tenant_without_a_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    listener: socket.socket,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LOOPBACK_ENV, raising=False)
    monkeypatch.delenv(PRIVATE_ENV, raising=False)
    write(tmp_path / "templates" / "demo" / "sso_configure.md", SECRET_GUIDE)
    url = f"https://2130706433:{listener.getsockname()[1]}/metadata.xml"
    write(tmp_path / "tenants" / "acme.yml", f"name: Acme\nmetadata_url: {url}\n")
    assert main(["build", "--jobs", "1"]) == 1
    assert capsys.readouterr().err == (
        f"tenants/acme.yml:2:15: error: cannot fetch metadata from {url}: refusing"
        " '2130706433': it resolves to 127.0.0.1, a loopback address (allow such hosts with"
        " --allow-private-hosts or TENANTDOCS_ALLOW_PRIVATE_HOSTS=1); no cached copy to fall"
        " back on\n"
    )
    assert connection_attempts(listener) == 0
    # The operator's switch (option or environment) lets the request through: the test can
    # see a connection when one is made. (No TLS server listens, so the tenant still fails.)
    monkeypatch.setenv(TIMEOUT_ENV, "0.5")
    assert main(["build", "--jobs", "1", "--allow-private-hosts"]) == 1
    assert connection_attempts(listener) >= 1
    monkeypatch.setenv(PRIVATE_ENV, "1")
    assert main(["build", "--jobs", "1"]) == 1
    assert connection_attempts(listener) >= 1
    capsys.readouterr()


def test_a_tenant_file_cannot_allow_private_hosts(tmp_path: Path) -> None:
    text = "name: Acme\nallow_private_hosts: true\nmetadata_url: https://10.0.0.1/md\n"
    with pytest.raises(TenantError) as info:
        parse_tenant(text, tmp_path / "acme.yml", ["demo"])
    assert str(info.value).startswith(
        f"{tmp_path / 'acme.yml'}:2:1: error: unknown key 'allow_private_hosts'"
    )


def test_connection_goes_to_the_checked_address_with_the_host_name_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DNS rebinding: the name is resolved once, checked, and the connection made to that
    # address; the Host header (and, for https, SNI and the certificate check) keep the name.
    monkeypatch.setenv(LOOPBACK_ENV, "1")
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers["Host"])
            body = make_metadata()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_address[1]
        try:
            with Fetcher(HostPolicy.from_environment()) as fetcher:
                assert fetcher.download(f"http://localhost:{port}/a.xml").data
                assert fetcher.download(f"http://localhost:{port}/b.xml").data
                # Resolved once for the run, and only to checked addresses.
                assert fetcher.addresses_of("localhost", port) == (
                    ipaddress.ip_address("127.0.0.1"),
                )
        finally:
            server.shutdown()
    assert seen == [f"localhost:{port}", f"localhost:{port}"]


def tls_identity(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``name`` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: Any, ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenantdocs test CA")])
    ca = certificate("tenantdocs test CA", ca_key, ca_name, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(name, key, ca_name, ca_key, False)
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.mark.parametrize("certified", ["idp.test", "other.test"])
def test_tls_to_the_checked_address_keeps_the_host_name(tmp_path: Path, certified: str) -> None:
    # DNS rebinding over https: the connection goes to the address the name resolved to
    # (a loopback server here), while SNI, the certificate check and the Host header use
    # the name; a certificate for another name is refused even though the address is right.
    ca, cert, key = tls_identity(tmp_path, certified)
    seen: list[tuple[str | None, str]] = []
    sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def remember_sni(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        sni.append(name)

    context.sni_callback = remember_sni

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((sni[-1] if sni else None, self.headers["Host"]))
            body = make_metadata()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        fetcher = Fetcher(
            HostPolicy(allow_private=True),
            timeout=2,
            resolver=lambda host, _port: ["127.0.0.1"],
            ca_certs=str(ca),
        )
        try:
            with fetcher:
                if certified == "idp.test":
                    assert fetcher.download(f"https://idp.test:{port}/md.xml").data
                else:
                    with pytest.raises(MetadataFetchError) as info:
                        fetcher.download(f"https://idp.test:{port}/md.xml")
                    assert str(info.value) == (
                        "TLS failed (hostname 'idp.test' doesn't match 'other.test')"
                    )
        finally:
            server.shutdown()
    assert sni[:1] == ["idp.test"]
    assert seen == ([("idp.test", f"idp.test:{port}")] if certified == "idp.test" else [])
