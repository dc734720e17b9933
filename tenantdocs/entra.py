"""Microsoft Entra ID (public cloud) URLs that follow from a tenant ID and an app ID.

Declared once, before both the metadata sources (which fetch the App Federation Metadata
URL) and the value resolver (which shows it and derives the endpoints).
"""

from __future__ import annotations

LOGIN = "https://login.microsoftonline.com"
CHANGE_PASSWORD = "https://account.activedirectory.windowsazure.com/ChangePassword.aspx"


def saml_url(tenant_id: str) -> str:
    """The tenant's SAML sign-on and sign-out endpoint."""
    return f"{LOGIN}/{tenant_id.lower()}/saml2"


def wsfed_url(tenant_id: str) -> str:
    """The tenant's WS-Federation sign-in endpoint."""
    return f"{LOGIN}/{tenant_id.lower()}/wsfed"


def issuer_uri(tenant_id: str) -> str:
    """The tenant's SAML entity ID (with its trailing slash)."""
    return f"https://sts.windows.net/{tenant_id.lower()}/"


def app_federation_metadata_url(tenant_id: str, app_id: str) -> str:
    """Entra's per-app federation metadata document."""
    return (
        f"{LOGIN}/{tenant_id.lower()}/federationmetadata/2007-06/federationmetadata.xml"
        f"?appid={app_id.lower()}"
    )
