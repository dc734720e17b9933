"""The templates folder: shared parts, app folders, app defaults and the base site config.

``load_templates`` is the edge that reads the folder; the rest is pure. Problems in the
templates concern every tenant, so they are collected for the whole folder and raised as
one :class:`TemplateError`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from tenantdocs.errors import Location, Problem, Severity, TemplateError, decode_utf8
from tenantdocs.keys import (
    KeyKind,
    did_you_mean,
    lookup_key,
    suggest_key,
    url_problem,
    value_problem,
)
from tenantdocs.mdparser import Parses, markdown_parser
from tenantdocs.placeholders import (
    ScannedTemplate,
    line_starts,
    locate,
    placeholder_problems,
    scan_template,
)
from tenantdocs.rewrite import relative_targets, resolve_reference, rewrite_markdown
from tenantdocs.yamlfile import YamlProblem, entries, is_null, load_yaml, scalar_text

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

GUIDE = "sso_configure.md"
PREFIX = "sso_prefix.md"
SUFFIX = "sso_suffix.md"
APP_FILE = "app.yml"
GALLERY_FILE = "metadata.json"
SHARED = "_"
BASE_CONFIGS = ("mkdocs.yml", "mkdocs.yaml")
_NOT_ASSETS = {GUIDE, APP_FILE, GALLERY_FILE}
_BAD_APP_NAME = re.compile(r"[\x00-\x1f\x7f/\\#?%]")


@dataclass(frozen=True, slots=True)
class AppDefault:
    """An app-level default value and where it was written."""

    value: str
    """The value."""
    location: Location
    """The app file (and line) it comes from; the folder itself for a derived DisplayName."""


@dataclass(frozen=True, slots=True)
class App:
    """One app folder: its guide (or the shared fallback), defaults and assets."""

    name: str
    """The folder name; names the page folder ``site/<slug>/<name>/``."""
    folder: Path
    """The app folder."""
    guide: ScannedTemplate | None
    """The app's own ``sso_configure.md``, or None to use the shared fallback."""
    defaults: Mapping[str, AppDefault]
    """App-level values by canonical key (``app.yml`` or gallery ``metadata.json``)."""
    category: str | None = None
    """Navigation group from ``app.yml``."""
    assets: tuple[Path, ...] = ()
    """Other files in the folder (images…), relative to it, published beside the guide."""


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """Everything under ``--templates``, scanned and validated."""

    root: Path
    """The templates folder."""
    apps: Mapping[str, App]
    """Apps by folder name."""
    prefix: ScannedTemplate | None
    """``_/sso_prefix.md``: put before every guide."""
    fallback: ScannedTemplate | None
    """``_/sso_configure.md``: the guide of apps without one."""
    suffix: ScannedTemplate | None
    """``_/sso_suffix.md``: put after every guide."""
    base_config_path: Path | None = None
    """Where the base configuration was read from."""
    warnings: tuple[Problem, ...] = ()
    """Non-fatal findings (non-canonical spellings, …)."""

    def parts(self, app: App) -> list[ScannedTemplate]:
        """The template parts of one app's page, in order."""
        guide = app.guide or self.fallback
        return [p for p in (self.prefix, guide, self.suffix) if p is not None]

    def used_keys(self, app: App) -> set[str]:
        """Canonical keys the app's page uses (placeholders and ``metadata.Key`` in Jinja)."""
        used = set()
        for part in self.parts(app):
            used |= {p.key for p in part.placeholders if p.key}
            used |= {spec.name for name, _ in part.metadata_refs if (spec := lookup_key(name))}
        return used


def read_text(path: Path) -> str:
    """Read a UTF-8 text file (a leading BOM is dropped); raise TemplateError if not UTF-8."""
    return decode_utf8(path.read_bytes(), path, TemplateError)


class ScanCache:
    """What scanning each part and each app folder gave, kept from one load to the next
    (``serve``).

    A load looks each app folder up here by the state of its files, and each part by its
    text, and keeps only what it used: an edit reads again just the folders whose files
    changed, re-scans just the parts whose text changed, and the cache never outgrows the
    folder.
    """

    def __init__(self) -> None:
        self.scans: dict[_ScanKey, tuple[ScannedTemplate, tuple[Problem, ...]]] = {}
        """Scanned part and its problems by (path, text, app assets)."""
        self.missing: dict[_MissingKey, tuple[Problem, ...]] = {}
        """:func:`missing_references` by (part path, part text, app name, app assets)."""
        self.apps: dict[Path, tuple[_FolderState, App, tuple[Problem, ...]]] = {}
        """Each app folder's scan and its problems, by the state of the folder's files when
        it was read (:func:`_folder_state`), if that state had settled (:func:`_settled`)."""


