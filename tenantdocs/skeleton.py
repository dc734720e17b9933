"""Build many tenants with one MkDocs run: tenants that differ only in values share a skeleton.

Tenants share the guides and differ in values. For each planned tenant, every value that
MkDocs would pass through verbatim (see :data:`PLAIN`) is replaced in its pages, navigation
and site name by a sentinel that names the value's role (``app:key``, the tenant's name…).
Tenants whose sentinel plans are identical form a group; MkDocs builds the group's plan
once, and each tenant's site is that output with the sentinels replaced by its values.

It stays exact by construction, and refuses (the tenant is then built on its own) where it
could not be:

- only values made of :data:`PLAIN` characters are replaced: every escaping the renderer and
  MkDocs apply (Markdown, HTML text and attributes, URL encoding, JSON) leaves them as they
  are, so the value stands in the output exactly where its sentinel stands;
- the replacement must round-trip on the plan (no sentinel text in the inputs, values
  restored byte for byte);
- the skeleton's output may hold a sentinel only whole and in its exact case (a heading
  anchor would lower-case it, a highlighter could split it): any other trace of a sentinel
  anywhere in the output rejects the group;
- in highlighted code a sentinel must stand inside a string token, where a lexer keeps the
  characters of :data:`PLAIN` together as it keeps the sentinel's.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tenantdocs.adminpages import provenance_place
from tenantdocs.certificates import shown_time
from tenantdocs.files import files_under, write_own
from tenantdocs.sitebuild import SitePlan
from tenantdocs.values import ValueSet, metadata_identity

PLAIN = re.compile(r"(?!\d+[.)])[A-Za-z0-9][A-Za-z0-9 :/?@!+,;=~.-]{2,2047}")
"""Values every escaping on the way to the page leaves unchanged: no ``& < > " ' _ * # $ %``,
and no start that prose escaping would encode (punctuation, or ``1.`` as in a list)."""

_MARK = "ZQXTDV"
_TRACE = re.compile(_MARK, re.IGNORECASE)
_MARK_LOWER = _MARK.lower().encode("ascii")
SENTINEL = re.compile(_MARK + r"[0-9A-F]{10}Q")
"""What every sentinel looks like."""
_TEXT_SUFFIXES = {".html", ".json", ".xml"}
_HEADING_LINE = re.compile(
    r"^[ \t]*#.*$"  # ATX
    r"|^.*<[hH].*$"  # HTML heading (or anything else opening with <h: kept out too)
    r"|^.*$(?=\n[ \t]*(?:=+|-+)[ \t]*\r?$)",  # setext: the line above === or ---
    re.MULTILINE,
)
# A sentinel inside highlighted code: the span that holds it must be a string token.
_HIGHLIGHT_BLOCK = re.compile(r'<div class="[^"]*highlight[^"]*">.*?</div>', re.DOTALL)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_TARGET_BEFORE = re.compile(r"""(?:\]\(\s*<?|\]:\s*<?|(?:href|src)=["']?|<)\Z""")
"""What ends right before a link target: Markdown ``](`` or ``]:``, ``href=``/``src=``, ``<``."""
_NOT_IN_TARGET = re.compile(r"""[\s)"'<>]""")
"""Characters that end a link target."""
_LINK_BEFORE = re.compile(r"""\s(?:href|src)=["']?\Z""")
"""What stands right before an HTML link target."""
_STRING_SPAN = re.compile(r'<span class="s[a-z0-9]*">[^<]*</span>')


@functools.lru_cache(maxsize=1 << 16)  # a tenant asks for hundreds, tenants for the same
def sentinel(role: str) -> str:
    """The sentinel of a role: upper-case letters and digits, so any rewriting shows."""
    digest = hashlib.sha256(role.encode("utf-8")).hexdigest()[:10].upper()
    return f"{_MARK}{digest}Q"


