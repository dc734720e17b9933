"""Build one tenant's static site with MkDocs and Material. The only module that imports MkDocs.

The caller hands over rendered pages, files and the navigation; this module writes them
into a docs folder with the site's own stylesheet and script, configures MkDocs (base
configuration from the templates, plus what every tenant site needs: no web fonts, copy
buttons on code, light and dark, a search that splits URLs into words), opens the HTML
blocks pages carry through Markdown as comments (:func:`tenantdocs.render.html_block`),
marks links to the published certificate and metadata files as downloads, runs the build
in-process and translates MkDocs' failures into :class:`SiteBuildError` and its warnings
into :class:`Problem` objects.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import hashlib
import html
import io
import json
import logging
import os
import pickle
import posixpath
import re
import shutil
import signal
import struct
import tempfile
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from markupsafe import Markup

from tenantdocs.errors import Location, Problem, Severity, SiteBuildError
from tenantdocs.render import open_html_blocks, stub_html_blocks, unstub_html_blocks

BUILD_ENVIRONMENT: Mapping[str, str] = MappingProxyType(
    {
        # Material prints a notice about MkDocs 2.0 on import; it means nothing to our users.
        "NO_MKDOCS_2_WARNING": "1",
        # Dates in the sitemap come from here; a fixed default keeps builds byte-identical.
        "SOURCE_DATE_EPOCH": "0",
    }
)
"""What MkDocs and Material read from the environment while they build, unless set already."""

NavItem = Mapping[str, "str | Sequence[NavItem]"]


@dataclass(frozen=True, slots=True)
class SitePlan:
    """Everything MkDocs needs to build one tenant's site."""

    site_name: str
    """Shown in the header and page titles."""
    pages: Mapping[str, str]
    """Markdown by docs path (``index.md``, ``<app>/index.md``)."""
    files: Mapping[str, bytes]
    """Other files by docs path: certificates, metadata copies, images."""
    nav: Sequence[NavItem]
    """The navigation, as MkDocs' ``nav`` setting."""
    base_config: Path | None
    """The shared base configuration from the templates folder."""
    sources: Mapping[str, Location]
    """For each docs page, the template it came from (to locate MkDocs warnings); key ``""``
    locates warnings about no page in particular."""
    downloads: frozenset[str] = frozenset()
    """Docs paths of files that links download rather than open (certificates, metadata)."""


def build_site(plan: SitePlan, work_dir: Path, site_dir: Path) -> list[Problem]:
    """Write the docs into ``work_dir`` and build the site into ``site_dir``; return warnings.

    The straightforward build: the docs written to disk, one plain MkDocs run, nothing kept
    or shared. It is the reference every faster way must match byte for byte.
    """
    return SiteBuilder(plain=True).build(plan, work_dir, site_dir)


class SiteBuilder:
    """Builds tenant sites one after another in this process, keeping what they share.

    MkDocs starts every build from nothing: it compiles the theme's templates again, walks
    the theme's 14,000 files to list its assets, and converts every page's Markdown. A
    builder keeps, for the builds that follow in the same process, the theme's Jinja
    environment (compiled templates, asset list) per base configuration, and each page's
    conversion to HTML keyed by its path, its Markdown, the base configuration and what each
    of its links resolved to. Pages whose Markdown is the same for many tenants (guides with
    sentinels, see :mod:`tenantdocs.skeleton`) are then converted once. Material's search
    splits each page's final HTML into sections (an HTML parse, as costly as the theme's
    render): a builder keeps those sections by the HTML alone, which is all the split reads,
    and lets Material make the index entries from them with each page's own URL, title,
    table of contents and metadata.

    Builders of one run in separate processes can hand each other conversions and search
    sections through an :class:`Exchange`, so a guide two processes both build is converted
    and split once.

    A builder also hands MkDocs the docs from memory rather than writing them for MkDocs to
    read back, and with ``jobs`` above one spreads the pages of a site of at least
    :data:`SPREAD_PAGES` pages over a forked copy of the process (:class:`_Spread`). A
    ``plain`` builder does none of this (see :func:`build_site`).

    A builder assumes the base configuration's theme folder does not change while it lives:
    a caller that watches files (``serve``) makes a new builder when the base configuration
    or a theme override changes.
    """

    def __init__(self, max_pages: int = 4096, jobs: int = 1, *, plain: bool = False) -> None:
        self._max_pages = max_pages
        self.jobs = jobs
        """Processes a large site's pages may be spread over."""
        self._plain = plain
        self.spread_pages = (0, 0)
        """Pages of the last build taken from a forked copy: converted, rendered (see
        :class:`_Spread`)."""
        self._envs: dict[str, Any] = {}
        self._converted: OrderedDict[tuple[str, str, str], list[_Conversion]] = OrderedDict()
        self._sections: OrderedDict[str, tuple[_Section, ...]] = OrderedDict()
        self._themes: dict[str, Any] = {}
        self._spread: _Spread | None = None
        self._made: list[tuple[Any, Any]] | None = None
        """In a forked helper: the conversions and search sections it worked out."""
        self.exchange: Exchange | None = None
        """Where the builders of this run's other processes hand over their work, if any."""
        self.handed_over: frozenset[str] | None = None
        """Docs paths of the pages whose work is handed over through :attr:`exchange` (those
        another process may build too); None: every page's."""
        self.theme_files: Path | None = None
        """A folder on the sites' file system where the theme's static files are kept, each
        once, for every build to link rather than copy (see :func:`_linked_theme_files`);
        None: copied."""
        self.theme_copies: list[str] = []
        """Output paths of the last build's files linked to :attr:`theme_files`: the theme's
        files as they are, written by no plugin."""
        self._markdown = _KeptMarkdown()
        self.plugins: frozenset[str] = frozenset()
        """The plugins the last build's configuration named (before tenantdocs' own)."""
        self.page_order: list[str] = []
        """The URLs of the last build's pages, in the order MkDocs built them."""

    def build(
        self,
        plan: SitePlan,
        work_dir: Path,
        site_dir: Path,
        *,
        only: frozenset[str] | None = None,
    ) -> list[Problem]:
        """Build the site into ``site_dir`` (``work_dir`` holds MkDocs' docs folder); return
        warnings.

        With ``only`` (docs paths of pages), write just those pages, as the whole build
        renders them (MkDocs' ``dirty`` build with every other file taken as up to date):
        no other page is converted or rendered, no file copied, no 404 page or sitemap
        written. Only for a plan :func:`_renders_alone` accepts.
        """
        docs = work_dir / "docs"
        documents = {
            **{path: text.encode("utf-8") for path, text in plan.pages.items()},
            **plan.files,
            **site_assets(),
        }
        in_memory = not self._plain and _renders_alone(plan)
        assert in_memory or only is None, "pages alone are rendered from memory only"
        if in_memory:
            docs.mkdir(parents=True, exist_ok=True)  # MkDocs wants it, even empty
        else:
            for docs_path, data in documents.items():
                _write(docs / docs_path, data)

        from mkdocs import exceptions
        from mkdocs.commands.build import build

        base_key = _base_key(plan.base_config)
        overrides = _overrides(plan, docs, site_dir)
        with _build_environment(), _captured_mkdocs_log() as records:
            try:
                with _themes_listed_once(self._themes):
                    config = _load_config(plan, work_dir, overrides)
                self.plugins = frozenset(config.plugins)
                config.plugins["tenantdocs/html-blocks"] = _html_blocks()
                config.plugins["tenantdocs/downloads"] = _download_links(plan.downloads)
                if in_memory:
                    config.plugins["tenantdocs/documents"] = _documents(documents, only)
                if only is not None:
                    config.theme.static_templates = set()
                    config.extra_templates = []
                if not self._plain:
                    self._keep_sharing(config, base_key)
                if (
                    not self._plain
                    and only is None
                    and self.jobs > 1
                    and len(plan.pages) >= SPREAD_PAGES
                    and hasattr(os, "fork")
                ):
                    self._spread = _Spread(self)
                self.spread_pages = (0, 0)
                if only is None:
                    build(config)
                else:
                    _dirty_build(config, plan, records)
            except (exceptions.MkDocsException, exceptions.Abort, OSError) as exc:
                raise _build_failed(plan, records, exc) from None
            finally:
                if self._spread is not None:
                    self.spread_pages = self._spread.close()
                    self._spread = None
        return [_warning(plan, record) for record in records if not _dirty_notice(record)]

    def warm(self, base_config: Path | None, work_dir: Path) -> None:
        """Build a small site with ``base_config`` in ``work_dir`` and forget it, so the
        builds that follow (in this process or in processes forked from it) find MkDocs,
        the theme and the Markdown extensions loaded and the theme's templates compiled.

        A base configuration MkDocs refuses is left for the real build to report.
        """
        pages = {"index.md": _WARM_PAGE, "app/index.md": _WARM_PAGE}
        nav: list[NavItem] = [{"Home": "index.md"}, {"App": [{"Guide": "app/index.md"}]}]
        sources = {"": Location(base_config or work_dir)}
        plan = SitePlan("Warm", pages, {}, nav, base_config, sources)
        with contextlib.suppress(SiteBuildError):
            self.build(plan, work_dir / "work", work_dir / "site")

    def _keep_sharing(self, config: Any, base_key: str) -> None:
        """Have the run use and add to what this builder keeps."""
        config.plugins["tenantdocs/conversions"] = self._conversions(base_key)
        self.theme_copies = []
        if self.theme_files is not None:
            config.plugins["tenantdocs/theme-files"] = _linked_theme_files(
                self.theme_files, self.theme_copies
            )
        self.use_theme_env(config, base_key)

    def use_theme_env(self, config: Any, base_key: str) -> None:
        """Have the run render with the theme environment this builder keeps for the base
        configuration (made from the run's on first use): its templates compiled once."""
        env = self._envs.get(base_key)
        if env is None:
            env = _listing_once(config.theme.get_env())
            env.bytecode_cache = _theme_bytecode(env)
            self._envs[base_key] = env = _macros_once(env)
        config.theme.get_env = lambda: env

    def _conversions(self, base_key: str) -> Any:
        """A MkDocs plugin that converts each page's Markdown through this builder's cache."""
        from mkdocs.plugins import BasePlugin

        builder = self

        class Conversions(BasePlugin):  # type: ignore[no-untyped-call,type-arg]
            # Last of all plugins, so the page's Markdown is final when it is looked up.
            def on_page_markdown(
                self, markdown: str, /, *, page: Any, config: Any, files: Any
            ) -> str:
                page.render = functools.partial(builder._render, base_key, page)
                return markdown

            # The pages are about to be converted, the navigation final.
            def on_nav(self, nav: Any, /, *, config: Any, files: Any) -> Any:
                builder.page_order = [f.url for f in files.documentation_pages()]
                if builder._spread is not None:
                    builder._spread.convert(config, files, nav)
                return nav

            # The pages are converted and about to be rendered into the theme.
            def on_env(self, env: Any, /, *, config: Any, files: Any) -> Any:
                if builder._spread is not None:
                    return builder._spread.render(env, config, files)
                return env

            # Every plugin's configuration is final here, Material's search index made.
            def on_pre_build(self, *, config: Any) -> None:
                for plugin in config.plugins.values():
                    index = getattr(plugin, "search_index", None)
                    if index is not None and _material_index(index):
                        index.add_entry_from_context = functools.partial(
                            builder._add_search_entries, index
                        )

        return Conversions()

    def _add_search_entries(self, index: Any, page: Any) -> None:
        """Material's ``SearchIndex.add_entry_from_context``, splitting each HTML once."""
        from material.plugins.search.plugin import Section

        search = page.meta.get("search") or {}
        if search.get("exclude"):
            return
        if self._spread is not None:
            self._spread.take_renders(page)
        sections = self._sections.get(page.content)
        if sections is None and self.exchange is not None:
            sections = self.exchange.get(_SECTIONS, page.content)
            if sections is not None:
                self._keep_sections(page.content, sections)
        if sections is None:
            parser = search_parser()()
            parser.feed(page.content)
            parser.close()
            sections = tuple(
                _Section(s.el, s.depth, s.id, tuple(s.title), tuple(s.text))
                for s in parser.data
                if not s.is_excluded()
            )
            self._keep_sections(page.content, sections)
            if self._made is not None:
                self._made.append((page.content, sections))
            elif self.exchange is not None and self._hands_over(page):
                self.exchange.put(_SECTIONS, page.content, sections)
        if self._made is not None:
            return  # a forked helper: its index is not written
        self._sections.move_to_end(page.content)
        for kept in sections:
            section = Section(kept.el, kept.depth)
            section.id, section.title, section.text = kept.id, [*kept.title], [*kept.text]
            index.create_entry_for_section(section, page.toc, page.url, page)

    def _keep_sections(self, content: str, sections: tuple[_Section, ...]) -> None:
        self._sections[content] = sections
        while len(self._sections) > self._max_pages:
            self._sections.popitem(last=False)

    def _keep_conversion(self, key: tuple[str, str, str], conversion: _Conversion) -> None:
        self._converted.setdefault(key, []).append(conversion)
        self._converted.move_to_end(key)
        while len(self._converted) > self._max_pages:
            self._converted.popitem(last=False)

    def _render(self, base_key: str, page: Any, config: Any, files: Any) -> None:
        """MkDocs' ``Page.render``, or what it gave for the same Markdown and link targets.

        A page's HTML blocks (:func:`~tenantdocs.render.html_block`) pass through converting
        as they are; where nothing that converts could look inside them, they are left out of
        what is converted and looked up, and put back into the HTML: a page converts once
        whatever they hold (a certificate more, a value from elsewhere).
        """
        if self._spread is not None:
            self._spread.take_conversions(page)
        stubbed = stub_html_blocks(page.markdown) if _blocks_pass_through(config) else None
        if stubbed is not None:
            markdown, bodies = stubbed
            full, page.markdown = page.markdown, markdown
            try:
                if self._convert(
                    (base_key, page.file.src_uri, markdown),
                    page,
                    config,
                    files,
                    lambda html: unstub_html_blocks(html, bodies),
                ):
                    return
            finally:
                page.markdown = full
        self._convert((base_key, page.file.src_uri, page.markdown), page, config, files)

    def _convert(
        self,
        key: tuple[str, str, str],
        page: Any,
        config: Any,
        files: Any,
        finish: Callable[[str], str | None] | None = None,
    ) -> bool:
        """Convert ``page.markdown`` (``key``), or apply what converting it gave before;
        whether the page got its HTML from it. ``finish`` makes the page's HTML from what
        is converted (and kept), or refuses it (None): then what MkDocs logged converting it
        is not passed on, and the caller converts the page another way."""
        done = self._conversion(key, files)
        if done is not None:
            done.apply(page, files)
            html = page.content if finish is None else finish(page.content)
        else:
            recording = _RecordingFiles(files)
            with _recorded_mkdocs_log(held=finish is not None) as records:
                self._markdown.render(page, config, recording)
            html = page.content if finish is None else finish(page.content)
            if finish is not None:
                if recording.other_use or html is None:
                    return False  # converted another way by the caller, and logged then
                _pass_on(records)
            if not recording.other_use:  # else it used the files in a way not recorded
                conversion = _Conversion.of(page, recording, records)
                self._keep_conversion(key, conversion)
                if self._made is not None:
                    self._made.append((key, conversion))
                elif self.exchange is not None and self._hands_over(page):
                    self.exchange.put(_CONVERSIONS, key, _portable_conversion(conversion))
        if html is None:
            return False
        page.content = html
        return True

    def _hands_over(self, page: Any) -> bool:
        return self.handed_over is None or page.file.src_uri in self.handed_over

    def _conversion(self, key: tuple[str, str, str], files: Any) -> _Conversion | None:
        """A conversion of ``key`` whose links resolve in ``files`` as they did when it was
        made: kept by this builder, or handed over by another process of the run."""
        for done in self._converted.get(key, []):
            if done.fits(files):
                self._converted.move_to_end(key)
                return done
        if self.exchange is None:
            return None
        handed: _Conversion | None = self.exchange.get(_CONVERSIONS, key)
        if handed is None or not handed.fits(files):
            return None
        self._keep_conversion(key, handed)
        return handed


