"""``new-app``: start a guide in one step — an app folder with a guide skeleton and app file."""

from __future__ import annotations

import re
from pathlib import Path

from tenantdocs.errors import Location, Problem, UsageError
from tenantdocs.templates import APP_FILE, GUIDE

APP_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

GUIDE_SKELETON = """\
### Configure {name} for single sign-on

1. In a different browser window, sign in to {name} as an administrator.

2. Open the single sign-on (SAML) settings of {name}, and then perform the following steps:

    a. Copy the **Login URL** : %metadata:singleSignOnServiceUrl% and paste it into the
    **Identity provider sign-in URL** box.

    b. Copy the **Logout URL** : %metadata:singleSignOutServiceUrl% and paste it into the
    **Identity provider sign-out URL** box.

    c. Copy the **Identifier** : %metadata:IssuerUri% and paste it into the **Issuer** box.

    d. [Download the signing certificate (Base64)](%metadata:certificateDownloadBase64Url%)
    and upload it in the **Signing certificate** field.

    e. Click **Save**.

> **Note:**
> Keep an administrator signed in to {name} in another browser until single sign-on works.

## Quick reference

* **Login URL** : %metadata:singleSignOnServiceUrl%

* **Logout URL** : %metadata:singleSignOutServiceUrl%

* **Identifier** : %metadata:IssuerUri%

* **[Download the signing certificate (Base64)](%metadata:certificateDownloadBase64Url%)**

* **[Download the federation metadata](%metadata:metadataDownloadUrl%)**
"""

APP_SKELETON = """\
# Navigation group of this app's guide (optional).
category: {category}
# App-level defaults; a tenant file can override any of them.
metadata:
  DisplayName: {name}
"""


def new_app(templates: Path, folder: str, display_name: str | None, category: str) -> Path:
    """Create ``templates/<folder>/`` with a guide skeleton and an app file; return it."""
    where = Location(templates / folder)
    if not APP_NAME.fullmatch(folder):
        raise UsageError(
            Problem(
                where, "app name must be lowercase letters, digits, '.', '-' or '_' (at most 64)"
            )
        )
    if not templates.is_dir():
        raise UsageError(Problem(Location(templates), "templates folder not found"))
    target = templates / folder
    if target.exists():
        raise UsageError(Problem(where, "that app folder exists already"))
    name = display_name or folder.replace("-", " ").replace("_", " ").title()
    if any(c in name + category for c in '\n\r<>`%"') or not name.strip():
        raise UsageError(Problem(where, "display name and category must be one line of plain text"))
    target.mkdir()
    (target / GUIDE).write_text(GUIDE_SKELETON.format(name=name), encoding="utf-8")
    (target / APP_FILE).write_text(
        APP_SKELETON.format(name=_yaml_text(name), category=_yaml_text(category)), encoding="utf-8"
    )
    return target


def _yaml_text(text: str) -> str:
    """A YAML scalar for one line of text (quoted, so ':' or '#' in names stay text)."""
    return "'" + text.replace("'", "''") + "'"