_ScanKey = tuple[Path, str, tuple[str, ...]]
_MissingKey = tuple[Path, str, str, tuple[Path, ...]]


def load_templates(root: Path, cache: ScanCache | None = None) -> TemplateSet:
    """Read and validate the templates folder; raise TemplateError listing every problem.

    With a ``cache`` (kept by the caller between loads), parts whose text did not change
    are not scanned again.
    """
    templates, problems = scan_templates(root, cache)
    if any(p.severity is Severity.ERROR for p in problems):
        raise TemplateError(problems)
    return templates


def scan_templates(root: Path, cache: ScanCache | None = None) -> tuple[TemplateSet, list[Problem]]:
    """Read the templates folder as far as it can be read, with every problem found.

    For ``check``, which goes on past template errors to the tenants: a part that could not
    be read is missing from the set, and an unknown key is left for the report. Raises
    TemplateError only when there is no folder to read. ``cache`` as for :func:`load_templates`.
    """
    scanner = _Scanner(root, cache)
    try:
        folders = scanner.list_apps()
        apps = {name: scanner.app(folder) for name, folder in folders.items()}
        for app in apps.values():
            scanner.references(app)
    finally:
        scanner.keep()
    problems = scanner.problems
    templates = TemplateSet(
        root=root,
        apps=MappingProxyType(apps),
        prefix=scanner.prefix,
        fallback=scanner.fallback,
        suffix=scanner.suffix,
        base_config_path=_base_config(root),
        warnings=tuple(p for p in problems if p.severity is Severity.WARNING),
    )
    return templates, problems


def open_templates(root: Path) -> tuple[TemplateSet, LazyApps]:
    """The templates folder for ``build``: shared parts read now, app folders listed, and
    each app scanned only when a tenant that uses it is planned (a no-op rebuild scans none).

    Raises TemplateError for problems every tenant shares: no folder, the shared parts, the
    app folders' names and links. An app's own problems are :meth:`LazyApps.problems`.
    """
    scanner = _Scanner(root)
    apps = LazyApps(scanner, scanner.list_apps())
    errors = [p for p in scanner.problems if p.severity is Severity.ERROR]
    if errors:
        raise TemplateError(errors)
    templates = TemplateSet(
        root=root,
        apps=apps,
        prefix=scanner.prefix,
        fallback=scanner.fallback,
        suffix=scanner.suffix,
        base_config_path=_base_config(root),
        warnings=tuple(p for p in scanner.problems if p.severity is Severity.WARNING),
    )
    return templates, apps


class LazyApps(Mapping[str, App]):
    """App folders by name, each scanned (guide, app file, references) when first looked up."""

    def __init__(self, scanner: _Scanner, folders: Mapping[str, Path]) -> None:
        self._scanner = scanner
        self._folders = folders
        self._apps: dict[str, App] = {}
        self._problems: dict[str, list[Problem]] = {}

    def __getitem__(self, name: str) -> App:
        if name not in self._apps:
            before = len(self._scanner.problems)
            app = self._scanner.app(self._folders[name])
            self._scanner.references(app)
            self._apps[name] = app
            self._problems[name] = self._scanner.problems[before:]
        return self._apps[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._folders)

    def __len__(self) -> int:
        return len(self._folders)

    def __contains__(self, name: object) -> bool:
        return name in self._folders

    def problems(self, name: str) -> list[Problem]:
        """Every problem found scanning app ``name`` (scanning it now if not yet)."""
        self[name]
        return self._problems[name]

    def scanned(self, name: str) -> tuple[App, tuple[Problem, ...]]:
        """App ``name`` scanned (now if not yet) and its problems, in a form that pickles:
        what a worker process hands back to :meth:`adopt`."""
        app = self[name]
        return replace(app, defaults=dict(app.defaults)), tuple(self._problems[name])

    def adopt(self, name: str, app: App, problems: Sequence[Problem]) -> None:
        """Take app ``name`` as another process scanned it (:meth:`scanned`). (What the
        scanner says once per part names the app, so no two processes say the same.)"""
        if name in self._apps:
            return
        self._apps[name] = replace(app, defaults=MappingProxyType(dict(app.defaults)))
        self._problems[name] = list(problems)
        self._scanner.problems += problems

    def warnings(self) -> tuple[Problem, ...]:
        """The warnings of the shared parts and of every app scanned so far."""
        return tuple(p for p in self._scanner.problems if p.severity is Severity.WARNING)