_Held = list[tuple[Any, list[Any]]]
"""Each registry of a Python-Markdown instance with the processors it held when new."""
_Lendable = tuple[Any, _Held]
"""A Python-Markdown instance that may be lent again, with what it held when new."""


class _KeptMarkdown:
    """MkDocs' ``Page.render`` converting every page with one kept Python-Markdown instance.

    ``Page.render`` makes a new ``Markdown`` for each page: every extension is loaded again
    and starts with cold caches, a fifth of the time converting a guide takes. Python-Markdown
    supports converting many documents with one instance, reset between them (each extension
    clears what it keeps in its ``reset``). :meth:`render` runs MkDocs' own ``Page.render``,
    with a ``markdown`` module whose ``Markdown`` hands out the kept instance, so every page
    still gets what MkDocs registers for it (a ``Page.render`` a plugin put in its place is
    run as it is).

    An instance is kept only for the same extension configuration, only when all it holds
    comes from Python-Markdown or PyMdown Extensions (whose extensions reset their state), and
    only after a conversion that ended normally. Before it is lent again, MkDocs' processors
    of the last page are taken out: if it then holds anything a new instance would not, a new
    one is made.
    """

    _RESETTING = ("markdown.", "pymdownx.")
    """Modules whose extensions keep no state past ``reset``."""
    _PER_PAGE = ("mkdocs_raw_html", "mkdocs_extract_anchors", "relpath", "mkdocs_extract_title")
    """What ``Page.render`` registers for each page (MkDocs 1.6)."""

    def __init__(self) -> None:
        self._key = ""
        self._kept: _Lendable | None = None
        self._lent: _Lendable | None = None

    def render(self, page: Any, config: Any, files: Any) -> None:
        from mkdocs.structure import pages

        render = pages.Page.render
        if not _mkdocs_converts():
            render(page, config, files)  # replaced (by a plugin): run as it is
            return
        # Page.render's own code, with what its module holds now (a plugin may have replaced
        # some of it) and this object as the module it finds as ``markdown``.
        kept = types.FunctionType(render.__code__, {**vars(pages), "markdown": self})
        kept(page, config, files)
        self._kept, self._lent = self._lent, None

    def __getattr__(self, name: str) -> Any:
        import markdown

        return getattr(markdown, name)

    def Markdown(self, *, extensions: Any, extension_configs: Any) -> Any:
        import markdown

        key = repr((extensions, extension_configs))
        kept, self._kept = self._kept, None
        if kept is not None and key == self._key and self._restored(*kept):
            self._lent = kept
            return kept[0].reset()
        md = markdown.Markdown(extensions=extensions, extension_configs=extension_configs)
        self._key = key
        held = [(registry, [*registry]) for registry in _registries(md)]
        if all(type(p).__module__.startswith(self._RESETTING) for _, ps in held for p in ps):
            self._lent = (md, held)
        return md

    def _restored(self, md: Any, held: _Held) -> bool:
        """Whether ``md``, without the last page's MkDocs processors, holds what it held new."""
        for registry, processors in held:
            for name in self._PER_PAGE:
                registry.deregister(name, strict=False)
            if [*registry] != processors:
                return False
        return True


def _registries(md: Any) -> tuple[Any, ...]:
    """Every registry of processors a Python-Markdown instance converts with."""
    return (
        md.preprocessors,
        md.parser.blockprocessors,
        md.inlinePatterns,
        md.treeprocessors,
        md.postprocessors,
    )