@dataclass(frozen=True, slots=True)
class Sentinelized:
    """A tenant's plan with its plain values replaced by sentinels."""

    key: str
    """Identical for tenants that can share one MkDocs run."""
    site: SitePlan
    """The plan MkDocs builds for the group (pages, nav and name with sentinels)."""
    values: Mapping[str, str]
    """Sentinel → this tenant's value."""


def varying_roles(tenants: Sequence[Sequence[tuple[str, str]]]) -> set[str]:
    """Roles whose value is not the same for every tenant (the others are plain text)."""
    seen: dict[str, set[str]] = {}
    for pairs in tenants:
        for role, value in pairs:
            seen.setdefault(role, set()).add(value)
    everywhere = (
        set.intersection(*({role for role, _ in pairs} for pairs in tenants)) if tenants else set()
    )
    return {role for role, values in seen.items() if len(values) > 1 or role not in everywhere}


def sentinelize(
    site: SitePlan,
    roles: Sequence[tuple[str, str]],
    varying: set[str] | None,
    *,
    guides_only: bool = False,
) -> Sentinelized | None:
    """Replace plain varying values by sentinels; None when the tenant cannot share a skeleton.

    ``varying`` None means every role. A guide's values get the sentinels of its own app's
    roles (and the tenant's), so a guide reads the same for every tenant whatever other apps
    they use; a value in one of its headings stays as it is (its anchor would be rewritten).
    With ``guides_only`` the home page, the navigation and the site name keep their values:
    only the guides are shared (a tenant built on its own, its guides converted once).
    """
    texts = [site.site_name, *site.pages.values(), json.dumps(site.nav)]
    if any(_TRACE.search(text) for text in texts):
        return None  # the inputs themselves hold sentinel-like text
    candidates = [
        (role, value)
        for role, value in roles
        if (varying is None or role in varying) and _replaceable(value)
    ]
    links = _relative_links({value for _, value in candidates}, texts)
    plain = sorted((role, value) for role, value in candidates if value not in links)
    if not plain:
        return None
    whole = _Substitution(plain)
    by_app: dict[str, list[tuple[str, str]]] = {}
    for role, value in plain:
        by_app.setdefault(role.split(":", 1)[0], []).append((role, value))
    pages: dict[str, str] = {}
    for path, text in site.pages.items():
        app = path.split("/", 1)[0] if "/" in path else None
        if app is None:
            pages[path] = text if guides_only else whole.apply(text)
            continue
        mine = sorted([*by_app.get(app, []), *by_app.get("tenant", [])])
        own = {v: sentinel(r) for r, v in reversed(mine)}
        headings = _heading_lines(text)
        for value in [v for v in own if v in headings]:
            del own[value]
        pages[path] = whole.apply(text, own)
    name = site.site_name if guides_only else whole.apply(site.site_name)
    nav = site.nav if guides_only else json.loads(whole.apply(json.dumps(site.nav)))
    values = {sentinel(role): value for role, value in plain}

    def restored(text: str) -> str:
        return fill_text(text, values)  # the inputs hold nothing like a sentinel (checked)

    if not (
        restored(name) == site.site_name
        and all(restored(pages[p]) == site.pages[p] for p in pages)
        and json.loads(restored(json.dumps(nav))) == site.nav
    ):
        return None
    shared = replace(site, site_name=name, pages=pages, nav=nav)
    key = hashlib.sha256(
        json.dumps(
            [
                name,
                sorted(pages.items()),
                nav,
                sorted(site.files),
                sorted(site.downloads),
                str(site.base_config),
            ],
            sort_keys=True,
        ).encode("utf-8")
    ).hexdigest()
    found = {s for text in [name, json.dumps(nav), *pages.values()] for s in SENTINEL.findall(text)}
    used = {s: v for s, v in values.items() if s in found}
    if not used:
        return None
    return Sentinelized(key, shared, used)


