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

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tenantdocs.sitebuild import SitePlan
from tenantdocs.values import ValueSet, metadata_identity

PLAIN = re.compile(r"(?!\d+[.)])[A-Za-z0-9][A-Za-z0-9 :/?@!+,;=~.-]{2,2047}")
"""Values every escaping on the way to the page leaves unchanged: no ``& < > " ' _ * # $ %``,
and no start that prose escaping would encode (punctuation, or ``1.`` as in a list)."""

_MARK = "ZQXTDV"
_TRACE = re.compile(_MARK, re.IGNORECASE)
SENTINEL = re.compile(_MARK + r"[0-9A-F]{10}Q")
"""What every sentinel looks like."""
_TEXT_SUFFIXES = {".html", ".json", ".xml"}
# A sentinel inside highlighted code: the span that holds it must be a string token.
_HIGHLIGHT_BLOCK = re.compile(r'<div class="[^"]*highlight[^"]*">.*?</div>', re.DOTALL)
_STRING_SPAN = re.compile(r'<span class="s[a-z0-9]*">[^<]*</span>')


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
    site: SitePlan, roles: Sequence[tuple[str, str]], varying: set[str]
) -> Sentinelized | None:
    """Replace plain varying values by sentinels; None when the tenant cannot share a skeleton."""
    by_value: dict[str, str] = {}
    for role, value in sorted(roles):
        if role in varying and PLAIN.fullmatch(value) and value.strip() == value:
            by_value.setdefault(value, sentinel(role))
    if not by_value:
        return None
    texts = [site.site_name, *site.pages.values(), json.dumps(site.nav)]
    if any(_TRACE.search(text) for text in texts):
        return None  # the inputs themselves hold sentinel-like text
    # Longest values first, so a value inside another (the tenant ID in a URL) stays whole.
    order = sorted(by_value, key=len, reverse=True)
    forward = re.compile("|".join(re.escape(v) for v in order))
    values = {s: v for v, s in by_value.items()}
    backward = re.compile("|".join(re.escape(s) for s in values))

    def to_sentinels(text: str) -> str:
        return forward.sub(lambda m: by_value[m.group()], text)

    def round_trips(text: str, shared: str) -> bool:
        return backward.sub(lambda m: values[m.group()], shared) == text

    name = to_sentinels(site.site_name)
    pages = {path: to_sentinels(text) for path, text in site.pages.items()}
    nav = json.loads(to_sentinels(json.dumps(site.nav)))
    if not (
        round_trips(site.site_name, name)
        and all(round_trips(site.pages[p], pages[p]) for p in pages)
        and json.loads(backward.sub(lambda m: values[m.group()], json.dumps(nav))) == site.nav
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
    used = {s: v for s, v in values.items() if any(s in t for t in (name, *pages.values()))}
    return Sentinelized(key, shared, used)


def skeleton_problem(output: Path, sentinels: set[str]) -> str | None:
    """Why a built skeleton cannot be filled in exactly, or None when it can."""
    for path in sorted(output.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if not _TRACE.search(data.decode("latin-1")):
            continue
        if path.suffix not in _TEXT_SUFFIXES:
            return f"a sentinel reached {path.name}"
        text = data.decode("utf-8")
        exact = sum(text.count(s) for s in sentinels)
        if exact != len(_TRACE.findall(text)):
            return f"a sentinel was rewritten in {path.relative_to(output)}"
        for block in _HIGHLIGHT_BLOCK.findall(text):
            inside_strings = sum(
                span.count(s) for span in _STRING_SPAN.findall(block) for s in sentinels
            )
            if inside_strings != sum(block.count(s) for s in sentinels):
                return f"a sentinel stands outside a string in highlighted code in {path.name}"
    return None


def fill_in(
    skeleton: Path, target: Path, values: Mapping[str, str], files: Mapping[str, bytes]
) -> None:
    """Write a tenant's site: the skeleton with its values, and its own published files."""
    for path in sorted(skeleton.rglob("*")):
        relative = path.relative_to(skeleton)
        out = target / relative
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in _TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            if _MARK in text:
                out.write_text(fill_text(text, values), encoding="utf-8")
                continue
        _link_or_copy(path, out)
    for docs_path, data in files.items():
        published = target / docs_path
        published.unlink(missing_ok=True)  # never write through a link into the skeleton
        published.write_bytes(data)


def fill_text(text: str, values: Mapping[str, str]) -> str:
    """Put a tenant's values back into any text that came from the skeleton."""
    return SENTINEL.sub(lambda m: values.get(m.group(), m.group()), text)


def _link_or_copy(source: Path, target: Path) -> None:
    """Share unchanged files (theme assets) by hard link where the file system allows."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def roles(
    tenant_name: str, slug: str, tenant_file: str, value_sets: Sequence[ValueSet]
) -> list[tuple[str, str]]:
    """The (role, text) pairs a tenant's pages carry: name, slug, file, values, provenance."""
    found = [("tenant:name", tenant_name), ("tenant:slug", slug), ("tenant:file", tenant_file)]
    for values in value_sets:
        app = values.app
        found += [(f"{app}:{key}", value.text) for key, value in values.values.items()]
        if values.metadata is not None:
            source, digest = metadata_identity(values.metadata)
            found += [(f"{app}:metadata source", source), (f"{app}:metadata sha256", digest)]
        for index, certificate in enumerate(values.certificates):
            found += [
                (f"{app}:certificate {index} subject", certificate.subject),
                (f"{app}:certificate {index} thumbprint", certificate.thumbprint),
            ]
    return found
