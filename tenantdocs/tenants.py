"""Tenant files: ``tenants/<slug>.yml`` parsed and validated into :class:`Tenant` objects.

Pure: text in, a tenant (and warnings) out, or a :class:`TenantError` listing every problem
of the file with its line and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import yaml

from tenantdocs.errors import Location, Problem, Severity, TenantError
from tenantdocs.keys import (
    KeyKind,
    did_you_mean,
    lookup_key,
    shorten,
    suggest,
    suggest_key,
    url_problem,
    value_problem,
)
from tenantdocs.yamlfile import Entry, YamlProblem, is_null, load_yaml, scalar_text, scan_entries

DEFAULT_MAX_AGE_DAYS = 7
MAX_PROBLEMS_PER_FILE = 100
"""A hostile file could hold a hundred thousand bad keys: report this many, then a count."""
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Setting:
    """A value from a tenant file with where it was written."""

    value: str
    """The value exactly as written."""
    location: Location
    """File, line and column of the value."""


@dataclass(frozen=True, slots=True)
class MetadataSource:
    """Where an app's federation metadata comes from (at most one of the three)."""

    metadata_file: Setting | None = None
    """A local XML file, relative to the tenants folder."""
    metadata_url: Setting | None = None
    """Any SAML IdP's metadata URL (fetched; HTTPS only)."""
    entity_id: Setting | None = None
    """Which IdP to use when the document holds several."""


@dataclass(frozen=True, slots=True)
class AppEntry:
    """One app listed under ``apps:`` in a tenant file."""

    name: str
    """The app folder name in the templates."""
    location: Location
    """Where the entry's key is written."""
    app_id: Setting | None = None
    """The enterprise application's ID (gives the App Federation Metadata URL)."""
    source: MetadataSource = field(default_factory=MetadataSource)
    """This app's own metadata source, overriding the tenant-wide one."""
    metadata: Mapping[str, Setting] = field(default_factory=dict)
    """Per-app values by canonical key; they win over everything else."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """One validated tenant file."""

    slug: str
    """The file stem; names the site folder ``site/<slug>/``."""
    path: Path
    """The tenant file."""
    name: Setting
    """The tenant's display name."""
    tenant_id: Setting | None
    """The Entra directory (tenant) ID, from which Entra URLs are derived."""
    source: MetadataSource
    """The tenant-wide metadata source, used by apps without their own."""
    metadata: Mapping[str, Setting]
    """Tenant-wide values by canonical key."""
    apps: Mapping[str, AppEntry] | None
    """Listed apps, or None for every app in the templates."""
    allow_expired_certificate: bool = False
    """Publish even when every signing certificate has expired (default: an error)."""
    metadata_max_age_days: int = DEFAULT_MAX_AGE_DAYS
    """How old a cached metadata copy may be and still stand in for a failed fetch."""

    def app_names(self, available: Collection[str]) -> list[str]:
        """The apps this tenant's site contains, sorted."""
        return sorted(self.apps) if self.apps is not None else sorted(available)

    def listed_entry(self, app: str) -> AppEntry | None:
        """The tenant file's entry for ``app``, or None when it does not list it (cheap:
        asked for every app of every tenant, even by a no-op rebuild)."""
        return self.apps.get(app) if self.apps is not None else None

    def app_entry(self, app: str) -> AppEntry:
        """The tenant's entry for ``app`` (an empty one when ``apps:`` is omitted)."""
        return self.listed_entry(app) or AppEntry(app, Location(self.path))


_TOP_KEYS = (
    "name",
    "tenant_id",
    "metadata",
    "metadata_file",
    "metadata_url",
    "entity_id",
    "apps",
    "allow_expired_certificate",
    "metadata_max_age_days",
)
_APP_KEYS = ("app_id", "metadata", "metadata_file", "metadata_url", "entity_id")


