"""Read YAML as a located node tree: line numbers for every key, duplicates and aliases refused.

Tenant files may come from self-service onboarding, so this reader is strict: no anchors or
aliases (no alias-expansion bombs), no tags beyond plain scalars, mappings and sequences,
string keys only, each key once, at most :data:`MAX_YAML_DEPTH` levels of nesting (the
composer recurses once per level).

A no-op rebuild of hundreds of tenants reads every tenant file, so a well-formed file is
composed by libyaml when PyYAML has it (ten times faster than the pure-Python parser; the
same nodes, tags and locations). Its events are checked for aliases and nesting first; a
file with either, or any error, is read again by the pure-Python loader, whose messages
are the ones tenantdocs reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tenantdocs.errors import Location, Problem
from tenantdocs.keys import shorten

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 32

_PLAIN_TAGS = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        # YAML 1.1 guesses a date in `expires: 2025-01-01`; the text is read as written.
        "tag:yaml.org,2002:timestamp",
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    }
)
NULL_TAG = "tag:yaml.org,2002:null"


class YamlProblem(Exception):
    """Raised inside this module for the first structural problem; carries a Problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses aliases, so nothing can be expanded, and nesting
    deeper than :data:`MAX_YAML_DEPTH`, so a hostile file cannot exhaust the stack."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", event.start_mark
            )
        if self._depth >= MAX_YAML_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One key of a mapping with the located nodes of key and value."""

    key: str
    """The key text."""
    location: Location
    """Where the key is written."""
    value: yaml.Node
    """The value's node."""


def node_location(path: Path, node: yaml.Node) -> Location:
    """The 1-based location of a node's first character."""
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, path: Path) -> yaml.Node | None:
    """Compose ``text`` into a node tree, or raise :class:`YamlProblem` with its location."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise YamlProblem(Problem(Location(path), f"file is larger than {MAX_YAML_BYTES} bytes"))
    try:
        node = _fast_compose(text)
        if node is _REFUSED:
            node = yaml.compose(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        reason = (exc.problem or exc.context or "invalid YAML").strip()
        if exc.problem and exc.context and exc.context_mark:
            # Where the unclosed quote or bracket started is what the writer must fix.
            start = exc.context_mark
            reason += f" ({exc.context.strip()} that starts at line {start.line + 1}, column {start.column + 1})"
        raise YamlProblem(Problem(location, f"invalid YAML: {reason}")) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (NUL, other control characters): say where it is.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise YamlProblem(
            Problem(
                Location(path, line, column),
                f"invalid YAML: character U+{code:04X} is not allowed in YAML",
            )
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(Location(path), f"invalid YAML: {exc}")) from None
    if node is not None:
        _check_tags(node, path)
    return node


_UNEVEN = re.compile("[\t\x85\u2028\u2029\ufeff]")
"""Characters the two parsers read differently: libyaml takes tabs the pure-Python scanner
refuses, and treats the Unicode line breaks and a byte order mark inside the text otherwise.
(A byte order mark at the start is searched past.)"""

_REFUSED = yaml.Node("", "", None, None)
"""What :func:`_fast_compose` returns for a text the strict pure-Python loader must read."""


def _fast_compose(text: str) -> yaml.Node | None:
    """``text`` composed by libyaml, or :data:`_REFUSED` when libyaml is missing, the text
    has an alias, a tag, an empty value, a block scalar or a character of :data:`_UNEVEN`, nests deeper than :data:`MAX_YAML_DEPTH`, or
    libyaml finds an error: the cases where the two parsers could disagree."""
    if not yaml.__with_libyaml__ or _UNEVEN.search(text, 1):
        return _REFUSED
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "tag", None) is not None:
                return _REFUSED  # an alias, or a tag (`!x`): the strict loader words why
            if isinstance(event, yaml.ScalarEvent) and (
                (not event.value and event.implicit[0]) or event.style in ("|", ">")
            ):
                return _REFUSED  # libyaml locates an empty value elsewhere, and takes more
                # in a block scalar's header
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return _REFUSED  # before libyaml's composer, which recurses per level
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return _REFUSED


def _check_tags(node: yaml.Node, path: Path) -> None:
    if node.tag not in _PLAIN_TAGS:
        raise YamlProblem(Problem(node_location(path, node), f"tag '{node.tag}' is not allowed"))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _check_tags(key, path)
            _check_tags(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_tags(item, path)


def entries(node: yaml.Node, path: Path, what: str) -> Iterator[Entry]:
    """Yield a mapping's entries; raise YamlProblem for a non-mapping, odd or repeated key."""
    for item in scan_entries(node, path, what):
        if isinstance(item, Problem):
            raise YamlProblem(item)
        yield item


def scan_entries(node: yaml.Node, path: Path, what: str) -> Iterator[Entry | Problem]:
    """Yield a mapping's entries in order, and a Problem in place of each odd or repeated key."""
    if not isinstance(node, yaml.MappingNode):
        yield Problem(node_location(path, node), f"{what} must be a mapping")
        return
    seen: dict[str, Location] = {}
    for key_node, value_node in node.value:
        location = node_location(path, key_node)
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            yield Problem(location, f"keys in {what} must be plain strings")
            continue
        key = str(key_node.value)
        if key in seen:
            yield Problem(
                location, f"duplicate key '{shorten(key)}' (first at line {seen[key].line})"
            )
            continue
        seen[key] = location
        yield Entry(key, location, value_node)


def scalar_text(node: yaml.Node, path: Path, what: str) -> str:
    """The text of a scalar exactly as written (no YAML 1.1 guessing of numbers or dates)."""
    if is_null(node):
        raise YamlProblem(Problem(node_location(path, node), f"{what} has no value"))
    if not isinstance(node, yaml.ScalarNode):
        raise YamlProblem(Problem(node_location(path, node), f"{what} must be a single value"))
    return str(node.value)


def is_null(node: yaml.Node) -> bool:
    """True for an empty value (``key:`` with nothing after it, or ``null``)."""
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG
