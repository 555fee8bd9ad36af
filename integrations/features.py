"""What each integration feature needs from Microsoft: its operator app, permissions, and directory.

The permission GUIDs are Microsoft Graph's published ids, used in the manifest snippet of the set-up guide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from integrations.choices import FeatureType
from microsoft.config import GRAPH_RESOURCE

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_PREFIX = f"{GRAPH_RESOURCE}/"
# MSAL adds these to every sign-in; they are consented with the first delegated permission.
SIGN_IN_SCOPES = ("openid", "profile", "email", "offline_access")

DELEGATED_IDS = {
    "openid": "37f7f235-527c-4136-accd-4a02d197296e",
    "profile": "14dad69e-099b-42c9-810b-d002981feec1",
    "email": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
    "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
    "Files.ReadWrite": "5c28f0bf-8a70-41f1-8ab2-9032436ddb65",
    "Printer.ReadWrite.All": "89f66824-725f-4b8f-928e-e1c5258dc565",
    "PrinterShare.ReadBasic.All": "5fa075e9-b951-4165-947b-c63396ff0a37",
}
APPLICATION_IDS = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
    "Printer.Read.All": "9709bb33-4549-49d4-8ed9-a8f65e45bb0f",
    "PrintTaskDefinition.ReadWrite.All": "456b71a7-0ee0-4588-9842-c123fcc8f664",
    "PrintJob.Read.All": "ac6f956c-edea-44e4-bd06-64b1b4b9aec9",
    "PrintJob.ReadWriteBasic.All": "57878358-37f4-4d3a-8c20-4816e0d457b1",
}


@dataclass(frozen=True)
class FeatureSpec:
    type: FeatureType
    operator_app: str  # its split app (integrations.operator_apps)
    purpose: str
    delegated: tuple[str, ...]
    application: tuple[str, ...]
    # User Synchronization and Universal Print act on one organization: they need its directory.
    needs_directory: bool
    # Why the permissions are split the way they are, for the set-up guide.
    permissions_note: str = ""
    # The page where the feature is set up once enabled (a URL name), linked from the integration's page.
    manage_url_name: str = ""

    @property
    def label(self) -> str:
        return str(self.type.label)


FEATURES: dict[str, FeatureSpec] = {
    spec.type.value: spec
    for spec in (
        FeatureSpec(
            FeatureType.LOGIN,
            "LOGIN",
            "Users sign in to Roger with their Microsoft work or school account.",
            delegated=("User.Read",),
            application=(),
            needs_directory=False,
            manage_url_name="microsoft_login:settings",
        ),
        FeatureSpec(
            FeatureType.USER_SYNC,
            "USER_SYNC",
            "Roger imports users and groups from Microsoft Entra ID every day.",
            delegated=(),
            application=("User.Read.All", "Group.Read.All"),
            needs_directory=True,
            manage_url_name="user_sync:page",
        ),
        FeatureSpec(
            FeatureType.UNIVERSAL_PRINT,
            "UNIVERSAL_PRINT",
            "Roger receives jobs sent to Universal Print printers and releases them.",
            # Task triggers and the printer list are delegated only (a Printer Administrator signs in to turn
            # printers on and off); the rest is app-only: printers, the task definition and its tasks, job
            # documents (PrintJob.Read.All) and aborting a job (least privileged: PrintJob.ReadWriteBasic.All).
            delegated=("Printer.ReadWrite.All", "PrinterShare.ReadBasic.All"),
            application=(
                "Printer.Read.All",
                "PrintTaskDefinition.ReadWrite.All",
                "PrintJob.Read.All",
                "PrintJob.ReadWriteBasic.All",
            ),
            needs_directory=True,
            permissions_note=(
                "The delegated permissions are used only when a Printer Administrator (or Global Administrator) "
                "signs in to turn printers on or off: Microsoft lets an application manage task triggers and list "
                "printers only on behalf of such a person. Everything else runs with the application permissions."
            ),
            manage_url_name="universal_print:page",
        ),
        FeatureSpec(
            FeatureType.ONEDRIVE,
            "ONEDRIVE",
            "Users print from and scan to their OneDrive.",
            delegated=("User.Read", "Files.ReadWrite"),
            application=(),
            needs_directory=False,
        ),
    )
}


def feature_spec(feature_type: str) -> FeatureSpec:
    return FEATURES[feature_type]


def short_permission(name: str) -> str:
    """A Graph permission with or without its resource prefix (`<Graph>/User.Read` is `User.Read`)."""
    return name[len(GRAPH_PREFIX) :] if name.lower().startswith(GRAPH_PREFIX) else name


def permission_names(granted: list[str] | tuple[str, ...]) -> set[str]:
    return {short_permission(name).lower() for name in granted}


# What the manifest's groupMembershipClaims is set to where sign-ins must show the user's directory roles (`wids`):
# the operator's Login and legacy apps, whose administrators' sign-ins prove a directory.
DIRECTORY_ROLE_CLAIMS = "DirectoryRole"
# The optional id token claims a Login app asks for: without `xms_edov` (Microsoft's word that the `email` claim's
# domain is verified by the person's directory) nobody can register with Login with Microsoft.
LOGIN_ID_TOKEN_CLAIMS = ("email", "xms_edov")


def manifest_snippet(spec: FeatureSpec) -> str:
    """The app manifest's `requiredResourceAccess` entry for this feature, to paste in the Azure portal
    (one permission per line, so it stays readable); Login also asks for directory-role claims and the optional
    id token claims `email` and `xms_edov`, like Roger Login."""
    delegated = (*SIGN_IN_SCOPES, *spec.delegated) if spec.delegated else ()
    access = [{"id": DELEGATED_IDS[name], "type": "Scope"} for name in delegated]
    access += [{"id": APPLICATION_IDS[name], "type": "Role"} for name in spec.application]
    lines = ",\n".join(f"        {json.dumps(item)}" for item in access)
    claims = ""
    if spec.type == FeatureType.LOGIN:
        optional = ",\n".join(
            f"      {json.dumps({'name': name, 'source': None, 'essential': False, 'additionalProperties': []})}"
            for name in LOGIN_ID_TOKEN_CLAIMS
        )
        claims = (
            f'  "groupMembershipClaims": "{DIRECTORY_ROLE_CLAIMS}",\n'
            f'  "optionalClaims": {{\n    "idToken": [\n{optional}\n    ],\n'
            '    "accessToken": [],\n    "saml2Token": []\n  },\n'
        )
    return (
        "{\n"
        f"{claims}"
        '  "requiredResourceAccess": [\n    {\n'
        f'      "resourceAppId": "{GRAPH_APP_ID}",\n'
        f'      "resourceAccess": [\n{lines}\n      ]\n'
        "    }\n  ]\n}"
    )