class _Scanner:
    """Reads parts of one templates folder, collecting problems; shared parts read at once.

    With a :class:`ScanCache`, parts whose text it holds are not scanned again, and
    :meth:`keep` leaves in it only what this scanner used.
    """

    def __init__(self, root: Path, cache: ScanCache | None = None) -> None:
        if not root.is_dir():
            raise TemplateError(Problem(Location(root), "templates folder not found"))
        self.root = root
        self.real_root = root.resolve()
        self.problems: list[Problem] = []
        self._seen: set[tuple[Path, str]] = set()
        self._cache = cache
        self._previous = cache or ScanCache()
        self._kept = ScanCache()
        self._links: dict[str, bool] = {}
        self._targets: dict[str, list[tuple[str, int]]] = {}
        """:func:`relative_targets` of each part's text read so far (from the part's scan)."""
        shared = root / SHARED
        self.prefix, self.fallback, self.suffix = (
            self.scan(shared / name) for name in (PREFIX, GUIDE, SUFFIX)
        )

    @functools.cached_property
    def _parser(self) -> MarkdownIt:
        """The parser every scan shares (made at the first scan: a run may scan nothing)."""
        return markdown_parser()

    def keep(self) -> None:
        """Leave in the cache what this scanner used."""
        if self._cache is not None:
            self._cache.scans, self._cache.missing = self._kept.scans, self._kept.missing
            self._cache.apps = self._kept.apps

    def outside(self, path: Path) -> bool:
        """Whether ``path`` (the root joined with plain names) leads out of the root."""
        # Only a symbolic link below the root can lead out of it, so the path is resolved
        # only when there is one. Walked up as text: this runs for every app file at every
        # load (a preview rebuild lists every app folder).
        root, step = str(self.root), str(path)
        while step != root and len(step) > len(root):
            if self._is_link(step):
                return linked_outside(path, self.real_root)
            step = os.path.dirname(step)  # noqa: PTH120 - text, no Path per level
        return False

    def _is_link(self, path: str) -> bool:
        """Whether ``path`` is a symbolic link, asked once per scanner (an app folder is
        asked about for each of its files)."""
        found = self._links.get(path)
        if found is None:
            try:
                found = stat.S_ISLNK(os.lstat(path).st_mode)
            except (OSError, ValueError):
                found = False
            self._links[path] = found
        return found

    def scan(self, path: Path, assets: tuple[str, ...] = ()) -> ScannedTemplate | None:
        if not path.is_file():
            return None
        if self.outside(path):
            self.problems.append(_link_problem(path))
            return None
        try:
            text = read_text(path)
        except TemplateError as exc:
            self.problems.extend(exc.problems)
            return None
        key = (path, text, assets)
        found = self._previous.scans.get(key)
        if found is None:
            parses = Parses(
                self._parser
            )  # each text of this part parsed once, for every scan of it
            try:
                template = scan_template(
                    text, path, rewrite_markdown(text, assets, parses), parses=parses
                )
                if text not in self._targets:
                    self._targets[text] = relative_targets(text, parses)
            except TemplateError as exc:
                self.problems.extend(exc.problems)
                return None
            found = (template, tuple(placeholder_problems(template)))
        self._kept.scans[key] = found
        self.problems.extend(found[1])
        return found[0]

    def list_apps(self) -> dict[str, Path]:
        """The app folders that may be read, by name (bad names and links are problems)."""
        folders: dict[str, Path] = {}
        for folder in app_folders(self.root):
            if _BAD_APP_NAME.search(folder.name):
                self.problems.append(
                    Problem(
                        Location(folder),
                        "app folder name must not contain control characters, '/', '\\', '#', '?' or '%'",
                    )
                )
                continue
            # An app folder or app file linked elsewhere would publish what is there.
            files = (folder / name for name in (GUIDE, APP_FILE, GALLERY_FILE))
            leaving = [folder] if self.outside(folder) else []
            leaving = leaving or [path for path in files if self.outside(path)]
            if leaving:
                self.problems.extend(_link_problem(path) for path in leaving)
                continue
            folders[folder.name] = folder
        if not folders:
            self.problems.append(
                Problem(
                    Location(self.root),
                    f"no app folders (a folder with {GUIDE} or {APP_FILE}) in the templates",
                )
            )
        return folders

    def app(self, folder: Path) -> App:
        """Scan one app folder: its guide, defaults and assets. With a cache, a folder none
        of whose files changed since the last load is not read again: a preview rebuild
        after one edit reads one folder, not hundreds."""
        state = _folder_state(folder) if self._cache is not None else None
        kept = self._previous.apps.get(folder)
        if state is not None and kept is not None and kept[0] == state:
            self._kept.apps[folder] = kept
            self.problems.extend(kept[2])
            return kept[1]
        first = len(self.problems)
        app = self._read_app(folder)
        if state is not None and _settled(state):
            self._kept.apps[folder] = (state, app, tuple(self.problems[first:]))
        return app

    def _read_app(self, folder: Path) -> App:
        assets = _assets(folder)
        guide = self.scan(folder / GUIDE, tuple(a.as_posix() for a in assets))
        if guide is None and self.fallback is None and not (folder / GUIDE).exists():
            self.problems.append(
                Problem(
                    Location(folder),
                    f"app has no {GUIDE} and there is no shared {SHARED}/{GUIDE} to fall back on",
                )
            )
        defaults, category = _app_defaults(folder, self.problems)
        return App(
            name=folder.name,
            folder=folder,
            guide=guide,
            defaults=MappingProxyType(defaults),
            category=category,
            assets=assets,
        )

    def references(self, app: App) -> None:
        """Warn once per part and message about images and links the app cannot answer."""
        parts = (self.prefix, app.guide or self.fallback, self.suffix)
        for part in (p for p in parts if p is not None):
            key = (part.path, part.text, app.name, app.assets)
            found = self._previous.missing.get(key)
            if found is None:
                targets = self._targets.get(part.text)
                if targets is None:
                    targets = self._targets[part.text] = relative_targets(part.text)
                found = tuple(missing_references(part, app, targets))
            self._kept.missing[key] = found
            for problem in found:
                if (part.path, problem.message) not in self._seen:
                    self._seen.add((part.path, problem.message))
                    self.problems.append(problem)