class _Collector:
    """Gathers problems so one pass reports all of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def error(self, location: Location, message: str) -> None:
        self.problems.append(Problem(location, message))

    def warn(self, location: Location, message: str) -> None:
        self.problems.append(Problem(location, message, Severity.WARNING))

    def entries(self, node: yaml.Node, what: str) -> Iterator[Entry]:
        """A mapping's entries; an odd or repeated key is recorded and skipped, the rest go on."""
        for item in scan_entries(node, self.path, what):
            if isinstance(item, Problem):
                self.problems.append(item)
            else:
                yield item

    def text(
        self, entry: Entry, check: Callable[[str], str | None] | None = None
    ) -> Setting | None:
        """The entry's single value, checked; None (with a problem recorded) if invalid."""
        try:
            value = scalar_text(entry.value, self.path, f"'{entry.key}'")
        except YamlProblem as exc:
            self.problems.append(exc.problem)
            return None
        location = Location(
            self.path, entry.value.start_mark.line + 1, entry.value.start_mark.column + 1
        )
        message = value_problem(value) or (check(value) if check else None)
        if message:
            self.error(location, f"'{entry.key}': {message}")
            return None
        return Setting(value, location)


def _bool_problem(value: str) -> str | None:
    return None if value.lower() in ("true", "false") else "must be true or false"


def _days_problem(value: str) -> str | None:
    return (
        None if value.isdigit() and 0 < int(value) <= 3650 else "must be a number of days (1-3650)"
    )


def _guid_problem(value: str) -> str | None:
    return None if _GUID.fullmatch(value) else f"'{shorten(value)}' is not a GUID"


