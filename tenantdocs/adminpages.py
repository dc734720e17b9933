"""The pages admins read around the guides: the tenant home and each guide's panels.

The tenant home shows once, at the top, the values that are the same for every app (the
sign-on URL, the entity ID… when they agree), each with a copy button and where it came
from; then one compact table of the apps with what differs between them: the signing
certificate and its expiry, the app's downloads and its own values. Apps whose certificate
needs attention come first. Each guide ends with an "About these values" section: the app's
downloads, its signing certificates (subject, thumbprint, validity) and a panel saying where
every value on the page came from. A certificate that has expired, expires within
:data:`~tenantdocs.certificates.EXPIRY_WARNING` or is not valid yet puts a warning at the
top of the guide and of the home page.

Python decides what appears (pure: pages, values and "now" in, Markdown out); the package
templates ``tenantdocs/assets/*.md`` decide how it looks. They are rendered with
autoescaping, so every value from a tenant file or metadata is escaped by default; headings
are Markdown (written with the ``prose`` filter, :func:`~tenantdocs.render.escape_prose`, so
they reach the table of contents and search) and the panels raw HTML blocks, which look the
same whatever Markdown extensions a base configuration enables. Values an admin copies are
``<code class="td-value">`` elements, which the site's script gives a copy button.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from tenantdocs import __version__
from tenantdocs.certificates import (
    EXPIRY_WARNING,
    Certificate,
    CertificateState,
    certificate_state,
    shown_time,
)
from tenantdocs.errors import display_path
from tenantdocs.keys import KEYS, key_order, key_spec
from tenantdocs.render import Page, escape_prose, html_block, join_parts, link_href
from tenantdocs.values import (
    Origin,
    ResolvedValue,
    ValueSet,
    certificate_files,
    metadata_identity,
)

TENANT_FILE = (Origin.TENANT_FILE, Origin.APP_ENTRY)
"""Origins of values written in a tenant file."""

ABOUT_HEADING = "## About these values"
"""The heading of the section every guide ends with."""

_DOWNLOADS = sorted(
    (spec for spec in KEYS if spec.download is not None),
    key=lambda spec: spec.download.position if spec.download else 0,
)
_FRONT_MATTER = re.compile(r"---[ \t]*\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*\r?\n", re.DOTALL)


# --- what the templates are given -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """A value as a page shows it."""

    text: str
    """The value, or for a published file its file name."""
    href: str | None = None
    """For a published file: the link to it, relative to the page."""
    copyable: bool = False
    """Marked up as a value admins copy (code with a copy button)."""


@dataclass(frozen=True, slots=True)
class ValueRow:
    """One value with its label and its source."""

    label: str
    """What admins call it."""
    key: str
    """The canonical key, shown under the label."""
    shown: Shown
    """The value."""
    source: str
    """Where it came from, in a few words (sources, when several apps agree on it)."""


@dataclass(frozen=True, slots=True)
class CertificateView:
    """A signing certificate as the pages describe it."""

    subject: str
    """The subject distinguished name."""
    thumbprint: str
    """SHA-1 thumbprint, upper-case hex."""
    not_before: str
    """Start of validity, ``YYYY-MM-DD HH:MM:SS UTC``."""
    not_after: str
    """End of validity, same format."""
    expiry_date: str
    """End of validity, the day only (the home's table)."""
    state: CertificateState
    """Its validity when the site is built."""


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a page."""

    href: str
    """Where it goes (already a URL: percent-encoded, relative)."""
    text: str
    """The link text."""


@dataclass(frozen=True, slots=True)
class CertificateTable:
    """One signing certificate on a guide, with its download links."""

    head: str
    """``Signing certificate`` for the published one, ``Also in the metadata`` for others."""
    certificate: CertificateView
    """The certificate."""
    base64: str
    """The Base64 file's name, published beside the guide."""
    raw: str
    """The raw (DER) file's name."""


@dataclass(frozen=True, slots=True)
class AppRow:
    """One app in the home's table: its guide and what differs from the other apps."""

    guide: Link
    """The app's guide."""
    certificate: CertificateView | None
    """Its published signing certificate (None: see ``no_certificate``)."""
    no_certificate: str
    """Why there is none: no metadata, or none in the metadata."""
    downloads: tuple[Link, ...]
    """Its published files."""
    values: tuple[ValueRow, ...]
    """Its values that are not the same for every app."""


@dataclass(frozen=True, slots=True)
class Alert:
    """An app whose published signing certificate needs attention."""

    guide: Link
    """The app's guide."""
    certificate: CertificateView
    """The certificate."""


# --- the tenant's home page ------------------------------------------------------------


def render_home(
    tenant_name: str, pages: Sequence[Page], value_sets: Sequence[ValueSet], now: datetime
) -> str:
    """The tenant's home: warnings, the values every app shares, then a table of the apps."""
    apps = sorted(
        zip(pages, value_sets, strict=True),
        key=lambda pair: (pair[0].title.casefold(), pair[0].docs_path),
    )
    shown = [_home_values(page, values) for page, values in apps]
    shared_keys = _shared_keys(shown)
    shared = [
        ValueRow(
            key_spec(key).label,
            key,
            _shown(shown[0][key], ""),
            _sources(sorted({provenance_text(keys[key]) for keys in shown})),
        )
        for key in shared_keys
    ]
    primaries = {values.certificates[0].sha256 for _, values in apps if values.certificates}
    one_certificate = len(primaries) == 1 and all(values.certificates for _, values in apps)
    rows = [
        _app_row(page, values, keys, shared_keys, now)
        for (page, values), keys in zip(apps, shown, strict=True)
    ]
    # Certificates that need attention first, the one due soonest on top.
    rows.sort(key=_attention_first)
    alerts = [
        Alert(row.guide, row.certificate)
        for row in rows
        if row.certificate is not None and row.certificate.state is not CertificateState.VALID
    ]
    certificate = rows[0].certificate if one_certificate and rows else None
    return _template("home.md").render(
        tenant_name=tenant_name,
        alerts=alerts,
        danger=any(alert.certificate.state is CertificateState.EXPIRED for alert in alerts),
        shared=shared,
        certificate=certificate,
        certificate_source=_metadata_source("signing certificate"),
        apps=rows,
        show_certificates=not one_certificate and any(row.certificate for row in rows),
        show_downloads=any(row.downloads for row in rows),
        show_values=any(row.values for row in rows),
    )


def _home_values(page: Page, values: ValueSet) -> dict[str, ResolvedValue]:
    """The values of an app the home may show, by key, in the order admins read them.

    The IdP's public values are shown even when the guide does not use them, but a value
    written in the tenant file only where a template uses it (it may be meant for no one).
    The certificate's thumbprint and expiry from the metadata are shown with the certificate.
    App defaults (``app.yml``) are the same for every tenant: the guide shows them. The
    app's name is the link to its guide.
    """
    shown = values.values
    keys = [
        key
        for key, value in shown.items()
        if value.provenance.origin is not Origin.APP_DEFAULT
        and key != "DisplayName"  # the link to the guide
        and (
            key in page.keys
            or (key_spec(key).on_home and value.provenance.origin not in TENANT_FILE)
        )
        and not (
            key in ("certificateThumbprint", "certificateExpiry")
            and value.provenance.origin is Origin.METADATA
            and values.certificates
        )
    ]
    return {key: shown[key] for key in sorted(keys, key=key_order)}


MAX_SOURCES = 3
"""Sources named for a shared value; the rest are counted (each guide names its own)."""


def _sources(sources: Sequence[str]) -> str:
    if len(sources) <= MAX_SOURCES:
        return "; ".join(sources)
    more = len(sources) - MAX_SOURCES
    return "; ".join(sources[:MAX_SOURCES]) + f"; and {more} more (each guide names its own)"


def _shared_keys(shown: Sequence[dict[str, ResolvedValue]]) -> list[str]:
    """Keys every app shows with the same value (published files are each app's own)."""
    if not shown:
        return []
    return [
        key
        for key, first in shown[0].items()
        if first.site_path is None
        and all(
            key in keys and keys[key].text == first.text and keys[key].site_path is None
            for keys in shown
        )
    ]


def _app_row(
    page: Page,
    values: ValueSet,
    keys: dict[str, ResolvedValue],
    shared: Sequence[str],
    now: datetime,
) -> AppRow:
    downloads = tuple(
        Link(quote(value.site_path), spec.download.home)
        for spec in _DOWNLOADS
        if spec.download is not None
        and spec.download.home is not None
        and (value := keys.get(spec.name)) is not None
        and value.site_path is not None
    )
    own = tuple(
        _value_row(value, "")
        for key, value in keys.items()
        if key not in shared and value.site_path is None
    )
    certificate = _view(values.certificates[0], now) if values.certificates else None
    return AppRow(
        _guide_link(page),
        certificate,
        "none in the metadata" if values.metadata is not None else "no metadata",
        downloads,
        own,
    )


def _attention_first(row: AppRow) -> tuple[bool, str, str, str]:
    certificate = row.certificate
    if certificate is None or certificate.state is CertificateState.VALID:
        return (True, "", row.guide.text.casefold(), row.guide.href)
    return (False, certificate.not_after, row.guide.text.casefold(), row.guide.href)


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
    downloads = [
        Link(link_href(value, page_dir), spec.download.label)
        for spec in _DOWNLOADS
        if spec.download is not None
        and (value := values.values.get(spec.name)) is not None
        and value.site_path is not None
    ]
    certificates = []
    for index, certificate in enumerate(values.certificates):
        base64_name, raw_name = certificate_files(index)  # published beside the guide
        head = "Signing certificate" if index == 0 else "Also in the metadata"
        certificates.append(CertificateTable(head, _view(certificate, now), base64_name, raw_name))
    rows = [
        _value_row(values.values[key], page_dir)
        for key in sorted(page.keys, key=key_order)
        if key in values.values
    ]
    section = _about_section(
        tuple(downloads),
        tuple(certificates),
        tuple(rows),
        metadata_identity(values.metadata) if values.metadata is not None else None,
    )
    markdown = join_parts([page.markdown, section])
    if _alerting(values, now):
        # The warning goes first, after the YAML front matter that MkDocs reads there.
        meta = _FRONT_MATTER.match(markdown)
        at = meta.end() if meta else 0
        alert = _template("guide_alert.md").render(
            title=page.title, certificate=_view(values.certificates[0], now)
        )
        markdown = f"{markdown[:at]}{alert}\n{markdown[at:]}"
    return replace(page, markdown=markdown)


@functools.lru_cache(maxsize=256)
def _about_section(
    downloads: tuple[Link, ...],
    certificates: tuple[CertificateTable, ...],
    rows: tuple[ValueRow, ...],
    metadata: tuple[str, str] | None,
) -> str:
    """A guide's closing section. The apps of a tenant often have the same values from the
    same place (one IdP for all): their sections are rendered once."""
    return _template("about.md").render(
        heading=ABOUT_HEADING,
        downloads=downloads,
        certificates=certificates,
        rows=rows,
        metadata=metadata,
        version=__version__,
    )


# --- shared pieces ----------------------------------------------------------------------


def provenance_text(value: ResolvedValue) -> str:
    """Where a value came from, in a few words: its source and file:line or metadata element.

    The metadata document itself is named once per page, under the panel.
    """
    provenance = value.provenance
    place = provenance_place(value)
    match provenance.origin:
        case Origin.METADATA:
            return _metadata_source(provenance.element)
        case Origin.DERIVED:
            return f"{provenance.detail or 'derived'}, {place}"
        case _:
            return f"{provenance.origin.value}, {place}"


def provenance_place(value: ResolvedValue) -> str | None:
    """The ``path:line`` that :func:`provenance_text` shows for a value (no column: admins
    look for the line); None for a value from metadata, shown by its element."""
    if value.provenance.origin is Origin.METADATA:
        return None
    location = value.provenance.location
    path = display_path(location.path)
    return f"{path}:{location.line}" if location.line else path


def _metadata_source(element: str) -> str:
    return f"federation metadata, {element}"


def _alerting(values: ValueSet, now: datetime) -> bool:
    """Whether the app's published certificate needs a warning."""
    return bool(values.certificates) and (
        certificate_state(values.certificates[0], now) is not CertificateState.VALID
    )


def _view(certificate: Certificate, now: datetime) -> CertificateView:
    return CertificateView(
        certificate.subject,
        certificate.thumbprint,
        shown_time(certificate.not_before),
        shown_time(certificate.not_after),
        f"{certificate.not_after:%Y-%m-%d}",
        certificate_state(certificate, now),
    )


def _value_row(value: ResolvedValue, page_dir: str) -> ValueRow:
    return ValueRow(
        key_spec(value.key).label, value.key, _shown(value, page_dir), provenance_text(value)
    )


def _shown(value: ResolvedValue, page_dir: str) -> Shown:
    """A value in a panel: a link to a published file, a copyable code element, or text."""
    if value.site_path is not None:
        return Shown(posixpath.basename(value.site_path), link_href(value, page_dir))
    return Shown(value.text, copyable=key_spec(value.key).copyable)


def _guide_link(page: Page) -> Link:
    """The guide from the site root: ``a b/index.md`` → ``a%20b/index.html``."""
    return Link(quote(page.docs_path.removesuffix(".md") + ".html"), page.title)


@cache
def _environment() -> jinja2.Environment:
    """The package templates, autoescaped; built once per process (it holds no state)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tenantdocs", "assets"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["prose"] = lambda text: Markup(escape_prose(str(text)))
    env.filters["html_block"] = lambda block: Markup(html_block(str(block)))
    env.globals["states"] = CertificateState
    env.globals["warning_days"] = EXPIRY_WARNING.days
    return env


def _template(name: str) -> jinja2.Template:
    return _environment().get_template(name)