_FolderState = tuple[tuple[str, int, int, int, int, int], ...]


def _folder_state(folder: Path) -> _FolderState | None:
    """What shows whether anything in an app folder changed: the folder and every entry
    below it (not following links into folders) with its type, inode, size and times of
    change, and for a symbolic link also those of what it leads to; None if unreadable.

    A file's change time (``st_ctime``) is set by the system on every write, rename or link
    and cannot be set back, so a file rewritten with its old size and modification time
    still shows."""
    state: list[tuple[str, int, int, int, int, int]] = []

    def add(name: str, found: os.stat_result) -> None:
        times = (found.st_mtime_ns, found.st_ctime_ns)
        state.append((name, found.st_mode, found.st_ino, found.st_size, *times))

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for item in entries:
            add(prefix + item.name, item.stat(follow_symlinks=False))
            if item.is_symlink():
                try:
                    add("->", Path(item.path).stat())
                except OSError:
                    state.append(("->", 0, 0, 0, 0, 0))  # leads nowhere
            elif item.is_dir(follow_symlinks=False):
                walk(item.path, f"{prefix}{item.name}/")

    try:
        add("", folder.stat())
        walk(str(folder), "")
    except OSError:
        return None
    return tuple(state)


SETTLED_NS = 3_000_000_000
"""How long ago a folder's last change must be for its state to be trusted next time.

File times move in the system clock's coarse steps (milliseconds; two seconds on FAT): a
file written again within the same step, with the same size, would look unchanged. A
folder changed less than this long before its state was taken is read again next time."""


def _settled(state: _FolderState) -> bool:
    """Whether nothing in ``state`` changed within :data:`SETTLED_NS` of now."""
    newest = max(max(item[4], item[5]) for item in state)
    return _now_ns() - newest > SETTLED_NS


_now_ns = time.time_ns
"""The clock file times are compared with (the system's: file times come from it)."""


def linked_outside(path: Path, real_root: Path) -> bool:
    """Whether ``path`` exists and, following symbolic links, leaves ``real_root``."""
    return path.exists() and not path.resolve().is_relative_to(real_root)


def _link_problem(path: Path) -> Problem:
    return Problem(
        Location(path),
        "is a symbolic link to outside the templates folder; nothing outside it is read",
    )


def missing_references(
    part: ScannedTemplate, app: App, targets: Sequence[tuple[str, int]] | None = None
) -> list[Problem]:
    """Warnings for images and links in ``part`` that no file of the app folder answers.

    ``targets`` are the part's :func:`relative_targets`, when already found.
    """
    assets = {a.as_posix() for a in app.assets}
    starts = line_starts(part.text)
    return [
        Problem(
            locate(starts, offset, part.path),
            f"'{target}' points at no file in the app folder '{app.name}'; it will not"
            " work on the published page",
            Severity.WARNING,
        )
        for target, offset in (relative_targets(part.text) if targets is None else targets)
        if resolve_reference(target, assets) is None
    ]