def revalued(
    done: Sentinelized, text: str, roles: Sequence[tuple[str, str]]
) -> Sentinelized | None:
    """``done`` (a :func:`sentinelize` of a one-guide plan) for the same guide with other
    values: its sentinels kept where ``text`` holds the new values; None unless exact.

    An edit that changes only values (a metadata file every guide shows) leaves every
    guide's shape as it was; sentinelizing hundreds of guides again takes about a second.
    Each new value must pass what :func:`sentinelize` asks of a value (plain, no space
    around it, not a relative link target), and the sentinels filled in with the new values
    must give ``text`` exactly: a value changed where it was kept as it is (a heading) or
    roles that agreed and now differ make the text differ, and the guide is sentinelized
    again.
    """
    (shape,) = done.site.pages.values()
    new = {sentinel(role): value for role, value in roles}
    if not done.values.keys() <= new.keys():
        return None
    used = {s: new[s] for s in done.values}
    if not all(_replaceable(v) for v in used.values()):
        return None
    if _relative_links(set(used.values()), [text]) or fill_text(shape, used) != text:
        return None
    return replace(done, values=used)


def marked(values: ValueSet) -> ValueSet:
    """``values`` with each value a sentinel may stand for followed by its role's sentinel.

    A guide rendered from them shows which role each value on it came from, also where two
    roles have the same value (a sign-on and a sign-out URL), which its text alone cannot
    tell: :func:`sentinelize_marked` makes the guide's sentinel form from it. A sentinel is
    letters and digits, so every escaping that leaves a plain value as it is leaves the
    value with its mark as it is.
    """
    return replace(
        values,
        values={
            key: replace(value, text=value.text + sentinel(value_role(values.app, key)))
            if _replaceable(value.text) and value.site_path is None
            else value
            for key, value in values.values.items()
        },
    )


def sentinelize_marked(
    path: str, text: str, marked_text: str, values: ValueSet, roles: Sequence[tuple[str, str]]
) -> Sentinelized | None:
    """One guide's sentinel form, as :func:`sentinelize` with ``guides_only`` makes it but by
    role: from ``marked_text``, the guide rendered from :func:`marked` ``values``; None
    unless exact.

    Each value of ``values`` becomes the sentinel of its own role where the page shows it,
    so the form stays the same when values that agreed come to differ (an edit in the
    preview then only fills in the new values). ``roles`` are the guide's roles that may be
    replaced; the others (the tenant's, the certificates', the metadata's) are replaced by
    their text, as :func:`sentinelize` does. A value in a heading or a relative link
    target, or of a role not in ``roles``, stays as it is. The form filled in must give
    ``text`` exactly.
    """
    if _TRACE.search(text):
        return None  # the inputs hold sentinel-like text
    candidates = [(role, value) for role, value in roles if _replaceable(value)]
    links = _relative_links({value for _, value in candidates}, [text])
    candidates = [(role, value) for role, value in candidates if value not in links]
    own = {value_role(values.app, key) for key in values.values}
    marks = {sentinel(role): value for role, value in candidates if role in own}
    # Marks in headings, of roles not replaced and of relative link targets are taken out.
    page = _HEADING_LINE.sub(lambda m: SENTINEL.sub("", m.group()), marked_text)
    page = SENTINEL.sub(lambda m: m.group() if m.group() in marks else "", page)
    headings = _heading_lines(text)
    others: dict[str, str] = {}
    for role, value in sorted(candidates, reverse=True):  # the first role in sorted order wins
        if role not in own and value not in headings:
            others[value] = sentinel(role)
    pieces: list[str] = []  # text, then a sentinel, then text…
    at = 0
    for found in SENTINEL.finditer(page):
        # The value before its mark (if not, the check below fails: a changed value).
        start = max(at, found.start() - len(marks[found.group()]))
        pieces += [page[at:start], found.group()]
        at = found.end()
    pieces.append(page[at:])
    # The other roles' values, longest first, in the text between sentinels. (A pattern of
    # them would be compiled per guide: each app's roles differ.)
    for value in sorted(others, key=len, reverse=True):
        pieces = _split_out(pieces, value, others[value])
    form = "".join(pieces)
    every = {sentinel(role): value for role, value in candidates}
    used = {s: every[s] for s in set(SENTINEL.findall(form))}
    if not used or fill_text(form, used) != text:
        return None  # e.g. a template that reads a value itself: the marks changed the page
    return Sentinelized("", SitePlan("", {path: form}, {}, [], None, {}), used)


