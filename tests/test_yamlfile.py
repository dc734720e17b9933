"""The strict YAML reader: located nodes, and every refusal with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantdocs.errors import Location, Problem
from tenantdocs.yamlfile import (
    _REFUSED,
    _UNEVEN,
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    Entry,
    YamlProblem,
    _fast_compose,
    _StrictLoader,
    entries,
    is_null,
    load_yaml,
    node_location,
    scalar_text,
    scan_entries,
)

PATH = Path("tenants/t.yml")
WHAT = "the tenant file"


def load(text: str) -> yaml.Node:
    """The node tree of a document that must load."""
    node = load_yaml(text, PATH)
    assert node is not None
    return node


def refusal(text: str) -> str:
    """The one-line message :func:`load_yaml` refuses ``text`` with."""
    with pytest.raises(YamlProblem) as info:
        load_yaml(text, PATH)
    assert str(info.value) == str(info.value.problem)
    return str(info.value.problem)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: [1, 2\n",
            "tenants/t.yml:2:1: error: invalid YAML: expected ',' or ']', but got '<stream end>'"
            " (while parsing a flow sequence that starts at line 1, column 4)",
        ),
        (
            "a: 'x\n",
            "tenants/t.yml:2:1: error: invalid YAML: found unexpected end of stream"
            " (while scanning a quoted scalar that starts at line 1, column 4)",
        ),
        (
            "a: 1\n\tb: 2\n",
            "tenants/t.yml:2:1: error: invalid YAML: found character '\\t' that cannot start"
            " any token",
        ),
        ("a: *x\n", "tenants/t.yml:1:4: error: invalid YAML: aliases (*name) are not allowed here"),
        (
            "a: &x 1\nb: *x\n",
            "tenants/t.yml:2:4: error: invalid YAML: aliases (*name) are not allowed here",
        ),
        (
            "a: \x00\n",
            "tenants/t.yml:1:4: error: invalid YAML: character U+0000 is not allowed in YAML",
        ),
        (
            "a: !!python/object:os.system x\n",
            "tenants/t.yml:1:4: error: tag 'tag:yaml.org,2002:python/object:os.system' is not"
            " allowed",
        ),
        (
            "a:\n  - b: !!binary aGk=\n",
            "tenants/t.yml:2:8: error: tag 'tag:yaml.org,2002:binary' is not allowed",
        ),
        (
            "x: " + "[" * (MAX_YAML_DEPTH + 8) + "]" * (MAX_YAML_DEPTH + 8) + "\n",
            f"tenants/t.yml:1:35: error: invalid YAML: nested deeper than {MAX_YAML_DEPTH} levels",
        ),
    ],
    ids=[
        "unclosed bracket",
        "unclosed quote",
        "tab indentation",
        "alias",
        "anchor and alias",
        "NUL character",
        "python tag",
        "binary tag deep inside",
        "too deep",
    ],
)
def test_refusals_are_located(text: str, message: str) -> None:
    assert refusal(text) == message


def test_nesting_up_to_the_limit_loads() -> None:
    depth = MAX_YAML_DEPTH - 1  # the document's mapping is one level
    assert load("x: " + "[" * depth + "]" * depth + "\n") is not None


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "a: " + "x" * MAX_YAML_BYTES + "\n"
    assert refusal(text) == f"tenants/t.yml: error: file is larger than {MAX_YAML_BYTES} bytes"


def test_an_empty_document_is_none() -> None:
    assert load_yaml("", PATH) is None
    assert load_yaml("# only a comment\n", PATH) is None


def test_entries_are_located_at_their_keys() -> None:
    node = load("# tenant\nname: Contoso\napps:\n  crm:\n    app_id: x\n")
    found = list(entries(node, PATH, WHAT))
    assert [(e.key, e.location) for e in found] == [
        ("name", Location(PATH, 2, 1)),
        ("apps", Location(PATH, 3, 1)),
    ]
    [crm] = entries(found[1].value, PATH, "'apps'")
    assert (crm.key, crm.location, node_location(PATH, crm.value)) == (
        "crm",
        Location(PATH, 4, 3),
        Location(PATH, 5, 5),
    )


def test_scan_entries_reports_every_odd_key_and_keeps_going() -> None:
    node = load("a: 1\n1: x\na: 2\n? [k]\n: v\nb: 3\n")
    found = list(scan_entries(node, PATH, WHAT))
    assert [str(item) if isinstance(item, Problem) else item.key for item in found] == [
        "a",
        "tenants/t.yml:2:1: error: keys in the tenant file must be plain strings",
        "tenants/t.yml:3:1: error: duplicate key 'a' (first at line 1)",
        "tenants/t.yml:4:3: error: keys in the tenant file must be plain strings",
        "b",
    ]
    assert all(isinstance(item, Entry | Problem) for item in found)


def test_entries_raises_the_first_problem() -> None:
    node = load("a: 1\na: 2\na: 3\n")
    with pytest.raises(YamlProblem) as info:
        list(entries(node, PATH, WHAT))
    assert (
        str(info.value.problem) == "tenants/t.yml:2:1: error: duplicate key 'a' (first at line 1)"
    )


def test_a_document_that_is_not_a_mapping() -> None:
    node = load("- one\n- two\n")
    assert [str(p) for p in scan_entries(node, PATH, WHAT)] == [
        "tenants/t.yml:1:1: error: the tenant file must be a mapping"
    ]


def test_a_long_duplicate_key_is_shortened_in_the_message() -> None:
    key = "k" * 300
    node = load(f"{key}: 1\n{key}: 2\n")
    [_, problem] = scan_entries(node, PATH, WHAT)
    assert isinstance(problem, Problem)
    assert len(problem.message) < 200
    assert problem.message.endswith("(first at line 1)")


@pytest.mark.parametrize(
    "written", ["on", "no", "1.10", "0x1F", "2019-01-01", "012", "1e3", "~x", "'quoted'"]
)
def test_scalar_text_is_the_text_as_written(written: str) -> None:
    [entry] = entries(load(f"v: {written}\n"), PATH, WHAT)
    expected = written.strip("'")
    assert scalar_text(entry.value, PATH, "'v'") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v:\n", "tenants/t.yml:1:3: error: 'v' has no value"),
        ("v: null\n", "tenants/t.yml:1:4: error: 'v' has no value"),
        ("v: [a]\n", "tenants/t.yml:1:4: error: 'v' must be a single value"),
        ("v:\n  k: x\n", "tenants/t.yml:2:3: error: 'v' must be a single value"),
    ],
)
def test_scalar_text_refuses_what_is_not_one_value(text: str, message: str) -> None:
    [entry] = entries(load(text), PATH, WHAT)
    with pytest.raises(YamlProblem) as info:
        scalar_text(entry.value, PATH, "'v'")
    assert str(info.value.problem) == message


def test_is_null() -> None:
    values = [e.value for e in entries(load("a:\nb: null\nc: ~\nd: ''\ne: x\n"), PATH, WHAT)]
    assert [is_null(v) for v in values] == [True, True, True, False, False]


# --- the libyaml fast path reads exactly what the strict loader reads ---------------------


def shape(node: yaml.Node) -> object:
    """Everything a node tree tells its readers: kinds, tags, values and start locations."""
    where = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, where)
    if isinstance(node, yaml.MappingNode):
        return ("map", node.tag, [(shape(k), shape(v)) for k, v in node.value], where)
    assert isinstance(node, yaml.SequenceNode)
    return ("seq", node.tag, [shape(item) for item in node.value], where)


def strict(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=_StrictLoader)


def same_as_strict(text: str) -> None:
    """The fast path either leaves ``text`` to the strict loader or composes the same tree."""
    fast = _fast_compose(text)
    if fast is _REFUSED:
        return
    expected = strict(text)
    assert (fast is None) == (expected is None)
    if fast is not None and expected is not None:
        assert shape(fast) == shape(expected)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    value=values,
    flow=st.sampled_from([None, True, False]),
    style=st.sampled_from([None, "'", '"']),
    unicode=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_fast_path_composes_what_pyyaml_writes_as_the_strict_loader_does(
    value: object, flow: bool | None, style: str | None, unicode: bool, newline: str
) -> None:
    text = yaml.safe_dump(
        value,
        default_flow_style=flow,
        default_style=style,
        allow_unicode=unicode,
        line_break=newline,
        width=40,
    )
    if "!" not in text and not _UNEVEN.search(text):  # then the fast path reads it
        assert _fast_compose(text) is not _REFUSED
    same_as_strict(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab1.~=\\: -,[]{}'\"\n\t #&*!?|>%@`\u00e9\u2028\x85\r\ufeff", max_size=60))
def test_fast_path_on_any_text_composes_the_strict_tree_or_defers(text: str) -> None:
    same_as_strict(text)


def test_fast_path_reads_tenant_shaped_files_as_the_strict_loader() -> None:
    text = (
        '\ufeff# a tenant\nname: "Contoso \u00e9\u00e9"\ntenant_id: 6c2e0d2a-1b3c-4d5e-8f90-a1b2c3d4e5f6\n'
        "metadata:\n  entity_id: 'https://sts/x/'  # why\n  expires: 2025-01-01\n"
        'apps:\n  - demo\n  - other: {app_id: "x"}\n  - third:\n      title: two\n        lines\n'
    )
    assert _fast_compose(text) is not _REFUSED
    same_as_strict(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1]\nb: *x\n",  # an alias: only the strict loader refuses it with its message
        "x: " + "[" * MAX_YAML_DEPTH + "]" * MAX_YAML_DEPTH + "\n",  # one level too deep
        "a: [1, 2\n",  # an error: the strict loader words it
    ],
    ids=["alias", "too deep", "error"],
)
def test_fast_path_defers_aliases_depth_and_errors_to_the_strict_loader(text: str) -> None:
    # Defence: _fast_compose checks libyaml's events before composing, so an alias is never
    # expanded and libyaml's recursive composer never meets more than MAX_YAML_DEPTH levels.
    assert _fast_compose(text) is _REFUSED
