"""What admins read around the guides: the tenant home, certificate status and provenance.

The tenant home is a quick reference: per app, every value its guide uses, each with where
it came from. Each guide ends with an "About these values" section: the app's downloads,
its signing certificates (subject, thumbprint, validity) and a panel saying where every
value on the page came from. A certificate that has expired, expires within
:data:`EXPIRY_WARNING` or is not valid yet puts a warning at the top of the guide and of
the home page.

Pure: pages, values and "now" in, Markdown out. Headings are Markdown (escaped with
:func:`escape_prose`, so they reach the table of contents and search); the panels are raw
HTML blocks (escaped with :func:`html.escape`), so they look the same whatever Markdown
extensions a base configuration enables. Values an admin copies are ``<code
class="td-value">`` elements, which the site's script gives a copy button.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from tenantdocs import __version__
from tenantdocs.certificates import Certificate
from tenantdocs.errors import Location, display_path
from tenantdocs.keys import KEYS
from tenantdocs.render import COPYABLE_KEYS, VALUE_CLASS, Page, escape_prose, join_parts, link_href
from tenantdocs.values import (
    LoadedMetadata,
    Origin,
    ResolvedValue,
    ValueSet,
    certificate_files,
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


KEY_LABELS = {
    "singleSignOnServiceUrl": "Sign-on URL",
    "singleSignOutServiceUrl": "Sign-out URL",
    "IssuerUri": "Entity ID (issuer)",
    "metadataDownloadUrl": "Federation metadata",
    "certificateDownloadBase64Url": "Signing certificate (Base64)",
    "CertificateDownloadRawUrl": "Signing certificate (raw)",
    "certificateThumbprint": "Certificate thumbprint (SHA-1)",
    "certificateExpiry": "Certificate expires",
    "wsFederationSignInUrl": "WS-Federation sign-on URL",
    "changePasswordUrl": "Change-password URL",
    "DisplayName": "App name",
    "SignInUrlExample": "Sign-in URL example",
    "ExternalArticleUrl": "Full tutorial",
    "appFederationMetadataUrl": "App federation metadata URL",
    "tenantId": "Tenant ID",
    "appId": "Application ID",
}
"""What admins call each key's value."""

HOME_KEYS = (
    "singleSignOnServiceUrl",
    "singleSignOutServiceUrl",
    "IssuerUri",
    "metadataDownloadUrl",
    "certificateDownloadBase64Url",
    "CertificateDownloadRawUrl",
    "certificateThumbprint",
)
"""Keys every app's quick reference shows first (the IdP's public values), in this order."""

_KEY_ORDER = {spec.name: index for index, spec in enumerate(KEYS)}
TENANT_FILE = (Origin.TENANT_FILE, Origin.APP_ENTRY)
"""Origins of values written in a tenant file."""


# --- the tenant's home page ------------------------------------------------------------


def render_home(
    tenant_name: str, pages: Sequence[Page], value_sets: Sequence[ValueSet], now: datetime
) -> str:
    """The tenant's home: certificate warnings, the apps, and a quick reference per app."""
    apps = sorted(
        zip(pages, value_sets, strict=True),
        key=lambda pair: (pair[0].title.casefold(), pair[0].docs_path),
    )
    name = escape_prose(tenant_name)
    blocks = [
        # A fixed anchor: the heading's id must not depend on the tenant's name, so tenants
        # that differ only in values can share one MkDocs run (tenantdocs.skeleton).
        f'<h1 id="tenant">{_text(tenant_name)}</h1>',
        f"Single sign-on setup guides for **{name}**, with this tenant's own values filled in."
        " Every value below shows where it came from; the button beside a value copies it.",
    ]
    alerts = [(page, values) for page, values in apps if _alerting(values, now)]
    if alerts:
        blocks.append(_home_alert(alerts, now))
    blocks += ["## Apps", _apps_table(apps, now)]
    for page, values in apps:
        blocks += [f"## {escape_prose(page.title)}", _quick_reference(page, values, now)]
    return "\n\n".join(blocks) + "\n"