@dataclass(frozen=True, slots=True)
class _Conversion:
    """What ``Page.render`` gave for one page, and the link targets it depended on."""

    lookups: Mapping[str, tuple[str, str, str] | None]
    """Every docs path the conversion looked up, with what it found (see :func:`_target`)."""
    content: str
    """The page's HTML."""
    toc: Any
    """The table of contents."""
    title: str | None
    """The title found in the content."""
    anchors: frozenset[str] | None
    """Anchor IDs on the page."""
    links_to_anchors: Mapping[str, Mapping[str, str]] | None
    """Links to anchors of other pages, by the other page's docs path (None: not recorded)."""
    log: tuple[logging.LogRecord, ...]
    """What MkDocs logged while converting (replayed, so every build reports the same)."""

    @classmethod
    def of(
        cls, page: Any, recording: _RecordingFiles, log: Sequence[logging.LogRecord]
    ) -> _Conversion:
        links = page.__dict__.get("links_to_anchors")
        return cls(
            dict(recording.lookups),
            page.content,
            copy.deepcopy(page.toc),
            page._title_from_render,
            frozenset(page.present_anchor_ids) if page.present_anchor_ids is not None else None,
            {f.src_uri: dict(anchors) for f, anchors in links.items()}
            if links is not None
            else None,
            tuple(log),
        )

    def fits(self, files: Any) -> bool:
        """Whether every link target looked up resolves in ``files`` as it did."""
        return self.lookups == {path: _target(files, path) for path in self.lookups}

    def apply(self, page: Any, files: Any) -> None:
        _pass_on(self.log)
        page.content = self.content
        page.toc = copy.deepcopy(self.toc)
        page._title_from_render = self.title
        page.present_anchor_ids = set(self.anchors) if self.anchors is not None else None
        if self.links_to_anchors is not None:
            page.links_to_anchors = {
                files.get_file_from_path(path): dict(anchors)
                for path, anchors in self.links_to_anchors.items()
            }


@dataclass(frozen=True, slots=True)
class _Section:
    """One section of a page's HTML as Material's search splits it (a heading and its text)."""

    el: Any
    """The heading's element (or the page's first element, for text before any heading)."""
    depth: float
    """How deep in the HTML the section starts (Material marks a closed one infinite)."""
    id: str | None
    """The heading's anchor ID."""
    title: tuple[str, ...]
    """The heading's pieces of text (empty: the page's title stands in)."""
    text: tuple[str, ...]
    """The section's pieces of text."""


SPLIT_MIRRORED = "30d387d3bd61b05a5f8775d8c6996e9d77a24038c4fa350bae5bd6204abd51b1"
"""Digest (:func:`_split_digest`) of Material's search module from its element class on,
and of its void tags, whose split :func:`search_parser` mirrors: 9.7.0's and 9.8.2's (the
same text; any Material whose text differs splits with its own parser)."""


@functools.cache
def search_parser() -> type[Any]:
    """The parser that splits a page's HTML into search sections: Material's own, or one that
    splits every HTML the same way in two thirds of the time, when Material's parser is the
    one it mirrors (:data:`SPLIT_MIRRORED`)."""
    from material.plugins.search import plugin

    if _split_digest(plugin) != SPLIT_MIRRORED:
        return plugin.Parser  # type: ignore[no-any-return]
    return counted_split(plugin)


def _split_digest(plugin: types.ModuleType) -> str | None:
    """A digest of what decides how Material's search splits a page: its module's source
    from the element class on (the element, section and parser classes, the void tags),
    and the void tags it holds; None if unreadable. Read as text: asking ``inspect`` for
    the three classes' source parses the whole module (20 ms, each process that builds)."""
    try:
        source = Path(plugin.__file__ or "").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    start = source.find("\nclass Element")  # not there: the last character, matching nothing
    parts = [source[start:], repr(sorted(getattr(plugin, "void", ())))]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def counted_split(plugin: types.ModuleType) -> type[Any]:
    """Material's search parser (of ``plugin``) with its open elements kept as tags and
    counts.

    Material's parser keeps the open elements as objects that compare and hash by tag in
    Python: every tag and piece of text asks whether one of them is skipped, or is the
    current heading, by hashing and comparing each. Here the same questions are asked of a
    count per tag. Its rules, kept exactly (tests compare the two on random HTML):

    - a skipped tag (script, style, object; or the tag of an element marked
      ``data-search-exclude`` or ``linenodiv``) silences everything while an element of
      that tag is open; closing any element of a marked tag unmarks the tag;
    - text is in the title while any element of the current heading's tag is open (unless
      inside a permalink), else in the section's text, whitespace collapsed outside ``pre``;
    - a heading with an ID opens a section; closing the element it was nested in goes back
      to the section that was open at that depth.
    """
    headings = frozenset(f"h{n}" for n in range(1, 7))
    kept = frozenset({"p", "code", "pre", "li", "ol", "ul", "sub", "sup"})
    always_skipped = frozenset({"object", "script", "style"})
    element, section_of, void = plugin.Element, plugin.Section, frozenset(plugin.void)

    class CountedParser(plugin.Parser):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []  # the open elements' tags, innermost last
            self.counts: dict[str, int] = {}  # how many of each tag are open
            self.skipped: set[str] = set(always_skipped)
            self.permalinks: list[int] = []  # where in ``tags`` a permalink is open

        def silenced(self) -> bool:
            return not self.counts.keys().isdisjoint(self.skipped)

        def open_section(self, el: Any, depth: float) -> Any:
            self.section = section_of(el, depth)
            self.data.append(self.section)
            return self.section

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in void:
                return
            values = dict(attrs)
            if tag == "a" and values.get("class") == "headerlink":
                self.permalinks.append(len(self.tags))
            self.tags.append(tag)
            self.counts[tag] = self.counts.get(tag, 0) + 1
            if tag in headings and "id" in values:
                if tag != "h1" and not self.data:
                    self.open_section(element("hx"), len(self.tags))
                first = not self.data
                self.open_section(element(tag, values), len(self.tags))
                if not first:
                    self.section.id = values["id"]
            if self.section is None:
                self.open_section(element("hx"), 0)
            if "data-search-exclude" in values or values.get("class") == "linenodiv":
                self.skipped.add(tag)
            elif tag in kept and not self.silenced():
                self.pieces().append(f"<{tag}>")

        def handle_endtag(self, tag: str) -> None:
            tags = self.tags
            if not tags or tags[-1] != tag:
                return
            if self.section.depth > len(tags):
                for section in reversed(self.data):
                    if section.depth <= len(tags):
                        self.section.depth = float("inf")  # never to be gone back to
                        self.section = section
                        break
            tags.pop()
            left = self.counts[tag] - 1
            if left:
                self.counts[tag] = left
            else:
                del self.counts[tag]
            if self.permalinks and self.permalinks[-1] == len(tags):
                self.permalinks.pop()
            if tag in self.skipped:
                if tag not in always_skipped:
                    self.skipped.remove(tag)
                return
            if tag not in kept or self.silenced():
                return
            pieces = self.pieces()
            start = pieces.index(f"<{tag}>")
            if all(piece.isspace() for piece in pieces[start + 1 :]):
                del pieces[start:]  # an element with nothing in it is left out
            else:
                pieces.append(f"</{tag}>")

        def handle_data(self, data: str) -> None:
            if self.silenced():
                return
            if "pre" not in self.counts:
                data = " " if data.isspace() else data.replace("\n", " ")
            if self.section is None:
                self.open_section(element("hx"), 0)
            if self.section.el.tag in self.counts:
                if not self.permalinks:
                    self.section.title.append(html.escape(data, quote=False))
                return
            text = self.section.text
            if not data.isspace():
                text.append(html.escape(data, quote=False))
            elif not text or not text[-1].isspace() or "pre" in self.counts:
                text.append(data)

        def pieces(self) -> list[str]:
            """Where the current section's markup and text go: its title while inside it."""
            section = self.section
            return section.title if section.el.tag in self.counts else section.text  # type: ignore[no-any-return]

    return CountedParser


_WARM_PAGE = """# Guide

## Steps

1. Open the **admin** page and copy `a value`:

    ```text
    https://example.com/sso
    ```

| Setting | Value |
| --- | --- |
| URL | <https://example.com/> |

> **Note:** a [link](#steps).
"""
"""A page with what guides have (lists, code, tables, links), for :meth:`SiteBuilder.warm`."""

SPREAD_PAGES = 200
"""Pages from which a site's MkDocs run is spread over two processes: below, forking and the
results' trip back cost about what the second process saves."""

_STATELESS_PLUGINS = frozenset(
    {
        "material.plugins.search.plugin.SearchPlugin",
        "mkdocs.contrib.search.SearchPlugin",
    }
)
"""Plugins whose page hooks keep nothing from one page for the next (search only adds each
page's entries, in the order the pages are built), so a forked copy renders a page as this
process would, and that write no file of the site but their own."""


def _stateless(plugins: Iterable[Any]) -> bool:
    """Whether every one of ``plugins`` is in :data:`_STATELESS_PLUGINS` or tenantdocs' own."""
    names = (f"{type(p).__module__}.{type(p).__qualname__}" for p in plugins)
    return all(n in _STATELESS_PLUGINS or n.startswith(f"{__name__}.") for n in names)