def _split_out(pieces: Sequence[str], value: str, mark: str) -> list[str]:
    """``pieces`` (text, sentinel, text, …) with ``value`` replaced by ``mark`` in the text."""
    found: list[str] = []
    for index, piece in enumerate(pieces):
        if index % 2 or value not in piece:
            found.append(piece)
            continue
        for part in piece.split(value):
            found += [part, mark]
        found.pop()
    return found


def _replaceable(value: str) -> bool:
    """Whether a sentinel may stand for ``value``: plain (:data:`PLAIN`), no space around."""
    return PLAIN.fullmatch(value) is not None and value.strip() == value


def guides_only(shared: Sentinelized, site: SitePlan) -> Sentinelized | None:
    """``shared`` (a :func:`sentinelize` of ``site``) with the home pages, navigation and
    site name as ``site`` has them: what ``guides_only=True`` gives for the same values,
    without sentinelizing again (a guide's sentinels do not depend on the mode)."""
    pages = {
        path: text if "/" in path else site.pages[path] for path, text in shared.site.pages.items()
    }
    found = {s for path, text in pages.items() if "/" in path for s in SENTINEL.findall(text)}
    values = {s: v for s, v in shared.values.items() if s in found}
    if not values:
        return None
    return Sentinelized(
        shared.key,
        replace(shared.site, site_name=site.site_name, nav=site.nav, pages=pages),
        values,
    )


class _Substitution:
    """Values to sentinels, longest value first (the tenant ID in a URL stays whole); a value
    held by several roles gets the sentinel of the first role in sorted order."""

    def __init__(self, plain: Sequence[tuple[str, str]]) -> None:
        self.by_value: dict[str, str] = {}
        for role, value in plain:
            self.by_value.setdefault(value, sentinel(role))
        self.pattern = _longest_of(tuple(sorted(self.by_value)))

    def apply(self, text: str, only: Mapping[str, str] | None = None) -> str:
        """``text`` with its values replaced; with ``only``, just those values, by those
        sentinels (a value found but not in ``only`` stays as it is)."""
        if only is None:
            return self.pattern.sub(lambda m: self.by_value[m.group()], text)
        return self.pattern.sub(lambda m: only.get(m.group(), m.group()), text)


@functools.lru_cache(maxsize=1024)
def _longest_of(values: tuple[str, ...]) -> re.Pattern[str]:
    """A pattern matching the longest of ``values`` that starts where it is tried.

    Written as a tree of the values' common beginnings: a tenant's values share long ones
    (its URLs, the places in its file), and a list of alternatives would try every value at
    every character of its pages. Compiling one takes longer than using it, and the guides
    of a tenant, or of tenants alike, share their values.
    """
    tree: dict[str, Any] = {}
    for value in values:
        node = tree
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}  # a value ends here
    try:
        return re.compile(_branches(tree))
    except RecursionError:  # hundreds of values, each beginning the next: one list of them
        return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


def _branches(node: dict[str, Any]) -> str:
    """The pattern of one node of :func:`_longest_of`'s tree: longer values tried first."""
    chain = []
    while len(node) == 1 and "" not in node:  # one way on: no choice to make
        ((char, node),) = node.items()
        chain.append(re.escape(char))
    ways = [re.escape(char) + _branches(child) for char, child in node.items() if char]
    rest = "" if not ways else ways[0] if len(ways) == 1 else f"(?:{'|'.join(ways)})"
    if "" in node and rest:
        rest = f"(?:{rest})?"  # greedy: a value that goes on is taken before one ending here
    return "".join(chain) + rest


