"""``sitebuild`` sets what MkDocs reads from the environment for a build only, never on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tenantdocs.sitebuild import BUILD_ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: this process imported sitebuild long ago.
SCRIPT = """
import json, os
from pathlib import Path
import mkdocs.commands.build

keys = ("NO_MKDOCS_2_WARNING", "SOURCE_DATE_EPOCH")
seen = {"after import": None, "during build": None}
original = mkdocs.commands.build.build

def build(config):
    seen["during build"] = {k: os.environ.get(k) for k in keys}
    return original(config)

mkdocs.commands.build.build = build
from tenantdocs import sitebuild
from tenantdocs.errors import Location

seen["after import"] = {k: os.environ.get(k) for k in keys}
plan = sitebuild.SitePlan(
    "T", {"index.md": "# Home\\n"}, {}, [{"Home": "index.md"}], None, {"": Location(Path("t.yml"))}
)
before = dict(os.environ)
sitebuild.build_site(plan, Path("work"), Path("site"))
seen["restored"] = dict(os.environ) == before
print(json.dumps(seen))
"""


def test_importing_sitebuild_leaves_the_environment_and_a_build_restores_it(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in BUILD_ENVIRONMENT}
    env["PYTHONPATH"] = str(REPO)
    ran = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["after import"] == {"NO_MKDOCS_2_WARNING": None, "SOURCE_DATE_EPOCH": None}
    assert seen["during build"]["SOURCE_DATE_EPOCH"] == "0"
    assert seen["during build"]["NO_MKDOCS_2_WARNING"]  # Material itself sets it to "true"
    assert seen["restored"]
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_build_keeps_the_callers_own_values(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "86400"}
    ran = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["during build"]["SOURCE_DATE_EPOCH"] == "86400"