class _Spread:
    """One MkDocs run's pages spread over a forked copy of this process.

    MkDocs converts every page's Markdown, then renders every page into the theme, each a
    loop over all pages in one process. When each loop is about to start, a copy of the
    process is forked that works through the pages from the last one back, handing each
    page's result over as it goes, while this process works from the first one on; the two
    meet where their speeds put them, and this process takes the copy's results from there:

    - Conversions go into the builder's cache and are taken from there by the usual checks
      (the page's Markdown after every plugin, what its links resolved to), so a page whose
      Markdown came out differently in this process is converted again.
    - Renders into the theme are spread only when every plugin of the run is one whose page
      hooks keep nothing between pages (:data:`_STATELESS_PLUGINS`, tenantdocs' own): the copy
      then renders each page from what this process has. The copy hands back each page's
      HTML, what MkDocs logged while rendering it and Material's search sections of it; this
      process still runs every plugin hook, in order, and writes every page.

    Whatever the copy has not handed over when this process reaches a page (it failed, or
    it is slow), this process does itself.
    """

    def __init__(self, builder: SiteBuilder) -> None:
        self._builder = builder
        self._nav: Any = None
        self._converting: _Forked | None = None
        self._rendering: _Forked | None = None
        self._renders: dict[str, tuple[str, tuple[logging.LogRecord, ...]]] = {}
        self._taken = [0, 0]

    def convert(self, config: Any, files: Any, nav: Any) -> None:
        """Fork the copy that converts the pages, from the last one back."""
        from mkdocs.commands.build import _populate_page
        from mkdocs.structure.files import InclusionLevel
        from mkdocs.structure.pages import Page

        self._nav = nav
        pages = files.documentation_pages(inclusion=InclusionLevel.is_included)

        def convert_back(hand_over: Callable[[str, Any], None]) -> None:
            for file in reversed(pages):
                made = self._builder._made = []
                if file.page is None:
                    Page(None, file, config)
                _populate_page(file.page, config, files)
                hand_over(file.src_uri, [(key, _portable_conversion(c)) for key, c in made])

        self._converting = _Forked.start(convert_back)

    def take_conversions(self, page: Any) -> None:
        """Before a page is converted: keep what the copy has converted so far."""
        self._converting = self._take(self._converting, page, self._keep_conversions, 0)

    def _keep_conversions(self, src_uri: str, made: list[tuple[Any, Any]]) -> None:
        for key, conversion in made:
            self._builder._keep_conversion(key, conversion)

    def render(self, env: Any, config: Any, files: Any) -> Any:
        """Fork the copy that renders the pages from the last one back, if it can; the
        environment this process renders with."""
        from mkdocs.commands.build import _build_page
        from mkdocs.structure.files import InclusionLevel

        if self._converting is not None:
            self._converting.close()
            self._converting = None
        if not _stateless(config.plugins.values()):
            return env
        pages = files.documentation_pages(inclusion=InclusionLevel.is_included)
        nav = self._nav

        def render_back(hand_over: Callable[[str, Any], None]) -> None:
            for file in reversed(pages):
                rendered: dict[str, Any] = {}
                made = self._builder._made = []
                _build_page(file.page, config, pages, nav, _Rendering(env, rendered))  # type: ignore[arg-type]
                hand_over(file.src_uri, (rendered.get(file.src_uri), made))

        self._rendering = _Forked.start(render_back)
        return _Rendering(env, self) if self._rendering is not None else env

    def take_renders(self, page: Any) -> None:
        """Before a page is rendered: keep what the copy has rendered so far."""
        self._rendering = self._take(self._rendering, page, self._keep_render, 1)

    def _keep_render(self, src_uri: str, done: tuple[Any, list[tuple[Any, Any]]]) -> None:
        rendered, made = done
        if rendered is not None:
            self._renders[src_uri] = rendered
        for content, sections in made:
            self._builder._keep_sections(content, sections)

    def _take(
        self, copy: _Forked | None, page: Any, keep: Callable[[str, Any], None], loop: int
    ) -> _Forked | None:
        """Keep what ``copy`` handed over so far; None once it has done ``page`` (and so
        every page after it: it works from the last one back)."""
        if copy is None:
            return None
        for key, value in copy.ready():
            keep(key, value)
        if page.file.src_uri not in copy.handed_over:
            return copy
        self._taken[loop] = len(copy.handed_over)
        copy.close()
        return None

    def rendered(self, page: Any) -> str | None:
        """The copy's HTML of ``page``, its log replayed; None: render it here."""
        self.take_renders(page)
        done = self._renders.pop(page.file.src_uri, None)
        if done is None:
            return None
        for record in done[1]:
            logging.getLogger(record.name).handle(record)
        return done[0]

    def close(self) -> tuple[int, int]:
        """End the copies still running; how many pages this process took from them
        (converted, rendered)."""
        for forked in (self._converting, self._rendering):
            if forked is not None:
                forked.close()
        self._converting = self._rendering = None
        return self._taken[0], self._taken[1]