def _apps_table(apps: Sequence[tuple[Page, ValueSet]], now: datetime) -> str:
    rows = [
        (
            f'<a href="{_attr(_guide_href(page))}">{_text(page.title)}</a>',
            _text(page.category or ""),
            _certificate_summary(values, now),
        )
        for page, values in apps
    ]
    return _panel("td-apps", _table(("App", "Category", "Signing certificate"), rows))


def _certificate_summary(values: ValueSet, now: datetime) -> str:
    if values.certificates:
        return _validity_html(values.certificates[0], now)
    return "none in the metadata" if values.metadata is not None else "no metadata"


def _quick_reference(page: Page, values: ValueSet, now: datetime) -> str:
    """Every value the app's guide uses, the IdP's public values first, with their sources."""
    shown = values.values
    # The IdP's public values are shown even when the guide does not use them, but a value
    # written in the tenant file only where a template uses it (it may be meant for no one).
    keys = [
        key
        for key in HOME_KEYS
        if key in shown and (key in page.keys or shown[key].provenance.origin not in TENANT_FILE)
    ]
    extra = [
        key
        for key in page.keys
        if key in shown
        and key not in keys
        and key != "DisplayName"
        # The certificate rows below show its expiry with the validity period.
        and not (key == "certificateExpiry" and values.certificates)
    ]
    keys += sorted(extra, key=lambda key: _KEY_ORDER.get(key, len(_KEY_ORDER)))
    rows = [_value_row(shown[key], values.metadata, "") for key in keys]
    rows += _certificate_rows(values.certificates, values.metadata, now)
    table = _table(("Setting", "Value", "Source"), rows)
    guide = f'<p><a href="{_attr(_guide_href(page))}">Open the {_text(page.title)} guide</a></p>'
    return _panel("td-quickref", table + "\n" + guide)


def _certificate_rows(
    certificates: Sequence[Certificate], metadata: LoadedMetadata | None, now: datetime
) -> list[tuple[str, str, str]]:
    if not certificates:
        return []
    primary = certificates[0]
    source = _text(_metadata_source("signing certificate", metadata))
    rows = [
        ("Certificate subject", _text(primary.subject), source),
        ("Certificate valid", _validity_html(primary, now), source),
    ]
    if len(certificates) > 1:
        others = ", ".join(c.thumbprint for c in certificates[1:])
        rows.append(
            (
                "Other signing certificates",
                _text(f"{len(certificates) - 1} more in the metadata (thumbprint {others})"),
                source,
            )
        )
    return rows


def _home_alert(alerts: Sequence[tuple[Page, ValueSet]], now: datetime) -> str:
    states = {certificate_state(values.certificates[0], now) for _, values in alerts}
    kind = "danger" if CertificateState.EXPIRED in states else "warning"
    items = "".join(
        f'<li><a href="{_attr(_guide_href(page))}">{_text(page.title)}</a>: '
        f"{_text(_state_sentence(values.certificates[0], now))}</li>"
        for page, values in alerts
    )
    return (
        f'<div class="admonition {kind} td-alert">\n'
        '<p class="admonition-title">Signing certificates need attention</p>\n'
        f"<ul>{items}</ul>\n"
        "</div>"
    )


# --- a guide's closing section ----------------------------------------------------------


def add_guide_panels(page: Page, values: ValueSet, now: datetime) -> Page:
    """The guide with a certificate warning on top (when due) and "About these values" after.

    The closing section has the app's published files (certificate and metadata downloads)
    and its signing certificates, which are public, and a panel saying where each value of
    the page came from. That panel shows only keys the page's templates use: a value no
    template of the page uses (say, a tenant-wide setting meant for other guides) never
    appears on it.
    """
    page_dir = posixpath.dirname(page.docs_path)
    section = [ABOUT_HEADING]
    downloads = _downloads(values, page_dir)
    if downloads or values.certificates:
        section.append(_certificate_panel(downloads, values.certificates, now))
    section.append(_provenance_panel(page, values, page_dir))
    markdown = join_parts([page.markdown, "\n\n".join(section) + "\n"])
    if _alerting(values, now):
        # The warning goes first, after the YAML front matter that MkDocs reads there.
        meta = _FRONT_MATTER.match(markdown)
        at = meta.end() if meta else 0
        alert = _guide_alert(page.title, values.certificates[0], now)
        markdown = f"{markdown[:at]}{alert}\n\n{markdown[at:]}"
    return replace(page, markdown=markdown)


_FRONT_MATTER = re.compile(r"---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*\r?\n", re.DOTALL)


ABOUT_HEADING = "## About these values"
"""The heading of the section every guide ends with."""

DOWNLOAD_KEYS = (
    ("certificateDownloadBase64Url", "Signing certificate (Base64)"),
    ("CertificateDownloadRawUrl", "Signing certificate (raw)"),
    ("metadataDownloadUrl", "Federation metadata (XML)"),
)


def _downloads(values: ValueSet, page_dir: str) -> str:
    """Links to the app's published certificate and metadata files (not external URLs)."""
    links = [
        f'<a href="{_attr(link_href(value, page_dir))}">{_text(label)}</a>'
        for key, label in DOWNLOAD_KEYS
        if (value := values.values.get(key)) is not None and value.site_path is not None
    ]
    return f"<p><strong>Downloads:</strong> {' · '.join(links)}</p>" if links else ""


def _certificate_panel(downloads: str, certificates: Sequence[Certificate], now: datetime) -> str:
    """The downloads, then one table per signing certificate (the first is the published one)."""
    parts = [downloads] if downloads else []
    for index, certificate in enumerate(certificates):
        head = "Signing certificate" if index == 0 else "Also in the metadata"
        rows = [
            ("Subject", _text(certificate.subject)),
            ("Thumbprint (SHA-1)", _code(certificate.thumbprint)),
            ("Valid from", _text(_date(certificate.not_before))),
            (
                "Valid until",
                f"{_text(_date(certificate.not_after))}"
                f" {_status_html(certificate_state(certificate, now))}",
            ),
        ]
        base64_name, raw_name = certificate_files(index)  # published beside the guide
        rows.append(
            (
                "Download",
                f'<a href="{_attr(base64_name)}">Base64 (.cer)</a> ·'
                f' <a href="{_attr(raw_name)}">raw (.cer)</a>',
            )
        )
        parts.append(_table((head, ""), rows))
    return _panel("td-certificates", "\n".join(parts))


def _provenance_panel(page: Page, values: ValueSet, page_dir: str) -> str:
    rows = [
        _value_row(values.values[key], values.metadata, page_dir)
        for key in sorted(page.keys, key=lambda key: _KEY_ORDER.get(key, len(_KEY_ORDER)))
        if key in values.values
    ]
    notes = []
    if values.metadata is not None:
        source, digest = metadata_identity(values.metadata)
        notes.append(
            f"Built from the federation metadata <code>{_text(source)}</code>"
            f" (SHA-256 <code>{_text(digest)}</code>)."
        )
    notes.append(
        f"Built by tenantdocs {_text(__version__)}; certificate warnings are judged on the day"
        " the site was built."
    )
    body = _table(("Setting", "Value", "Source"), rows) + "".join(
        f"\n<p>{note}</p>" for note in notes
    )
    return (
        '<details class="info td-provenance">\n'
        "<summary>Where these values come from</summary>\n"
        f"{body}\n"
        "</details>"
    )


def _guide_alert(title: str, certificate: Certificate, now: datetime) -> str:
    state = certificate_state(certificate, now)
    kind = "danger" if state is CertificateState.EXPIRED else "warning"
    headline = {
        CertificateState.EXPIRED: "The signing certificate has expired",
        CertificateState.EXPIRING: "The signing certificate expires soon",
        CertificateState.NOT_YET_VALID: "The signing certificate is not valid yet",
    }[state]
    advice = {
        CertificateState.EXPIRED: f"Sign-in to {title} fails until a new certificate is"
        f" active in your identity provider and uploaded to {title}.",
        CertificateState.EXPIRING: "Renew it in your identity provider and upload the new"
        f" certificate to {title} before then, or sign-in will fail.",
        CertificateState.NOT_YET_VALID: "Check the identity provider's certificate rollover"
        " before you upload it.",
    }[state]
    return (
        f'<div class="admonition {kind} td-alert">\n'
        f'<p class="admonition-title">{_text(headline)}</p>\n'
        f"<p>The signing certificate in the federation metadata of {_text(title)}"
        f" {_text(_state_sentence(certificate, now))}. {_text(advice)}</p>\n"
        "</div>"
    )


