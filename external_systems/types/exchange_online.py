"""Microsoft Exchange Online: a mailbox connected by the device code flow, for SMTP sending and IMAP/POP3 fetching."""

from __future__ import annotations

from external_systems.types import SystemType, system_type_register
from microsoft.config import DEFAULT_AUTHORITY_HOST, OUTLOOK_RESOURCE

EXCHANGE_ONLINE_KEY = "exchange_online"
# MSAL adds offline_access itself (and refuses it as an argument): the refresh token comes with it.
EXCHANGE_ONLINE_SCOPES = (
    f"{OUTLOOK_RESOURCE}/SMTP.Send",
    f"{OUTLOOK_RESOURCE}/IMAP.AccessAsUser.All",
    f"{OUTLOOK_RESOURCE}/POP.AccessAsUser.All",
)

EXCHANGE_ONLINE = system_type_register(
    SystemType(
        key=EXCHANGE_ONLINE_KEY,
        label="Microsoft Exchange Online",
        description="A Microsoft 365 mailbox for the outgoing SMTP server and for Jobs via Email (POP3 or IMAP).",
        scopes=EXCHANGE_ONLINE_SCOPES,
        setup_template="external_systems/types/exchange_online_setup.html",
        # The reply URL the manifest names is always Microsoft's own native-client page, wherever tokens come from.
        setup_context={"redirect_uri": f"{DEFAULT_AUTHORITY_HOST}/common/oauth2/nativeclient"},
    )
)
