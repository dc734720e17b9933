"""Tenant files: parse_tenant validates one file and reports every problem with its place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tenantdocs.errors import Location, Severity, TenantError
from tenantdocs.tenants import Tenant, parse_tenant

ROOT = Path(__file__).resolve().parents[1]
PATH = Path("tenants/x.yml")
APPS = frozenset({"litware-crm", "tailspin-travel", "wingtip-tickets"})
GUID = "11bb11bb-cc22-dd33-ee44-55ff55ff55ff"
APP_GUID = "3f6c2a1e-8b4d-4e7a-9c21-5d0b7e9a4c11"


def parse(text: str, path: Path = PATH) -> Tenant:
    """Parse a file that must be valid and have no warnings."""
    tenant, warnings = parse_tenant(text, path, APPS)
    assert warnings == []
    return tenant


def expect_errors(text: str, *messages: str, path: Path = PATH) -> None:
    """Parsing must fail with exactly these problems, in this order."""
    with pytest.raises(TenantError) as info:
        parse_tenant(text, path, APPS)
    assert [str(p) for p in info.value.problems] == list(messages)
    assert str(info.value) == "\n".join(messages)


# --- valid files ---------------------------------------------------------------------------


def test_minimal_tenant() -> None:
    tenant = parse("name: Contoso Ltd\n")
    assert tenant.slug == "x"
    assert tenant.path == PATH
    assert tenant.name.value == "Contoso Ltd"
    assert tenant.name.location == Location(PATH, 1, 7)
    assert tenant.tenant_id is None
    assert dict(tenant.metadata) == {}
    assert tenant.apps is None
    assert tenant.app_names(["b", "a"]) == ["a", "b"]


def test_full_tenant() -> None:
    text = (
        "name: Contoso Ltd\n"
        f"tenant_id: {GUID}\n"
        "metadata:\n"
        "  changePasswordUrl: https://example.com/password\n"
        "apps:\n"
        "  litware-crm:\n"
        f"    app_id: {APP_GUID}\n"
        "    metadata_file: contoso/litware.xml\n"
        "    entity_id: https://idp.example.com/a\n"
        "    metadata:\n"
        "      DisplayName: Litware\n"
        "  tailspin-travel:\n"
    )
    tenant = parse(text)
    assert tenant.tenant_id is not None
    assert tenant.tenant_id.value == GUID
    assert tenant.metadata["changePasswordUrl"].value == "https://example.com/password"
    assert tenant.app_names(APPS) == ["litware-crm", "tailspin-travel"]
    entry = tenant.app_entry("litware-crm")
    assert entry.location == Location(PATH, 6, 3)
    assert entry.app_id is not None
    assert entry.app_id.value == APP_GUID
    assert entry.source.metadata_file is not None
    assert entry.source.metadata_file.value == "contoso/litware.xml"
    assert entry.source.entity_id is not None
    assert entry.source.entity_id.value == "https://idp.example.com/a"
    assert entry.metadata["DisplayName"].value == "Litware"
    assert tenant.app_entry("tailspin-travel").app_id is None


def test_values_are_taken_as_written_not_as_yaml_types() -> None:
    tenant = parse("name: yes\nmetadata:\n  DisplayName: 0012\n")
    assert tenant.name.value == "yes"
    assert tenant.metadata["DisplayName"].value == "0012"


def test_plain_http_metadata_url_is_left_to_the_fetcher() -> None:
    # Loopback http is allowed for tests where the URL is fetched, so parsing keeps it.
    tenant = parse("name: X\nmetadata_url: http://127.0.0.1:8000/md.xml\n")
    assert tenant.source.metadata_url is not None
    assert tenant.source.metadata_url.value == "http://127.0.0.1:8000/md.xml"


def test_line_numbers_are_the_keys_not_the_mappings() -> None:
    text = "name: X\nmetadata:\n\n  # a comment\n  DisplayName: Y\napps:\n\n  wingtip-tickets:\n"
    tenant = parse(text)
    assert tenant.metadata["DisplayName"].location == Location(PATH, 5, 16)
    assert tenant.app_entry("wingtip-tickets").location == Location(PATH, 8, 3)
    expect_errors(
        "name: X\nmetadata:\n\n  # a comment\n  Displayname_: Y\n",
        "tenants/x.yml:5:3: error: unknown metadata key 'Displayname_'"
        " (did you mean 'DisplayName'?)",
    )


@pytest.mark.parametrize("slug", ["contoso", "fabrikam"])
def test_sample_tenants_parse(slug: str) -> None:
    path = ROOT / "tenants" / f"{slug}.yml"
    app_names = {p.name for p in (ROOT / "templates").iterdir() if p.is_dir() and p.name != "_"}
    tenant, warnings = parse_tenant(path.read_text(encoding="utf-8"), path, app_names)
    assert warnings == []
    assert tenant.slug == slug
    if slug == "contoso":
        assert tenant.name.value == "Contoso Ltd"
        assert tenant.tenant_id is not None
        assert tenant.tenant_id.value == GUID
        assert tenant.apps is not None
        assert sorted(tenant.apps) == [
            "adventure-works-learning",
            "fourth-coffee-portal",
            "litware-crm",
            "tailspin-travel",
            "wingtip-tickets",
        ]
        litware = tenant.app_entry("litware-crm")
        assert litware.source.metadata_file is not None
        assert litware.source.metadata_file.value == "contoso/litware-crm.xml"
        assert (ROOT / "tenants" / litware.source.metadata_file.value).is_file()
    else:
        assert tenant.name.value == "Fabrikam Inc"
        assert tenant.tenant_id is None
        assert tenant.apps is None
        assert tenant.source.metadata_file is not None
        assert tenant.source.metadata_file.value == "fabrikam/idp-metadata.xml"
        assert tenant.metadata["changePasswordUrl"].value.startswith("https://idp.fabrikam")


# --- keys ----------------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_closest() -> None:
    expect_errors(
        f"name: X\ntenant_idd: {GUID}\n",
        "tenants/x.yml:2:1: error: unknown key 'tenant_idd' in tenant file"
        " (did you mean 'tenant_id'?)",
    )


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    expect_errors(
        "name: X\ncolour: blue\n", "tenants/x.yml:2:1: error: unknown key 'colour' in tenant file"
    )


def test_unknown_metadata_key_suggests_the_canonical_key() -> None:
    expect_errors(
        "name: X\nmetadata:\n  singleSignOnServiceUrll: https://idp.example.com/sso\n",
        "tenants/x.yml:3:3: error: unknown metadata key 'singleSignOnServiceUrll'"
        " (did you mean 'singleSignOnServiceUrl'?)",
    )


def test_non_canonical_spelling_is_a_warning_and_the_value_is_kept() -> None:
    tenant, warnings = parse_tenant(
        "name: X\nmetadata:\n  SignOnUrl: https://idp.example.com/sso\n", PATH, APPS
    )
    assert [str(w) for w in warnings] == [
        "tenants/x.yml:3:3: warning: 'SignOnUrl' is a non-canonical spelling of"
        " 'singleSignOnServiceUrl'"
    ]
    assert warnings[0].severity is Severity.WARNING
    assert warnings[0].tenant == "x"
    assert tenant.metadata["singleSignOnServiceUrl"].value == "https://idp.example.com/sso"


def test_two_spellings_of_one_key() -> None:
    expect_errors(
        "name: X\nmetadata:\n  SignOnUrl: https://a.example.com/\n"
        "  singleSignOnServiceUrl: https://b.example.com/\n",
        "tenants/x.yml:3:3: warning: 'SignOnUrl' is a non-canonical spelling of"
        " 'singleSignOnServiceUrl'",
        "tenants/x.yml:4:3: error: 'singleSignOnServiceUrl' repeats key 'singleSignOnServiceUrl'",
    )


def test_duplicate_key_names_the_first_line() -> None:
    expect_errors(
        f"name: X\ntenant_id: {GUID}\nname: Y\n",
        "tenants/x.yml:3:1: error: duplicate key 'name' (first at line 1)",
    )


def test_duplicate_key_in_a_nested_mapping() -> None:
    expect_errors(
        "name: X\nmetadata:\n  DisplayName: a\n\n  DisplayName: b\n",
        "tenants/x.yml:5:3: error: duplicate key 'DisplayName' (first at line 3)",
    )


def test_keys_after_a_duplicate_are_still_read() -> None:
    # A duplicate must not hide the rest of the mapping: 'name' below is present.
    expect_errors(
        f"tenant_id: {GUID}\ntenant_id: {GUID}\ncolour: blue\nname: X\n",
        "tenants/x.yml:2:1: error: duplicate key 'tenant_id' (first at line 1)",
        "tenants/x.yml:3:1: error: unknown key 'colour' in tenant file",
    )


def test_non_string_key() -> None:
    expect_errors(
        "name: X\n1: x\n", "tenants/x.yml:2:1: error: keys in a tenant file must be plain strings"
    )


def test_non_string_key_in_metadata() -> None:
    expect_errors(
        "name: X\nmetadata:\n  true: x\n",
        "tenants/x.yml:3:3: error: keys in 'metadata' must be plain strings",
    )


# --- YAML that is not a tenant file --------------------------------------------------------


def test_unclosed_quote_points_at_the_end_and_the_opening_quote() -> None:
    expect_errors(
        f'name: "Contoso\ntenant_id: {GUID}\n',
        "tenants/x.yml:3:1: error: invalid YAML: found unexpected end of stream"
        " (while scanning a quoted scalar that starts at line 1, column 7)",
    )


def test_bad_indentation() -> None:
    expect_errors(
        f"name: X\n  tenant_id: {GUID}\n",
        "tenants/x.yml:2:12: error: invalid YAML: mapping values are not allowed here",
    )


def test_dedented_key_inside_a_mapping() -> None:
    expect_errors(
        "name: X\nmetadata:\n    DisplayName: a\n  tenantId: b\n",
        "tenants/x.yml:4:3: error: invalid YAML: expected <block end>, but found"
        " '<block mapping start>' (while parsing a block mapping that starts at line 1, column 1)",
    )


def test_tab_indentation() -> None:
    expect_errors(
        "name: X\n\tmetadata: {}\n",
        "tenants/x.yml:2:1: error: invalid YAML: found character '\\t' that cannot start any token",
    )


def test_alias_is_refused() -> None:
    expect_errors(
        "name: &a Contoso\nmetadata:\n  DisplayName: *a\n",
        "tenants/x.yml:3:16: error: invalid YAML: aliases (*name) are not allowed here",
    )


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    started = time.perf_counter()
    expect_errors(
        "\n".join(lines) + "\n",
        "tenants/x.yml:2:8: error: invalid YAML: aliases (*name) are not allowed here",
    )
    assert time.perf_counter() - started < 1.0


def test_python_object_tag_is_refused() -> None:
    expect_errors(
        "name: !!python/object/apply:os.system ['true']\n",
        "tenants/x.yml:1:7: error: tag 'tag:yaml.org,2002:python/object/apply:os.system'"
        " is not allowed",
    )


def test_merge_key_is_refused() -> None:
    expect_errors(
        "name: X\n<<: {tenant_id: x}\n",
        "tenants/x.yml:2:1: error: tag 'tag:yaml.org,2002:merge' is not allowed",
    )


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    expect_errors(text, "tenants/x.yml: error: tenant file is empty")


def test_file_that_is_a_list() -> None:
    expect_errors(
        "- name: X\n",
        "tenants/x.yml:1:1: error: a tenant file must be a mapping",
        "tenants/x.yml:1:1: error: missing required key 'name'",
    )


def test_too_large_file() -> None:
    text = "name: X\n" + "# padding\n" * 110_000
    expect_errors(text, "tenants/x.yml: error: file is larger than 1048576 bytes")


# --- values --------------------------------------------------------------------------------


def test_missing_name() -> None:
    expect_errors(f"tenant_id: {GUID}\n", "tenants/x.yml:1:1: error: missing required key 'name'")


def test_name_without_a_value() -> None:
    expect_errors("name:\n", "tenants/x.yml:1:6: error: 'name' has no value")


def test_name_that_is_a_list() -> None:
    expect_errors("name: [a, b]\n", "tenants/x.yml:1:7: error: 'name' must be a single value")


def test_bad_guid() -> None:
    expect_errors(
        "name: X\ntenant_id: 11bb11bb-cc22-dd33-ee44\n",
        "tenants/x.yml:2:12: error: 'tenant_id': '11bb11bb-cc22-dd33-ee44' is not a GUID",
    )


def test_bad_app_id() -> None:
    expect_errors(
        "name: X\napps:\n  litware-crm:\n    app_id: litware\n",
        "tenants/x.yml:4:13: error: 'app_id': 'litware' is not a GUID",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/password",
        "javascript:alert(1)",
        "ftp://example.com/x",
        "//example.com/x",
        "https://",
    ],
)
def test_url_value_must_be_https(url: str) -> None:
    expect_errors(
        f"name: X\nmetadata:\n  changePasswordUrl: '{url}'\n",
        f"tenants/x.yml:3:22: error: 'changePasswordUrl': '{url}' is not an https:// URL",
    )


def test_javascript_metadata_url_is_refused() -> None:
    expect_errors(
        "name: X\nmetadata_url: javascript:alert(1)\n",
        "tenants/x.yml:2:15: error: 'metadata_url': 'javascript:alert(1)' is not an https:// URL",
    )


def test_long_value_is_shortened_in_the_message() -> None:
    url = "http://example.com/" + "a" * 100
    expect_errors(
        f"name: X\nmetadata:\n  changePasswordUrl: {url}\n",
        f"tenants/x.yml:3:22: error: 'changePasswordUrl': '{url[:59]}…' is not an https:// URL",
    )


@pytest.mark.parametrize(
    "value",
    ["<script>alert(1)</script>", "Contoso `rm -rf`", "a > b", '"tab\\there"'],
)
def test_markup_and_control_characters_in_values_are_refused(value: str) -> None:
    expect_errors(
        f"name: X\nmetadata:\n  DisplayName: {value}\n",
        "tenants/x.yml:3:16: error: 'DisplayName': value contains a control character,"
        " '<', '>' or '`'",
    )


def test_script_in_the_name_is_refused() -> None:
    expect_errors(
        "name: <script>alert(1)</script>\n",
        "tenants/x.yml:1:7: error: 'name': value contains a control character, '<', '>' or '`'",
    )


@pytest.mark.parametrize("value", ["''", '"   "'])
def test_empty_value(value: str) -> None:
    expect_errors(
        f"name: X\nmetadata:\n  DisplayName: {value}\n",
        "tenants/x.yml:3:16: error: 'DisplayName': value is empty",
    )


def test_value_left_out() -> None:
    expect_errors(
        "name: X\nmetadata:\n  DisplayName:\n",
        "tenants/x.yml:3:15: error: 'DisplayName' has no value",
    )


def test_too_long_value() -> None:
    expect_errors(
        f"name: X\nmetadata:\n  DisplayName: {'a' * 2049}\n",
        "tenants/x.yml:3:16: error: 'DisplayName': value is longer than 2048 characters",
    )


# --- metadata sources ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["../secret.xml", "contoso/../../etc/passwd", "/etc/passwd", "contoso\\x.xml"],
)
def test_metadata_file_must_stay_in_the_tenants_folder(value: str) -> None:
    expect_errors(
        f"name: X\nmetadata_file: '{value}'\n",
        "tenants/x.yml:2:16: error: 'metadata_file': must be a path inside the tenants folder"
        " (no absolute path, no '..')",
    )


def test_metadata_file_of_an_app_must_stay_in_the_tenants_folder() -> None:
    expect_errors(
        "name: X\napps:\n  litware-crm:\n    metadata_file: ../x.xml\n",
        "tenants/x.yml:4:20: error: 'metadata_file': must be a path inside the tenants folder"
        " (no absolute path, no '..')",
    )


def test_metadata_file_and_url_together() -> None:
    expect_errors(
        "name: X\nmetadata_url: https://idp.example.com/md\nmetadata_file: x/md.xml\n",
        "tenants/x.yml:3:1: error: give either 'metadata_file' or 'metadata_url', not both",
    )


def test_metadata_file_and_url_together_in_an_app() -> None:
    expect_errors(
        "name: X\napps:\n  litware-crm:\n    metadata_file: x/md.xml\n"
        "    metadata_url: https://idp.example.com/md\n",
        "tenants/x.yml:5:5: error: give either 'metadata_file' or 'metadata_url', not both",
    )


# --- apps ----------------------------------------------------------------------------------


def test_unknown_app_suggests_the_closest_folder() -> None:
    expect_errors(
        f"name: X\napps:\n  litware-crn:\n    app_id: {APP_GUID}\n",
        "tenants/x.yml:3:3: error: unknown app 'litware-crn': there is no such folder in the"
        " templates (did you mean 'litware-crm'?)",
    )


def test_unknown_key_in_an_app_entry() -> None:
    expect_errors(
        f"name: X\napps:\n  litware-crm:\n    app_idd: {APP_GUID}\n",
        "tenants/x.yml:4:5: error: unknown key 'app_idd' in app 'litware-crm'"
        " (did you mean 'app_id'?)",
    )


def test_app_entry_must_be_a_mapping() -> None:
    expect_errors(
        "name: X\napps:\n  litware-crm: yes\n",
        "tenants/x.yml:3:16: error: app 'litware-crm' must be a mapping",
    )


def test_apps_must_be_a_mapping() -> None:
    expect_errors(
        "name: X\napps:\n  - litware-crm\n",
        "tenants/x.yml:3:3: error: 'apps' must be a mapping",
    )


# --- file name and several problems ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Bad Name.yml", "Contoso.yml", "-x.yml", f"{'a' * 65}.yml"])
def test_file_name_must_be_a_slug(name: str) -> None:
    expect_errors(
        "name: X\n",
        f"tenants/{name}: error: tenant file name '{name}' must be a slug: lowercase letters,"
        " digits, '-' and '_', at most 64 characters, starting with a letter or digit",
        path=Path("tenants") / name,
    )


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        "tenant_idd: x\n"  # 1
        "tenant_id: nope\n"  # 2
        "metadata:\n"  # 3
        "  foo: bar\n"  # 4
        "  SignOnUrl: http://idp.example.com/sso\n"  # 5
        "apps:\n"  # 6
        "  litware-crm:\n"  # 7
        "    colour: red\n"  # 8
        "  nope: {}\n"  # 9
    )
    path = Path("tenants/Bad Name.yml")
    with pytest.raises(TenantError) as info:
        parse_tenant(text, path, APPS)
    assert [str(p) for p in info.value.problems] == [
        "tenants/Bad Name.yml: error: tenant file name 'Bad Name.yml' must be a slug:"
        " lowercase letters, digits, '-' and '_', at most 64 characters, starting with a"
        " letter or digit",
        "tenants/Bad Name.yml:1:1: error: unknown key 'tenant_idd' in tenant file"
        " (did you mean 'tenant_id'?)",
        "tenants/Bad Name.yml:2:12: error: 'tenant_id': 'nope' is not a GUID",
        "tenants/Bad Name.yml:4:3: error: unknown metadata key 'foo'",
        "tenants/Bad Name.yml:5:3: warning: 'SignOnUrl' is a non-canonical spelling of"
        " 'singleSignOnServiceUrl'",
        "tenants/Bad Name.yml:5:14: error: 'SignOnUrl': 'http://idp.example.com/sso' is not an"
        " https:// URL",
        "tenants/Bad Name.yml:8:5: error: unknown key 'colour' in app 'litware-crm'",
        "tenants/Bad Name.yml:9:3: error: unknown app 'nope': there is no such folder in the"
        " templates",
        "tenants/Bad Name.yml:1:1: error: missing required key 'name'",
    ]
    assert {p.tenant for p in info.value.problems} == {"Bad Name"}
    assert info.value.exit_code == 1


def test_slug_problem_is_kept_when_the_yaml_is_broken() -> None:
    expect_errors(
        "name: [\n",
        "tenants/Bad Name.yml: error: tenant file name 'Bad Name.yml' must be a slug: lowercase"
        " letters, digits, '-' and '_', at most 64 characters, starting with a letter or digit",
        "tenants/Bad Name.yml:2:1: error: invalid YAML: expected the node content, but found"
        " '<stream end>' (while parsing a flow node that starts at line 2, column 1)",
        path=Path("tenants/Bad Name.yml"),
    )