class _Rendering:
    """A theme environment whose templates render a page through ``through``.

    In the forked copy ``through`` is a dictionary the HTML is put into (the page is then
    left unwritten); in this process it is the :class:`_Spread` with the copy's HTML.
    """

    def __init__(self, env: Any, through: dict[str, Any] | _Spread) -> None:
        self._env = env
        self._through = through

    def get_template(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return _Template(self._env.get_template(name, *args, **kwargs), self._through)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


@dataclass(frozen=True, slots=True)
class _Template:
    template: Any
    through: dict[str, Any] | _Spread

    def render(self, context: Any) -> str:
        page = context.get("page")
        if page is None:
            return str(self.template.render(context))
        if isinstance(self.through, _Spread):
            done = self.through.rendered(page)
            return done if done is not None else str(self.template.render(context))
        with _recorded_mkdocs_log() as records:
            output = self.template.render(context)
        self.through[page.file.src_uri] = (output, tuple(_portable(r) for r in records))
        return ""  # nothing written: this process hands the HTML over


class _Forked:
    """A forked copy of this process running ``work(hand_over)``.

    The copy hands over each result (a key and a value, pickled) as soon as it has it; this
    process takes what has arrived without waiting (:meth:`ready`).
    """

    _HEADER = struct.Struct("!Q")

    @classmethod
    def start(cls, work: Callable[[Callable[[str, Any], None]], None]) -> _Forked | None:
        """The copy, started; None when the system cannot start one now (out of processes
        or file descriptors): this process then does all the work, as it would anyway."""
        try:
            read, write = os.pipe()
        except OSError:
            return None
        try:
            return cls(work, read, write)
        except OSError:
            os.close(read)
            os.close(write)
            return None

    def __init__(
        self, work: Callable[[Callable[[str, Any], None]], None], read: int, write: int
    ) -> None:
        import fcntl  # forking is for POSIX systems only

        with contextlib.suppress(OSError, AttributeError):  # Linux: room for a few pages
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # the copy: whatever happens, it ends here
            try:
                # What it got from this process outlives its work: collections leave it alone.
                gc.freeze()
                os.close(read)

                def hand_over(key: str, value: Any) -> None:
                    data = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(self._HEADER.pack(len(data)) + data)
                    while view:
                        view = view[os.write(write, view) :]

                work(hand_over)
            finally:
                os._exit(0)
        os.close(write)
        os.set_blocking(read, False)
        self._pid: int | None = pid
        self._read = read
        self._buffer = bytearray()
        self.handed_over: set[str] = set()
        """Keys of the results taken so far."""

    def ready(self) -> list[tuple[str, Any]]:
        """The results handed over since the last call (none once the copy is closed)."""
        if self._pid is None:
            return []
        while True:
            try:
                data = os.read(self._read, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break  # the copy ended
            self._buffer += data
        results = []
        size = self._HEADER.size
        while len(self._buffer) >= size:
            (length,) = self._HEADER.unpack_from(self._buffer)
            if len(self._buffer) < size + length:
                break
            key, value = pickle.loads(self._buffer[size : size + length])
            del self._buffer[: size + length]
            self.handed_over.add(key)
            results.append((key, value))
        return results

    def close(self) -> None:
        """Stop the copy and take nothing more from it."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.close(self._read)
            os.waitpid(self._pid, 0)
            self._pid = None


def _portable(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` as it can be pickled: its message formatted, no traceback."""
    record = copy.copy(record)
    record.msg, record.args, record.exc_info = record.getMessage(), None, None
    return record


def _portable_conversion(conversion: _Conversion) -> _Conversion:
    return replace(conversion, log=tuple(_portable(r) for r in conversion.log))


_CONVERSIONS = "conversion"
_SECTIONS = "sections"


class Exchange:
    """A folder through which the builders of one run, in separate processes, hand each
    other what they worked out (page conversions, search sections), each under a digest of
    what it was worked out from.

    The folder must be private to the run (see :func:`exchange`): what is read back is
    unpickled. What is taken is checked as a builder's own kept work is (a conversion only
    where its links resolve as they did); what cannot be read is worked out again. Each
    process hands over at most ``limit`` bytes: pages no other tenant has (each tenant's
    home) would otherwise grow the folder with the number of tenants.
    """

    def __init__(self, folder: Path, limit: int = 64 << 20) -> None:
        self.folder = folder
        self._room = limit

    def get(self, kind: str, key: object) -> Any:
        """What a builder put under ``key``, or None."""
        try:
            data = (self.folder / self._name(kind, key)).read_bytes()
        except OSError:
            return None
        try:
            return pickle.loads(data)
        except Exception:  # unpickling fails in many ways; any of them: not there
            return None

    def put(self, kind: str, key: object, value: object) -> None:
        """Hand ``value`` over under ``key``, unless a builder already has."""
        path = self.folder / self._name(kind, key)
        if path.exists():
            return
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # e.g. something MkDocs logged carries an object pickle refuses
            return
        if len(data) > self._room:
            return
        self._room -= len(data)
        # Not files.write_atomic: it would make the folder again, readable by others, had
        # something removed it.
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            partial.write_bytes(data)
            partial.replace(path)  # whole or not at all for a reader
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()

    @staticmethod
    def _name(kind: str, key: object) -> str:
        return f"{kind}-{hashlib.sha256(repr(key).encode('utf-8')).hexdigest()}"


@contextmanager
def exchange() -> Iterator[Exchange | None]:
    """A new :class:`Exchange` in a temporary folder only this user can read, removed when
    done; None when no temporary folder can be made (each process then works alone)."""
    try:
        folder = tempfile.mkdtemp(prefix="tenantdocs-exchange-")
    except OSError:
        yield None
        return
    try:
        yield Exchange(Path(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _material_index(index: Any) -> bool:
    """Whether ``index`` is exactly Material's search index (a subclass may index otherwise)."""
    try:
        from material.plugins.search.plugin import SearchIndex
    except ImportError:
        return False
    return type(index) is SearchIndex


def _target(files: Any, path: str) -> tuple[str, str, str] | None:
    """What a link to ``path`` resolves to: the file's docs path, URL and inclusion."""
    return _described(files.get_file_from_path(path))


def _described(found: Any) -> tuple[str, str, str] | None:
    """A file's docs path, URL and inclusion, as a link to it resolves (None: no file)."""
    return None if found is None else (found.src_uri, found.url, str(found.inclusion))


class _RecordingFiles:
    """MkDocs' ``Files`` as a page's conversion sees it, noting what it looked up."""

    def __init__(self, files: Any) -> None:
        self._files = files
        self.lookups: dict[str, tuple[str, str, str] | None] = {}
        self.other_use = False

    def get_file_from_path(self, path: str) -> Any:
        found = self._files.get_file_from_path(path)
        self.lookups[path] = _described(found)
        return found

    def __getattr__(self, name: str) -> Any:
        self.other_use = True
        return getattr(self._files, name)


def _listing_once(env: Any) -> Any:
    """The theme environment, listing the theme's files once (MkDocs lists them every build).

    MkDocs lists them with a filter that depends only on the theme, which an environment
    kept per base configuration fixes.
    """
    listed: list[list[str]] = []
    list_templates = env.list_templates

    def once(*args: Any, **kwargs: Any) -> list[str]:
        if not listed:
            listed.append(list_templates(*args, **kwargs))
        return list(listed[0])

    env.list_templates = once
    return env


def _macros_once(env: Any) -> Any:
    """The theme environment, rendering once per build each call of a Material macro that
    gives the same HTML on many pages:

    - ``render`` of ``partials/nav-item.html``, the navigation, one call per item: most of a
      page's render on a large site. What a call gives depends on its arguments, on the
      build (settings, titles) and, through relative links, on the page's folder; on the
      page itself only for the items on the way to it, which MkDocs marks active. So a call
      for an item that is not active, with only pages and sections under it, is looked up
      by the item, its path and level, its parent's state and where the page sits as the
      item's links see it: the depth of the page's folder, or the whole folder when its
      first part is also the first part of a link under the item. Only while MkDocs' own
      ``url`` filter makes the links.
    - ``t`` of ``partials/language.html``, a text of the interface in the build's language,
      by its key (the translations it reads, the theme's own ones too, see no page).

    Only Material's own templates are remembered: the theme's own version of one may read
    anything.
    """
    import weakref

    import jinja2
    from mkdocs.structure.nav import Section
    from mkdocs.structure.pages import Page
    from mkdocs.utils.templates import url_filter

    try:
        import material

        material_dir = Path(material.__file__).parent / "templates"
        navigation = env.get_template("partials/nav-item.html")
        language = env.get_template("partials/language.html")
        settings = {"config": {"theme": {"language": "en"}}}
        codes = (
            navigation.module.render._func.__code__,
            language.make_module(settings).t._func.__code__,
        )
    except (ImportError, jinja2.TemplateError, AttributeError):
        return env

    @dataclass
    class Build:
        """What the calls of one build gave, and what their keys are made of. Items are
        known by identity, which no other object takes while the build's navigation (and
        so every item in it) lives: a build is not looked up once its navigation is gone."""

        navigation: weakref.ref[Any]
        given: dict[tuple[Any, ...], Any] = field(default_factory=dict)
        firsts: dict[int, frozenset[str] | None] = field(default_factory=dict)
        folders: dict[str, list[str]] = field(default_factory=dict)

    current: list[Build] = []  # the build being rendered (or the last one)

    def build_of(context: Any) -> Build | None:
        """The build ``context`` renders for (known by its navigation), or None."""
        nav = context.resolve_or_missing("nav")
        if current and current[0].navigation() is nav:
            return current[0]
        try:
            current[:] = [Build(weakref.ref(nav))]
        except TypeError:  # a navigation a weak reference cannot follow
            return None
        return current[0]

    def firsts(item: Any, build: Build) -> frozenset[str] | None:
        """The first parts of the links under ``item``; None unless it is pages and
        sections only (other items may link anywhere)."""
        if id(item) in build.firsts:
            return build.firsts[id(item)]
        found: frozenset[str] | None = None
        if type(item) is Page:
            found = frozenset((item.url.split("/", 1)[0],))
        elif type(item) is Section:
            under = [firsts(child, build) for child in item.children]
            if None not in under:
                found = frozenset(part for parts in under if parts for part in parts)
        build.firsts[id(item)] = found
        return found

    def navigation_key(context: Any, build: Build, args: tuple[Any, ...]) -> Any:
        url = getattr(context.resolve_or_missing("page"), "url", None)
        if (
            len(args) not in (3, 4)
            or not isinstance(url, str)
            or context.environment.filters.get("url") is not url_filter
        ):
            return None
        item, path, level, *parent = args
        under = firsts(item, build)
        if under is None or item.active:
            return None
        parts = build.folders.get(url)
        if parts is None:
            folder, _, name = url.rpartition("/")
            parts = [part for part in (folder if "." in name else url).split("/") if part]
            build.folders[url] = parts
        where = tuple(parts) if parts and parts[0] in under else len(parts)
        state = [(id(above), getattr(above, "active", None)) for above in parent]
        return (codes[0], id(item), path, level, *state, where)

    def text_key(context: Any, build: Build, args: tuple[Any, ...]) -> Any:
        return (codes[1], *args)

    keys: dict[Any, Callable[[Any, Build, tuple[Any, ...]], Any]] = {}
    if Path(navigation.filename) == material_dir / navigation.name:
        keys[codes[0]] = navigation_key
    if Path(language.filename) == material_dir / language.name:
        keys[codes[1]] = text_key
    if not keys:
        return env

    class Remembering(env.context_class):  # type: ignore[misc]
        def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            func = getattr(__obj, "_func", None)
            keyed = None if func is None else keys.get(func.__code__)
            if keyed is None or not kwargs.keys() <= {"_loop_vars", "_block_vars"}:
                return super().call(__obj, *args, **kwargs)
            build = build_of(__self)
            key = None if build is None else keyed(__self, build, args)
            if build is None or key is None:
                return super().call(__obj, *args, **kwargs)
            done = build.given.get(key)
            if done is None:
                done = build.given[key] = super().call(__obj, *args, **kwargs)
            return done

    env.context_class = Remembering
    return env


def _theme_bytecode(env: Any) -> Any:
    """Jinja's bytecode cache for the theme's templates, in Jinja's private folder for this
    user (made with no access for others, its owner checked); None where there is none.

    Every process that builds compiled Material's templates again, about 0.2 s: the first
    tenant of a run, and all of a one-tenant rebuild. A template is looked up by its file,
    its source and what decides how it compiles (the Jinja, MkDocs and Material versions,
    the environment's syntax and extensions); one that cannot be read or written is
    compiled as before.
    """
    import pickle
    import sys
    from importlib.metadata import version

    import jinja2

    settings = (
        sys.version,
        jinja2.__version__,
        version("mkdocs"),
        version("mkdocs-material"),
        sorted(env.extensions),
        *(
            str(getattr(env, name))
            for name in (
                "block_start_string",
                "block_end_string",
                "variable_start_string",
                "variable_end_string",
                "comment_start_string",
                "comment_end_string",
                "line_statement_prefix",
                "line_comment_prefix",
                "trim_blocks",
                "lstrip_blocks",
                "newline_sequence",
                "keep_trailing_newline",
                "optimized",
                "autoescape",
                "is_async",
            )
        ),
    )
    salt = hashlib.sha256(repr(settings).encode("utf-8")).hexdigest()

    class ThemeBytecode(jinja2.FileSystemBytecodeCache):
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            return f"tenantdocs-{salt[:16]}-{super().get_cache_key(name, filename)}"

        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
                bucket.reset()  # unreadable: compiled as if it were not there

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return ThemeBytecode()
    except (OSError, RuntimeError):  # no private folder can be made or trusted
        return None


def _base_key(path: Path | None) -> str:
    """Identifies a base configuration by path and content (what a kept environment fits)."""
    if path is None:
        return ""
    return f"{path.absolute()}:{hashlib.sha256(path.read_bytes()).hexdigest()}"


@contextmanager
def _recorded_mkdocs_log(
    level: int = logging.NOTSET, *, held: bool = False
) -> Iterator[list[logging.LogRecord]]:
    """Also note what MkDocs logs at ``level`` or above (it still reaches every other handler);
    ``held``: only note it, for the caller to pass on (:func:`_pass_on`) or drop."""
    records: list[logging.LogRecord] = []

    class Note(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("mkdocs")
    handler = Note(level)
    saved = (logger.handlers, logger.propagate)
    if held:
        logger.handlers, logger.propagate = [], False
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        if held:
            logger.handlers, logger.propagate = saved


def _pass_on(records: Sequence[logging.LogRecord]) -> None:
    """Log again what MkDocs logged (noted by :func:`_recorded_mkdocs_log`)."""
    for record in records:
        logging.getLogger(record.name).handle(record)


@contextmanager
def _build_environment() -> Iterator[None]:
    """Set :data:`BUILD_ENVIRONMENT` for one build only; the caller's own values win."""
    added = sorted(key for key in BUILD_ENVIRONMENT if key not in os.environ)
    os.environ.update({key: BUILD_ENVIRONMENT[key] for key in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


DEFAULT_EXTENSIONS: tuple[str | dict[str, Any], ...] = (
    {"toc": {"permalink": True}},
    "tables",
    "admonition",
    "attr_list",
    "md_in_html",
    "pymdownx.details",
    "pymdownx.superfences",
    {"pymdownx.highlight": {"use_pygments": True}},
    "pymdownx.inlinehilite",
)
"""Markdown extensions when the templates have no base configuration (or it names none)."""
REQUIRED_EXTENSIONS = ("admonition",)
"""Extensions the pages need whatever the base configuration says: rewritten alerts."""


def _extension_name(entry: str | dict[str, Any]) -> str:
    """The name of a ``markdown_extensions`` entry (a name, or a name with its settings)."""
    return entry if isinstance(entry, str) else next(iter(entry))


def _extensions(base: dict[str, Any]) -> list[str | dict[str, Any]]:
    configured = base.get("markdown_extensions")
    if not configured:
        return copy.deepcopy(list(DEFAULT_EXTENSIONS))  # MkDocs consumes what it is given
    names = {_extension_name(e) for e in configured}
    return [*configured, *(e for e in REQUIRED_EXTENSIONS if e not in names)]


def _overrides(plan: SitePlan, docs: Path, site_dir: Path) -> dict[str, Any]:
    base = _read_base(plan.base_config)
    theme = base.get("theme") or {"name": "material"}
    if isinstance(theme, str):
        theme = {"name": theme}
    # Admins read these sites on closed networks: no web fonts from a CDN.
    theme = {**theme, "font": False}
    if theme.get("name") == "material":
        # Code blocks carry values too: they get Material's copy button. A light and a dark
        # scheme (following the system, with a toggle) unless the base configuration has one.
        features = list(theme.get("features") or [])
        wanted = [*MATERIAL_FEATURES, *(LARGE_SITE_FEATURES if _large(plan.nav) else ())]
        theme["features"] = [*features, *(f for f in wanted if f not in features)]
        theme.setdefault("palette", default_palette())
    # Search splits URLs into their parts, so a host name or "saml2" finds the values too.
    plugins = base.get("plugins") or [{"search": {"separator": SEARCH_SEPARATOR}}]
    # Broken relative links and images are reported, with their template line, by the
    # templates scan; MkDocs' own report of them would only repeat it without a location.
    validation = base.get("validation") or {}
    links = {**(validation.get("links") or {}), "not_found": "info"}
    validation = {**validation, "links": links}
    return {
        # MkDocs themes print the site name and navigation titles as HTML, unescaped (and
        # `striptags` in <title> would decode entities): hand them over as escaped Markup.
        "site_name": Markup.escape(plan.site_name),
        "docs_dir": str(docs.absolute()),
        "site_dir": str(site_dir.absolute()),
        "nav": _escaped_titles(plan.nav),
        "theme": theme,
        "plugins": plugins,
        "validation": validation,
        "markdown_extensions": _extensions(base),
        # Links end in index.html so a site also works opened from the file system.
        "use_directory_urls": False,
        # The copy buttons and panel styles, served from the site itself.
        "extra_css": [*(base.get("extra_css") or []), ASSETS_DIR + "/tenantdocs.css"],
        "extra_javascript": [*(base.get("extra_javascript") or []), ASSETS_DIR + "/tenantdocs.js"],
    }


def _escaped_titles(nav: Sequence[NavItem]) -> list[dict[str, Any]]:
    """The navigation with every title HTML-escaped (as Markup, so ``| e`` keeps it as is)."""
    return [
        {
            Markup.escape(title): target if isinstance(target, str) else _escaped_titles(target)
            for title, target in item.items()
        }
        for item in nav
    ]


SEARCH_SEPARATOR = r'[\s\-,:!=\[\]()"`/?&]+|\.(?!\d)|&[lg]t;|(?!\b)(?=[A-Z][a-z])'
"""Material's separator for technical text (its documentation's), plus URL query characters."""
ASSETS_DIR = "_tenantdocs"
"""Docs folder of the site's own CSS and script; app folders never start with ``_``."""
MATERIAL_FEATURES = ("content.code.copy",)
"""Material features every tenant site has, whatever the base configuration lists."""
LARGE_SITE_FEATURES = ("navigation.prune",)
"""Material features of a site whose navigation has sections: each page carries only the
section it is in (with hundreds of guides, the whole navigation weighed 200 KB a page)."""


LARGE_SITE_PAGES = 40
"""Guides in a site beyond which its navigation is grouped and pruned."""


def _large(nav: Sequence[NavItem]) -> bool:
    """Whether the navigation holds more than :data:`LARGE_SITE_PAGES` pages."""

    def pages(items: Sequence[NavItem]) -> int:
        return sum(
            1 if isinstance(target, str) else pages(target)
            for item in items
            for target in item.values()
        )

    return pages(nav) > LARGE_SITE_PAGES + 1  # the home page besides the guides


def default_palette() -> list[dict[str, Any]]:
    """Light and dark following the system, with a toggle; used when the base sets none."""
    return [
        {
            "media": "(prefers-color-scheme: light)",
            "scheme": "default",
            "toggle": {"icon": "material/brightness-7", "name": "Switch to dark mode"},
        },
        {
            "media": "(prefers-color-scheme: dark)",
            "scheme": "slate",
            "toggle": {"icon": "material/brightness-4", "name": "Switch to light mode"},
        },
    ]


def site_assets() -> dict[str, bytes]:
    """The site's own CSS and script by docs path, read from the package."""
    folder = resources.files("tenantdocs") / "assets"
    return {
        f"{ASSETS_DIR}/{name}": (folder / name).read_bytes()
        for name in ("tenantdocs.css", "tenantdocs.js")
    }


_A_TAG = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""\shref=(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_NOT_RELATIVE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#|\?)", re.IGNORECASE)


def mark_downloads(page_html: str, page_path: str, downloads: frozenset[str]) -> str:
    """Add ``download`` to links from the page at ``page_path`` to one of ``downloads``.

    Browsers would otherwise show a metadata XML instead of saving it.
    """

    def mark(match: re.Match[str]) -> str:
        tag = match.group(0)
        href = _HREF.search(tag)
        if href is None or re.search(r"\sdownload\b", tag, re.IGNORECASE):
            return tag
        url = html.unescape(href.group(1) if href.group(1) is not None else href.group(2))
        if _NOT_RELATIVE.match(url):
            return tag
        path = unquote(url.split("#", 1)[0].split("?", 1)[0])
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), path))
        return tag[:2] + " download" + tag[2:] if target in downloads else tag

    return _A_TAG.sub(mark, page_html)


def _download_links(downloads: frozenset[str]) -> Any:
    """A MkDocs plugin (added in-process) that applies :func:`mark_downloads` to every page."""
    from mkdocs.plugins import BasePlugin

    class DownloadLinks(BasePlugin):  # type: ignore[no-untyped-call,type-arg]
        def on_page_content(self, html: str, /, *, page: Any, config: Any, files: Any) -> str:
            return mark_downloads(html, page.file.src_uri, downloads)

    return DownloadLinks()


_BLOCKS_PASS_THROUGH = frozenset({"fenced_code", *map(_extension_name, DEFAULT_EXTENSIONS)})
"""The Markdown extensions that leave an HTML comment as it is, whatever it holds (checked
for what they change before setting it aside: fences, whitespace): MkDocs' own and
tenantdocs' default ones."""


def _blocks_pass_through(config: Any) -> bool:
    """Whether a page's HTML blocks come through converting as they are, unlooked at: every
    Markdown extension of the run is one of :data:`_BLOCKS_PASS_THROUGH`, and MkDocs' own
    ``Page.render`` converts (a plugin's may read the whole Markdown)."""
    return _mkdocs_converts() and set(config["markdown_extensions"]) <= _BLOCKS_PASS_THROUGH


def _mkdocs_converts() -> bool:
    """Whether ``Page.render`` is MkDocs' own, not one a plugin put in its place."""
    from mkdocs.structure import pages

    render = pages.Page.render
    return (render.__module__, render.__qualname__) == (pages.__name__, "Page.render")


def _html_blocks() -> Any:
    """A MkDocs plugin (added in-process) that puts each :func:`tenantdocs.render.html_block`
    of a page back as HTML before any other plugin sees the page."""
    from mkdocs.plugins import BasePlugin, event_priority

    class HtmlBlocks(BasePlugin):  # type: ignore[no-untyped-call,type-arg]
        @event_priority(100)
        def on_page_content(self, html: str, /, *, page: Any, config: Any, files: Any) -> str:
            return open_html_blocks(html)

    return HtmlBlocks()


def _renders_alone(plan: SitePlan) -> bool:
    """Whether MkDocs can be handed the plan's docs from memory (:func:`_documents`), and so
    render some of its pages alone: not when a page is a README, which MkDocs settles
    against an index beside it from the docs folder itself."""
    return not any(_stem(path) == "README" for path in (*plan.pages, *plan.files))


def _documents(documents: Mapping[str, bytes], only: frozenset[str] | None = None) -> Any:
    """A MkDocs plugin (added in-process) that hands MkDocs the docs from memory.

    Writing a tenant's docs only for MkDocs to read them back cost as much as converting a
    tenant's pages. The files are the ones MkDocs would have found in the docs folder, in the
    order it walks it, with what reading them would give (pages with universal newlines,
    other files byte for byte); a theme file is left out where a doc file takes its place,
    as MkDocs does. Other plugins see them as MkDocs would have listed them.

    With ``only``, every file but those docs paths is up to date for a ``dirty`` build:
    MkDocs reads, converts and writes just those pages.
    """
    from mkdocs.plugins import BasePlugin, event_priority
    from mkdocs.structure.files import File, Files

    class Documents(BasePlugin):  # type: ignore[no-untyped-call,type-arg]
        @event_priority(100)  # before every other plugin
        def on_files(self, files: Any, /, *, config: Any) -> Any:
            ours = []
            for path in sorted(documents, key=_walk_order):
                file = File(path, config.docs_dir, config.site_dir, config.use_directory_urls)
                data = documents[path]
                if file.is_documentation_page():
                    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                file.content_bytes = data
                ours.append(file)
            taken = {file.src_uri for file in ours}
            listed = Files([*ours, *(file for file in files if file.src_uri not in taken)])
            if only is not None:
                for file in listed:
                    if file.src_uri not in only:
                        file.is_modified = _up_to_date  # type: ignore[method-assign]
            return listed

    return Documents()


def _up_to_date() -> bool:
    """``File.is_modified`` of a file a build of some pages alone leaves as it is."""
    return False


def _linked_theme_files(store: Path, linked: list[str]) -> Any:
    """A MkDocs plugin (added in-process) that puts the theme's static files (scripts, styles,
    fonts) into the site as hard links to one copy in ``store``, made by the first build
    that needs it; the output path of each is added to ``linked``.

    Every tenant site carries the same few dozen theme files, and making a file costs far
    more than linking one: on a file system that skips recently freed inodes (ext4 without
    a journal), each new file of a rebuild first walks past the ones the last build freed.
    A copy is kept under the source's path, size and modification time, so a changed theme
    file is copied again; where a link cannot be made, MkDocs copies the file as it would.
    Only when every plugin of the run is one known to write no file of the site after MkDocs
    copied it (:data:`_STATELESS_PLUGINS`, tenantdocs' own): another (a minifier) could write
    into a linked file, and so into every site that shares it.
    """
    from mkdocs.plugins import BasePlugin, event_priority
    from mkdocs.structure.files import File

    def link(file: Any, dirty: bool = False) -> None:
        source, target = Path(file.abs_src_path), Path(file.abs_dest_path)
        try:
            stat = source.stat()
            key = repr((str(source), stat.st_size, stat.st_mtime_ns)).encode("utf-8")
            kept = store / hashlib.sha256(key).hexdigest()
            if not kept.exists():
                partial = kept.with_name(f"{kept.name}.{os.getpid()}")
                shutil.copyfile(source, partial)
                partial.replace(kept)  # whole or not at all for another process linking it
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.hardlink_to(kept)
            except FileExistsError:  # a dirty build: never written through, linked anew
                target.unlink()
                target.hardlink_to(kept)
        except OSError:  # no link here (another file system, too many links)
            File.copy_file(file, dirty)
        else:
            linked.append(file.dest_uri)

    class ThemeFiles(BasePlugin):  # type: ignore[no-untyped-call,type-arg]
        @event_priority(-100)  # after every other plugin: the files are final
        def on_files(self, files: Any, /, *, config: Any) -> Any:
            if not _stateless(config.plugins.values()):
                return files
            folders = [Path(folder) for folder in config.theme.dirs]
            for file in files:
                # A file a plugin gave content to has no source path: MkDocs writes it.
                source = file.abs_src_path
                if source is not None and any(Path(source).is_relative_to(f) for f in folders):
                    file.copy_file = functools.partial(link, file)
            return files

    return ThemeFiles()


def _walk_order(path: str) -> tuple[tuple[int, Any], ...]:
    """Sorts docs paths as MkDocs walks the docs folder: in each folder its files (an index
    first, then by name), then its folders by name."""
    *folders, name = path.split("/")
    return (
        *((1, folder) for folder in folders),
        (0, (_stem(name) not in ("index", "README"), name)),
    )


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[0]


def _read_base(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from mkdocs.utils.yaml import yaml_load

    with path.open("rb") as stream:
        data = yaml_load(stream)
    return data if isinstance(data, dict) else {}


@contextmanager
def _captured_mkdocs_log() -> Iterator[list[logging.LogRecord]]:
    """Collect MkDocs' warnings instead of letting them reach stderr unformatted."""
    logger = logging.getLogger("mkdocs")
    saved = (logger.propagate, logger.level)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        with _recorded_mkdocs_log(logging.WARNING) as records:
            yield records
    finally:
        logger.propagate, logger.level = saved


def _warning(plan: SitePlan, record: logging.LogRecord) -> Problem:
    message = record.getMessage().splitlines()[0]
    source = next((loc for page, loc in plan.sources.items() if f"'{page}'" in message), None)
    return Problem(source or plan.sources[""], f"MkDocs: {message}", Severity.WARNING)


def serve_live(
    root: Path,
    host: str,
    port: int,
    rebuild: Callable[[Callable[[], None]], None],
    watched: Sequence[Path],
    on_request: Callable[[str], None],
) -> None:
    """Serve ``root`` with MkDocs' live-reload server until interrupted.

    ``rebuild`` runs after any change below ``watched`` (then browsers reload); it is given
    a function that has browsers reload at once, with what is on disk then, and requests
    answered again while the rebuild goes on (see :func:`_show_now`). ``on_request`` gets
    the path of each page request (below ``root``, without a leading "/") before it is
    answered.
    """
    from mkdocs.livereload import LiveReloadServer

    class Server(LiveReloadServer):
        def serve_request(self, environ: dict[str, Any], start_response: Any) -> Any:
            path = str(environ.get("PATH_INFO", "")).lstrip("/")
            if path and not path.startswith("livereload/"):
                on_request(path)
            return super().serve_request(environ, start_response)

    server: Server

    def build() -> None:
        rebuild(functools.partial(_show_now, server))

    server = Server(builder=build, host=host, port=port, root=str(root))
    server.observer = _NativeObserver(server.observer)  # type: ignore[assignment]
    for path in watched:
        server.watch(str(path))
    try:
        server.serve()  # type: ignore[no-untyped-call]
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def _show_now(server: Any) -> None:
    """Have ``server`` (MkDocs' live-reload server, from its rebuild) count the site as it is
    on disk now as a new version: browsers reload, and requests are answered again rather
    than held until the rebuild ends. MkDocs keeps no public way to do this: it is done with
    the two versions it keeps (the one a rebuild makes, the one browsers see), and not at
    all with a MkDocs that keeps them otherwise."""
    versions = ("_epoch_cond", "_wanted_epoch", "_visible_epoch")
    if not all(hasattr(server, name) for name in versions):
        return
    with server._epoch_cond:
        # In MkDocs' unit (milliseconds of the monotonic clock), after the last one.
        version = max(round(time.monotonic() * 1000), server._visible_epoch + 1)
        server._wanted_epoch = server._visible_epoch = version
        server._epoch_cond.notify_all()


# --- the preview: one tenant's site kept warm between edits --------------------------------


class LiveSite:
    """One tenant's site in the preview, rebuilt page by page where that gives the same site.

    It keeps the docs folder, the theme's compiled templates and the full search index from
    one build to the next. When the navigation, the site name, the set of pages and files,
    the downloads and the base configuration are those of the last build, and no plugin
    but search is configured, :meth:`update` writes only the pages and files whose bytes
    changed and runs a MkDocs ``dirty`` build, which converts and renders just those (MkDocs
    compares modification times). Every other page, the 404 page and the sitemap depend
    only on what did not change, so they stay as the last build made them; the search
    index, which a dirty build writes with the rebuilt pages only, is merged back into the
    full one in the order a full build gives. Anything else needs :meth:`build`, which
    builds the whole site as ``build`` does (a :class:`SiteBuilder` of ``jobs`` processes):
    pages whose Markdown did not change since an earlier full build (a new app in the
    navigation, a renamed title) are not converted again.
    """

    DIRTY_PLUGINS = frozenset({"search", "material/search"})
    """Plugins whose output a dirty build keeps exact (search, with the merge below)."""

    def __init__(self, work_dir: Path, jobs: int = 1) -> None:
        self.docs = work_dir / "docs"
        """The docs folder MkDocs reads; kept between builds."""
        self._work = work_dir
        self._builder = SiteBuilder(jobs=jobs)
        self._last: SitePlan | None = None
        self._last_docs: dict[str, bytes] = {}
        self._order: list[str] = []
        self._entries: dict[str, list[Any]] = {}
        self._index_config: Any = None

    @property
    def spread_pages(self) -> tuple[int, int]:
        """Pages of the last full build taken from a forked copy (see :class:`SiteBuilder`)."""
        return self._builder.spread_pages

    def can_update(self, plan: SitePlan) -> bool:
        """Whether :meth:`update` builds ``plan`` exactly (else :meth:`build` must)."""
        last = self._last
        return (
            last is not None
            and self._builder.plugins <= self.DIRTY_PLUGINS
            and (self._index_config is not None or not self._builder.plugins)
            and last.site_name == plan.site_name
            and list(last.nav) == list(plan.nav)
            and last.base_config == plan.base_config
            and last.pages.keys() == plan.pages.keys()
            and last.files.keys() == plan.files.keys()
            and last.downloads == plan.downloads
        )

    def build(self, plan: SitePlan, site_dir: Path) -> list[Problem]:
        """Build the whole site into ``site_dir`` (a fresh folder); return MkDocs' warnings."""
        self._last = None  # until this build succeeds, only a full build is exact
        wanted = _docs_files(plan)
        for docs_path, data in wanted.items():
            if self._last_docs.get(docs_path) != data:
                _write(self.docs / docs_path, data)
        for path in sorted(p for p in self.docs.rglob("*") if p.is_file()):
            if path.relative_to(self.docs).as_posix() not in wanted:
                path.unlink()
        self._last_docs = wanted
        warnings = self._builder.build(plan, self._work, site_dir)
        index = _read_index(site_dir)
        self._order = list(self._builder.page_order)
        self._entries = _by_page(index["docs"]) if index is not None else {}
        self._index_config = index["config"] if index is not None else None
        if any(url not in self._order for url in self._entries):
            self._index_config = None  # not laid out as expected: never merged, always full
        self._last = plan
        return warnings

    def render_pages(self, plan: SitePlan, outputs: Collection[str]) -> dict[str, bytes]:
        """What a full build of ``plan`` writes for those of its pages whose output paths are
        ``outputs``, by output path, rendered alone: in a fraction of the time the whole site
        takes, so the pages a writer looks at can be shown first. Empty when they cannot be
        rendered alone: a plugin other than search may read every page (as the last build's
        configuration had it), a page is a README, or MkDocs failed (the full build will
        say why)."""
        wanted = frozenset(p for p in plan.pages if _output_path(p) in outputs)
        alone = self._builder.plugins <= self.DIRTY_PLUGINS and _renders_alone(plan)
        if not wanted or not alone:
            return {}
        work = self._work / "alone"
        shutil.rmtree(work, ignore_errors=True)
        try:
            self._builder.build(plan, work, work / "site", only=wanted)
        except SiteBuildError:
            return {}
        found = {_output_path(p): work / "site" / _output_path(p) for p in sorted(wanted)}
        return {path: out.read_bytes() for path, out in found.items() if out.is_file()}

    def changed(self, plan: SitePlan) -> list[str]:
        """Docs paths of the pages and files whose bytes differ from the last build's."""
        return [p for p, data in _docs_files(plan).items() if self._last_docs.get(p) != data]

    def outputs(self, docs_paths: Sequence[str]) -> list[str]:
        """Output paths an :meth:`update` that changed ``docs_paths`` wrote: theirs, and
        the search index when a page changed and the index is merged."""
        found = [_output_path(p) for p in docs_paths]
        if self._index_config is not None and any(p.endswith(".md") for p in docs_paths):
            found.append("search/search_index.json")
        return found

    def update(self, plan: SitePlan, site_dir: Path) -> tuple[list[str], list[Problem]]:
        """Rebuild in ``site_dir`` the pages and files that changed; return their docs paths
        and MkDocs' warnings. Only for a plan :meth:`can_update` accepts."""
        assert self.can_update(plan), "a full build is needed"
        wanted = _docs_files(plan)
        changed = self.changed(plan)
        if not changed:
            self._last = plan
            return [], []
        copied = [p for p in changed if not p.endswith(".md")]
        if len(copied) == len(changed) and all((site_dir / p).is_file() for p in copied):
            # Only files MkDocs copies byte for byte (certificates, metadata documents) and
            # did copy before: written here, no MkDocs run for them.
            for docs_path in copied:
                _write(self.docs / docs_path, wanted[docs_path])
                _write(site_dir / docs_path, wanted[docs_path])
            self._last_docs, self._last = wanted, plan
            return changed, []
        self._last = None  # a failed dirty build leaves the site to a full build
        for docs_path in changed:
            _write(self.docs / docs_path, wanted[docs_path])
            built = site_dir / _output_path(docs_path)
            if built.exists():
                os.utime(built, ns=(0, 0))  # older than its source, whatever the clock did
        self._last_docs = wanted
        warnings = self._dirty_run(plan, site_dir)
        if self._index_config is not None:
            index = _read_index(site_dir) or {"docs": []}
            rebuilt = _by_page(index["docs"])
            for docs_path in changed:
                if docs_path.endswith(".md"):
                    url = _output_path(docs_path)
                    self._entries[url] = rebuilt.pop(url, [])
            self._entries.update(rebuilt)
            docs = [entry for url in self._order for entry in self._entries.get(url, [])]
            data = {"config": self._index_config, "docs": docs}
            # Written as Material writes it, so the file is the one a full build gives.
            text = json.dumps(data, separators=(",", ":"), default=str)
            (site_dir / "search" / "search_index.json").write_bytes(text.encode("utf-8"))
        self._last = plan
        return changed, warnings

    def _dirty_run(self, plan: SitePlan, site_dir: Path) -> list[Problem]:
        """A MkDocs ``dirty`` build of the docs folder into ``site_dir``; its warnings."""
        from mkdocs import exceptions

        overrides = _overrides(plan, self.docs, site_dir)
        with _build_environment(), _captured_mkdocs_log() as records:
            try:
                config = _load_config(plan, self._work, overrides)
                config.plugins["tenantdocs/html-blocks"] = _html_blocks()
                config.plugins["tenantdocs/downloads"] = _download_links(plan.downloads)
                # The theme as the full builds had it: compiled once, not again after each.
                self._builder.use_theme_env(config, _base_key(plan.base_config))
                # The 404 page and the sitemap show the navigation, which did not change.
                config.theme.static_templates = set()
                _dirty_build(config, plan, records)
            except (exceptions.MkDocsException, exceptions.Abort, OSError) as exc:
                raise _build_failed(plan, records, exc) from None
        return [_warning(plan, r) for r in records if not _dirty_notice(r)]


def _load_config(plan: SitePlan, work_dir: Path, overrides: dict[str, Any]) -> Any:
    """MkDocs' configuration for ``plan``: its base configuration (or none) with ``overrides``."""
    from mkdocs.config import load_config

    if plan.base_config is not None:
        return load_config(str(plan.base_config), **overrides)
    return load_config(
        io.StringIO("{}"), config_file_path=str(work_dir / "mkdocs.yml"), **overrides
    )


@contextmanager
def _themes_listed_once(kept: dict[str, Any]) -> Iterator[None]:
    """Have MkDocs list the installed themes from ``kept`` while it loads a configuration
    (the list read once, into ``kept``).

    MkDocs reads every installed package's entry points for the themes on each
    configuration load (it empties its own cache of them whenever a theme loads): about
    10 ms, a third of a small tenant's run. A builder keeps the list for the builds it
    makes, during which nothing gets installed.
    """
    from mkdocs import utils

    themes = utils.get_themes

    def kept_themes() -> Any:
        if "themes" not in kept:
            kept["themes"] = themes.__wrapped__()
        return kept["themes"]

    kept_themes.cache_clear = lambda: None  # type: ignore[attr-defined]
    utils.get_themes = kept_themes  # type: ignore[assignment]
    try:
        yield
    finally:
        utils.get_themes = themes


def _build_failed(
    plan: SitePlan, records: Sequence[logging.LogRecord], exc: Exception
) -> SiteBuildError:
    """The error for a MkDocs run that aborted: the reasons MkDocs logged before it did
    (each configuration error, …), located at the base configuration or the tenant file;
    when it stopped in strict mode, first the warnings it counted, each located as a
    warning is."""
    reasons = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    where = Location(plan.base_config) if plan.base_config else plan.sources[""]
    problems = [Problem(where, f"MkDocs: {reason}") for reason in reasons or [str(exc)]]
    if not reasons and "in strict mode" in str(exc):
        counted = _counted_warnings(records)
        problems[:0] = [replace(_warning(plan, r), severity=Severity.ERROR) for r in counted]
    return SiteBuildError(problems)


def _dirty_build(config: Any, plan: SitePlan, records: Sequence[logging.LogRecord]) -> None:
    """MkDocs' ``dirty`` build of ``config``, strict as a full build is: MkDocs counts its own
    notice that the build is dirty as a warning, which in strict mode would stop every
    one; so it runs lenient, and stops as MkDocs would on the warnings of the build
    (``records`` collects them)."""
    from mkdocs import exceptions
    from mkdocs.commands.build import build

    strict, config.strict = config.strict, False
    try:
        build(config, dirty=True)
    finally:
        config.strict = strict
    counted = _counted_warnings(records)
    if strict and counted:
        raise exceptions.Abort(f"Aborted with {len(counted)} warnings in strict mode!")


def _counted_warnings(records: Sequence[logging.LogRecord]) -> list[logging.LogRecord]:
    """The warnings among ``records`` that strict mode stops a build on: all but MkDocs'
    notice of a dirty build."""
    return [r for r in records if r.levelno == logging.WARNING and not _dirty_notice(r)]


def _dirty_notice(record: logging.LogRecord) -> bool:
    """Whether ``record`` is what MkDocs warns on every dirty build (the preview's dirty
    builds are exact)."""
    return record.getMessage().startswith("A 'dirty' build is being performed")


def _docs_files(plan: SitePlan) -> dict[str, bytes]:
    """Every file of the docs folder by docs path: pages, files and the site's own assets."""
    wanted = {path: text.encode("utf-8") for path, text in plan.pages.items()}
    wanted.update(plan.files)
    wanted.update(site_assets())
    return wanted


def _output_path(docs_path: str) -> str:
    """Where MkDocs writes a docs file (``use_directory_urls`` is off)."""
    return docs_path[:-3] + ".html" if docs_path.endswith(".md") else docs_path


def _read_index(site_dir: Path) -> dict[str, Any] | None:
    path = site_dir / "search" / "search_index.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_bytes())
    return data if isinstance(data, dict) else None


def _by_page(entries: Sequence[Any]) -> dict[str, list[Any]]:
    """Search index entries grouped by page URL, in order."""
    pages: dict[str, list[Any]] = {}
    for entry in entries:
        pages.setdefault(str(entry["location"]).split("#", 1)[0], []).append(entry)
    return pages


class _NativeObserver:
    """The system's file watcher (inotify on Linux) in place of MkDocs' polling one, which
    walks the watched folders every half second (hundreds of app folders) and so adds a
    quarter of a second to every edit on average; the polling one when the system's
    cannot start (e.g. too many folders for the inotify limits)."""

    def __init__(self, polling: Any) -> None:
        from watchdog.observers import Observer

        self._polling = polling
        self._native: Any = Observer()
        self._scheduled: list[tuple[Any, str, bool]] = []
        self._active: Any = self._native

    def schedule(self, handler: Any, path: str, recursive: bool = False) -> Any:
        self._scheduled.append((handler, path, recursive))
        return self._active.schedule(handler, path, recursive=recursive)

    def unschedule(self, watch: Any) -> None:
        self._active.unschedule(watch)

    def start(self) -> None:
        try:
            self._native.start()
        except OSError:
            self._native.stop()
            self._active = self._polling
            for handler, path, recursive in self._scheduled:
                self._polling.schedule(handler, path, recursive=recursive)
            self._polling.start()

    def stop(self) -> None:
        self._active.stop()

    def join(self, timeout: float | None = None) -> None:
        if self._active.is_alive():
            self._active.join(timeout)