def _relative_path_problem(value: str) -> str | None:
    path = Path(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value:
        return "must be a path inside the tenants folder (no absolute path, no '..')"
    return None


def parse_tenant(text: str, path: Path, app_names: Collection[str]) -> tuple[Tenant, list[Problem]]:
    """Validate one tenant file; return the tenant and its warnings or raise TenantError."""
    out = _Collector(path)
    slug = path.stem
    if not SLUG.fullmatch(slug):
        out.error(
            Location(path),
            f"tenant file name '{path.name}' must be a slug: lowercase letters, digits, '-' and"
            " '_', at most 64 characters, starting with a letter or digit",
        )
    try:
        root = load_yaml(text, path)
    except YamlProblem as exc:
        raise TenantError([*out.problems, exc.problem]) from None
    if root is None or is_null(root):  # no document, or only '---' and comments
        raise TenantError([*out.problems, Problem(Location(path), "tenant file is empty")])

    name: Setting | None = None
    tenant_id: Setting | None = None
    metadata: Mapping[str, Setting] = {}
    apps: dict[str, AppEntry] | None = None
    source_entries: list[Entry] = []
    name_given = False
    allow_expired = False
    max_age = DEFAULT_MAX_AGE_DAYS
    for entry in out.entries(root, "a tenant file"):
        if entry.key == "name":
            name_given = True
            name = out.text(entry)
        elif entry.key == "tenant_id":
            tenant_id = out.text(entry, _guid_problem)
        elif entry.key == "metadata":
            metadata = _parse_metadata(out, entry)
        elif entry.key in ("metadata_file", "metadata_url", "entity_id"):
            source_entries.append(entry)
        elif entry.key == "apps":
            apps = _parse_apps(out, entry, app_names)
        elif entry.key == "allow_expired_certificate":
            setting = out.text(entry, _bool_problem)
            allow_expired = setting is not None and setting.value.lower() == "true"
        elif entry.key == "metadata_max_age_days":
            setting = out.text(entry, _days_problem)
            max_age = int(setting.value) if setting else max_age
        else:
            _unknown(out, entry, _TOP_KEYS, "tenant file")
    source = _parse_source(out, source_entries)
    if not name_given:
        out.error(Location(path, 1, 1), "missing required key 'name'")

    errors = [p for p in out.problems if p.severity is Severity.ERROR]
    if errors or name is None:
        raise TenantError([_with_tenant(p, slug) for p in _capped(out.problems, path)])
    tenant = Tenant(
        slug=slug,
        path=path,
        name=name,
        tenant_id=tenant_id,
        source=source,
        metadata=MappingProxyType(dict(metadata)),
        apps=MappingProxyType(apps) if apps is not None else None,
        allow_expired_certificate=allow_expired,
        metadata_max_age_days=max_age,
    )
    return tenant, [_with_tenant(p, slug) for p in out.problems]


def _capped(problems: list[Problem], path: Path) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS_PER_FILE:
        return problems
    more = len(problems) - MAX_PROBLEMS_PER_FILE
    return [
        *problems[:MAX_PROBLEMS_PER_FILE],
        Problem(Location(path), f"{more} more problems in this file are not shown"),
    ]


def _with_tenant(problem: Problem, slug: str) -> Problem:
    return replace(problem, tenant=slug)


def _unknown(out: _Collector, entry: Entry, known: tuple[str, ...], where: str) -> None:
    out.error(
        entry.location,
        f"unknown key '{shorten(entry.key)}' in {where}" + did_you_mean(suggest(entry.key, known)),
    )


def _parse_metadata(out: _Collector, entry: Entry) -> dict[str, Setting]:
    values: dict[str, Setting] = {}
    if is_null(entry.value):
        return values
    for item in out.entries(entry.value, "'metadata'"):
        spec = lookup_key(item.key)
        if spec is None:
            out.error(
                item.location,
                f"unknown metadata key '{shorten(item.key)}'" + did_you_mean(suggest_key(item.key)),
            )
            continue
        if item.key != spec.name:
            out.warn(item.location, f"'{item.key}' is a non-canonical spelling of '{spec.name}'")
        if spec.name in values:
            out.error(item.location, f"'{item.key}' repeats key '{spec.name}'")
            continue
        setting = out.text(item, url_problem if spec.kind is KeyKind.URL else None)
        if setting is not None:
            values[spec.name] = setting
    return values


def _parse_source(out: _Collector, found: list[Entry]) -> MetadataSource:
    settings: dict[str, Setting | None] = {}
    for entry in found:
        check = {
            "metadata_file": _relative_path_problem,
            "metadata_url": _metadata_url_problem,
            "entity_id": None,
        }[entry.key]
        settings[entry.key] = out.text(entry, check)
    if "metadata_file" in settings and "metadata_url" in settings:
        later = max(
            (e for e in found if e.key in ("metadata_file", "metadata_url")),
            key=lambda e: e.location,
        )
        out.error(later.location, "give either 'metadata_file' or 'metadata_url', not both")
    return MetadataSource(
        metadata_file=settings.get("metadata_file"),
        metadata_url=settings.get("metadata_url"),
        entity_id=settings.get("entity_id"),
    )


def _metadata_url_problem(value: str) -> str | None:
    # Loopback http for tests is decided where the URL is fetched, not here.
    if value.lower().startswith("http://"):
        return None
    return url_problem(value)


def _parse_apps(out: _Collector, entry: Entry, app_names: Collection[str]) -> dict[str, AppEntry]:
    apps: dict[str, AppEntry] = {}
    if is_null(entry.value):
        return apps
    for item in out.entries(entry.value, "'apps'"):
        if item.key not in app_names:
            out.error(
                item.location,
                f"unknown app '{shorten(item.key)}': there is no such folder in the templates"
                + did_you_mean(suggest(item.key, sorted(app_names))),
            )
            continue
        app_id: Setting | None = None
        metadata: dict[str, Setting] = {}
        source_entries: list[Entry] = []
        if not is_null(item.value):
            for sub in out.entries(item.value, f"app '{item.key}'"):
                if sub.key == "app_id":
                    app_id = out.text(sub, _guid_problem)
                elif sub.key == "metadata":
                    metadata = _parse_metadata(out, sub)
                elif sub.key in ("metadata_file", "metadata_url", "entity_id"):
                    source_entries.append(sub)
                else:
                    _unknown(out, sub, _APP_KEYS, f"app '{item.key}'")
        apps[item.key] = AppEntry(
            name=item.key,
            location=item.location,
            app_id=app_id,
            source=_parse_source(out, source_entries),
            metadata=MappingProxyType(metadata),
        )
    return apps