def _relative_links(values: set[str], texts: Sequence[str]) -> set[str]:
    """The values that may stand as a relative link target, which MkDocs and the download
    marks rewrite or judge by its text (``signing-certificate.cer``): they are never replaced.

    A value counts when a link target in ``texts`` (one without a scheme) starts with it:
    where it is found right after ``](``, ``]:``, ``href=``, ``src=`` or ``<``. Only sharing
    depends on it: a target it missed still fails :func:`skeleton_problem`.
    """
    found = set()
    for value in values:
        if _SCHEME.match(value) or _NOT_IN_TARGET.search(value):
            continue  # not relative, or cannot begin a target (a target ends at a space)
        for text in texts:
            at = text.find(value)
            while at != -1 and not _TARGET_BEFORE.search(text, max(0, at - 64), at):
                at = text.find(value, at + 1)
            if at != -1:
                found.add(value)
                break
    return found


def _heading_lines(text: str) -> str:
    """The Markdown heading lines of ``text`` (ATX, setext: the line above ``===``/``---``,
    or HTML ``<h…>``), joined by newlines: a value (never multi-line) stands in a heading,
    where MkDocs would derive an anchor from it, exactly when it is found in this text.

    Only sharing depends on it: a heading it missed still fails :func:`skeleton_problem`."""
    return "\n".join(_HEADING_LINE.findall(text))


def skeleton_problem(
    output: Path,
    sentinels: Mapping[str, str],
    only: Iterable[str] | None = None,
    theme: Collection[str] = (),
) -> str | None:
    """Why a built skeleton cannot be filled in exactly, or None when it can.

    ``sentinels`` maps each sentinel of the plan to a value it stands for. ``only``: the
    output paths (relative) to look at, when not the whole folder. ``theme``: output paths
    that are the theme's files as they are (``SiteBuilder.theme_copies``), not looked at.
    """
    if only is None:
        paths = _files(output, theme)
    else:
        paths = sorted(p for p in (output / path for path in only) if p.is_file())
    for path in paths:
        # The whole site is read: plain byte searches (bytes.lower() folds ASCII only, and
        # a sentinel, however rewritten, is ASCII).
        lowered = path.read_bytes().lower()
        if _MARK_LOWER not in lowered:
            continue
        if path.suffix not in _TEXT_SUFFIXES:
            return f"a sentinel reached {path.name}"
        text = path.read_text(encoding="utf-8")
        found = [(m.start(), m.group()) for m in SENTINEL.finditer(text)]
        if sum(1 for _, s in found if s in sentinels) != lowered.count(_MARK_LOWER):
            return f"a sentinel was rewritten in {path.relative_to(output)}"
        for at, s in found:
            if _LINK_BEFORE.search(text, max(0, at - 8), at) and not _SCHEME.match(sentinels[s]):
                return f"a sentinel stands for a relative link target in {path.name}"
        for block in _HIGHLIGHT_BLOCK.findall(text):
            inside_strings = sum(
                len(SENTINEL.findall(span)) for span in _STRING_SPAN.findall(block)
            )
            if inside_strings != len(SENTINEL.findall(block)):
                return f"a sentinel stands outside a string in highlighted code in {path.name}"
    return None


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A built skeleton read once, for all the tenants filled in from it."""

    root: Path
    """Its folder."""
    folders: tuple[str, ...]
    """Every folder, relative, parents first."""
    texts: tuple[tuple[str, str], ...]
    """(relative path, text) of every file that carries sentinels."""
    linked: tuple[str, ...]
    """Every other file, relative: shared as it is (theme assets)."""


def read_skeleton(root: Path) -> Skeleton:
    """List a built skeleton and read the files that carry sentinels."""
    folders: list[str] = []
    texts: list[tuple[str, str]] = []
    linked: list[str] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_dir():
            folders.append(relative)
            continue
        if path.suffix in _TEXT_SUFFIXES:
            text = path.read_bytes().decode("utf-8")
            if _MARK in text:
                texts.append((relative, text))
                continue
        linked.append(relative)
    return Skeleton(root, tuple(folders), tuple(texts), tuple(linked))


def fill_in(
    skeleton: Skeleton, target: Path, values: Mapping[str, str], files: Mapping[str, bytes]
) -> None:
    """Write a tenant's site: the skeleton with its values, and its own published files."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in skeleton.folders:
        (target / folder).mkdir(exist_ok=True)
    for relative, text in skeleton.texts:
        (target / relative).write_bytes(fill_text(text, values).encode("utf-8"))
    for relative in skeleton.linked:
        _link_or_copy(skeleton.root / relative, target / relative)
    for docs_path, data in files.items():
        write_own(target / docs_path, data)  # never through a link into the skeleton


