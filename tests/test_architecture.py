"""The package's shape: modules import only what comes before them in the pipeline, and the
edges (MkDocs, HTTP) are each reached from one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tenantdocs"

PIPELINE_ORDER = (
    # shared helpers, below every stage
    "__init__",
    "errors",
    "keys",
    "files",
    "hosts",
    "entra",
    "mdparser",
    "yamlfile",
    # templates
    "rewrite",
    "placeholders",
    "templates",
    # tenants and their metadata
    "tenants",
    "certificates",
    "metadata",
    "fetch",
    "cache",
    "sources",
    # values, pages
    "values",
    "render",
    "adminpages",
    # sites
    "sitebuild",
    "skeleton",
    "publish",
    "report",
    "incremental",
    "batch",
    # the commands
    "pipeline",
    "refresh",
    "serve",
    "scaffold",
    "cli",
    "__main__",
)
"""Every module of the package, in pipeline order: each may import only modules above it."""

EDGES = {
    "mkdocs": {"sitebuild"},
    "material": {"sitebuild"},
    "requests": {"fetch"},
    "urllib3": {"fetch"},
}
"""Third-party packages at the edges, and the only modules that may import them."""


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tenantdocs":
                names.update(f"tenantdocs.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def package_imports(path: Path) -> set[str]:
    """The package's own modules that ``path`` imports (``__version__`` is the package's)."""
    own = set()
    for name in imported_modules(path):
        parts = name.split(".")
        if parts[0] == "tenantdocs":
            module = parts[1] if len(parts) > 1 else "__init__"
            own.add("__init__" if module == "__version__" else module)
    return own


def test_every_module_has_its_place_in_the_pipeline() -> None:
    modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert modules == sorted(PIPELINE_ORDER)


@pytest.mark.parametrize("module", PIPELINE_ORDER)
def test_imports_follow_the_pipeline(module: str) -> None:
    position = PIPELINE_ORDER.index(module)
    later = sorted(
        name
        for name in package_imports(PACKAGE / f"{module}.py")
        if name in PIPELINE_ORDER and PIPELINE_ORDER.index(name) >= position and name != module
    )
    assert later == [], f"{module} imports modules after it in the pipeline: {later}"


@pytest.mark.parametrize("package", sorted(EDGES))
def test_each_edge_is_reached_from_one_module(package: str) -> None:
    users = {
        path.stem
        for path in PACKAGE.glob("*.py")
        if any(name.split(".")[0] == package for name in imported_modules(path))
    }
    assert users <= EDGES[package], f"{package} imported by {sorted(users - EDGES[package])}"


def test_the_import_reader_sees_lazy_and_package_imports(tmp_path: Path) -> None:
    # The checks above are only as good as this reader: an import inside a function and
    # ``from tenantdocs import x`` must both count.
    source = tmp_path / "m.py"
    source.write_text(
        "from tenantdocs import batch, __version__\n"
        "def f():\n    from tenantdocs.serve import x\n    import mkdocs.commands.build\n"
    )
    assert package_imports(source) == {"batch", "__init__", "serve"}
    assert "mkdocs.commands.build" in imported_modules(source)