# --- shared pieces ----------------------------------------------------------------------


def _alerting(values: ValueSet, now: datetime) -> bool:
    """Whether the app's published certificate needs a warning."""
    return bool(values.certificates) and (
        certificate_state(values.certificates[0], now) is not CertificateState.VALID
    )


def _state_sentence(certificate: Certificate, now: datetime) -> str:
    match certificate_state(certificate, now):
        case CertificateState.EXPIRED:
            return f"expired on {_date(certificate.not_after)}"
        case CertificateState.EXPIRING:
            days = EXPIRY_WARNING.days
            return f"expires on {_date(certificate.not_after)}, within {days} days"
        case CertificateState.NOT_YET_VALID:
            return f"is not valid before {_date(certificate.not_before)}"
        case CertificateState.VALID:
            return f"is valid until {_date(certificate.not_after)}"
    raise AssertionError(certificate)  # pragma: no cover - every state is handled above


def _validity_html(certificate: Certificate, now: datetime) -> str:
    period = f"{_date(certificate.not_before)} to {_date(certificate.not_after)}"
    return f"{_text(period)} {_status_html(certificate_state(certificate, now))}"


def _status_html(state: CertificateState) -> str:
    modifier = state.name.lower().replace("_", "-")
    return f'<span class="td-status td-status--{modifier}">{_text(state.value)}</span>'


def _value_row(
    value: ResolvedValue, metadata: LoadedMetadata | None, page_dir: str
) -> tuple[str, str, str]:
    label = KEY_LABELS.get(value.key, value.key)
    return (
        f'{_text(label)}<br><small class="td-key">{_text(value.key)}</small>',
        _value_html(value, page_dir),
        _text(provenance_text(value, metadata)),
    )


def _value_html(value: ResolvedValue, page_dir: str) -> str:
    """A value in a panel: a link to a published file, a copyable code element, or text."""
    if value.site_path is not None:
        name = posixpath.basename(value.site_path)
        return f'<a href="{_attr(link_href(value, page_dir))}">{_text(name)}</a>'
    if value.key in COPYABLE_KEYS:
        return _code(value.text)
    return _text(value.text)


def provenance_text(value: ResolvedValue, metadata: LoadedMetadata | None) -> str:
    """Where a value came from, in a few words: its source and file:line or metadata element."""
    provenance = value.provenance
    match provenance.origin:
        case Origin.METADATA:
            return _metadata_source(provenance.detail, metadata)
        case Origin.DERIVED:
            return f"{provenance.detail or 'derived'}, {_file_line(provenance.location)}"
        case _:
            return f"{provenance.origin.value}, {_file_line(provenance.location)}"


def _file_line(location: Location) -> str:
    """``path:line`` (no column: admins look for the line)."""
    path = display_path(location.path)
    return f"{path}:{location.line}" if location.line else path


def metadata_identity(metadata: LoadedMetadata) -> tuple[str, str]:
    """Which metadata a page was built from: its file or URL, and its SHA-256 (hex).

    The fetch time is left out: a document the server confirms unchanged must not change
    the pages, or every refresh would rebuild every tenant. The reports have it.
    """
    return metadata.source, hashlib.sha256(metadata.document.raw).hexdigest()


def _metadata_source(detail: str, metadata: LoadedMetadata | None) -> str:
    """``federation metadata, <element>``; the document itself is named once per page."""
    if metadata is not None:
        detail = detail.removeprefix(f"{metadata.detail}: ")
    return f"federation metadata, {detail}"


def _guide_href(page: Page) -> str:
    """The guide's URL from the site root: ``a b/index.md`` → ``a%20b/index.html``."""
    return quote(page.docs_path.removesuffix(".md") + ".html")


def _date(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _text(text: str) -> str:
    return html.escape(text, quote=False)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _code(text: str) -> str:
    return f'<code class="{VALUE_CLASS}">{_text(text)}</code>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A raw HTML table; ``head`` is plain text, cells are HTML already escaped."""
    header = "".join(f"<th>{_text(cell)}</th>" for cell in head)
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _panel(name: str, body: str) -> str:
    return f'<div class="td-panel {name}">\n{body}\n</div>'