def fill_in_place(root: Path, values: Mapping[str, str], theme: Collection[str] = ()) -> None:
    """Put a tenant's values into its own site built from its sentinel plan; ``theme``: the
    theme's files in it, as they are (see :func:`skeleton_problem`), left alone."""
    for path in _files(root, theme):
        if path.suffix in _TEXT_SUFFIXES:
            text = path.read_bytes().decode("utf-8")
            if _MARK in text:
                write_own(path, fill_text(text, values).encode("utf-8"))


def _files(root: Path, leave: Collection[str] = ()) -> list[Path]:
    """Every file under ``root`` but the ``leave`` ones (relative, '/'-separated), sorted as
    paths are."""
    return [path for _, path in files_under(root, leave)]


def fill_text(text: str, values: Mapping[str, str]) -> str:
    """Put a tenant's values back into any text that came from the skeleton."""
    return SENTINEL.sub(lambda m: values.get(m.group(), m.group()), text)


def _link_or_copy(source: Path, target: Path) -> None:
    """Share unchanged files (theme assets) by hard link where the file system allows."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def value_role(app: str, key: str) -> str:
    """The role of an app's value for a key: ``app:key``."""
    return f"{app}:{key}"


def place_roles(values: ValueSet) -> tuple[tuple[str, str], ...]:
    """Where each value stands in the tenant file (or the app's defaults), as its guide's
    provenance panel shows it (``path:line``), each a role of its own (``app:key at``): two
    tenants whose files are laid out differently (a comment on top, another order of apps)
    still share a guide's sentinel form, and in the preview an edit that moves the values'
    lines (a line added at the top) changes values only."""
    return tuple(
        (f"{value_role(values.app, key)} at", place)
        for key, value in values.values.items()
        if (place := provenance_place(value)) is not None
    )


def roles(
    tenant_name: str, slug: str, tenant_file: str, value_sets: Sequence[ValueSet]
) -> list[tuple[str, str]]:
    """The (role, text) pairs a tenant's pages carry: name, slug, file, values, provenance."""
    found = [("tenant:name", tenant_name), ("tenant:slug", slug), ("tenant:file", tenant_file)]
    for values in value_sets:
        app = values.app
        found += [(value_role(app, key), value.text) for key, value in values.values.items()]
        if values.metadata is not None:
            source, digest = metadata_identity(values.metadata)
            found += [(f"{app}:metadata source", source), (f"{app}:metadata sha256", digest)]
        for index, certificate in enumerate(values.certificates):
            found += [
                (f"{app}:certificate {index} subject", certificate.subject),
                (f"{app}:certificate {index} thumbprint", certificate.thumbprint),
                (f"{app}:certificate {index} valid from", shown_time(certificate.not_before)),
                (f"{app}:certificate {index} valid until", shown_time(certificate.not_after)),
            ]
    return found