def app_folders(root: Path) -> list[Path]:
    """The app folders of a templates folder, sorted (``_`` and ``.`` folders are not apps)."""
    return [
        folder
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        if not folder.name.startswith(("_", ".")) and _is_app(folder)
    ]


def _is_app(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (GUIDE, APP_FILE, GALLERY_FILE))


def _assets(folder: Path) -> tuple[Path, ...]:
    """The files of an app folder that pages may show or link to, sorted by their parts:
    regular files only (no symbolic links, not below one), nothing hidden, not the app's
    own guide and app files. Read with one directory listing per folder (an edit in the
    preview lists every app folder again)."""
    found: list[str] = []

    def walk(directory: str, prefix: str) -> None:
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except (PermissionError, NotADirectoryError, FileNotFoundError):
            return  # unreadable, or gone meanwhile: nothing from it
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, relative + "/")
            elif entry.is_file(follow_symlinks=False) and relative not in _NOT_ASSETS:
                found.append(relative)

    walk(str(folder), "")
    return tuple(Path(relative) for relative in sorted(found, key=lambda r: r.split("/")))


def _app_defaults(
    folder: Path, problems: list[Problem]
) -> tuple[dict[str, AppDefault], str | None]:
    """Defaults from app.yml, else a gallery metadata.json, else DisplayName = folder name."""
    defaults: dict[str, AppDefault] = {}
    category: str | None = None
    app_file = folder / APP_FILE
    gallery = folder / GALLERY_FILE
    try:
        if app_file.is_file():
            category = _read_app_file(app_file, defaults, problems)
        elif gallery.is_file():
            _read_gallery(gallery, defaults, problems)
    except TemplateError as exc:
        problems.extend(exc.problems)
    defaults.setdefault("DisplayName", AppDefault(folder.name, Location(folder)))
    return defaults, category


def _read_app_file(
    path: Path, defaults: dict[str, AppDefault], problems: list[Problem]
) -> str | None:
    category = None
    try:
        root = load_yaml(read_text(path), path)
        if root is None:
            return None
        for entry in entries(root, path, "an app file"):
            if entry.key == "category":
                category = scalar_text(entry.value, path, "'category'")
            elif entry.key == "metadata":
                if is_null(entry.value):
                    continue
                for item in entries(entry.value, path, "'metadata'"):
                    _add_default(
                        defaults,
                        item.key,
                        scalar_text(item.value, path, f"'{item.key}'"),
                        item.location,
                        problems,
                    )
            else:
                problems.append(
                    Problem(
                        entry.location,
                        f"unknown key '{entry.key}' in app file (expected 'category' or 'metadata')",
                    )
                )
    except YamlProblem as exc:
        problems.append(exc.problem)
    return category


def _read_gallery(path: Path, defaults: dict[str, AppDefault], problems: list[Problem]) -> None:
    """The Azure gallery's metadata.json: DisplayName and UIConfigurationSettings values."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        problems.append(Problem(Location(path, exc.lineno, exc.colno), f"invalid JSON: {exc.msg}"))
        return
    if not isinstance(data, dict):
        problems.append(Problem(Location(path, 1, 1), "gallery metadata must be a JSON object"))
        return
    where = Location(path)
    if isinstance(data.get("DisplayName"), str):
        _add_default(defaults, "DisplayName", data["DisplayName"], where, problems)
    for setting in data.get("UIConfigurationSettings") or []:
        if isinstance(setting, dict) and lookup_key(str(setting.get("key", ""))) is not None:
            _add_default(
                defaults, str(setting["key"]), str(setting.get("value", "")), where, problems
            )


def _add_default(
    defaults: dict[str, AppDefault],
    spelling: str,
    value: str,
    location: Location,
    problems: list[Problem],
) -> None:
    spec = lookup_key(spelling)
    if spec is None:
        problems.append(
            Problem(
                location, f"unknown metadata key '{spelling}'" + did_you_mean(suggest_key(spelling))
            )
        )
        return
    message = value_problem(value) or (url_problem(value) if spec.kind is KeyKind.URL else None)
    if message:
        problems.append(Problem(location, f"'{spelling}': {message}"))
        return
    defaults[spec.name] = AppDefault(value, location)


def _base_config(root: Path) -> Path | None:
    """The base MkDocs configuration file, if the templates have one (read by sitebuild)."""
    return next((root / n for n in BASE_CONFIGS if (root / n).is_file()), None)
