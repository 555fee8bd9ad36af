"""An Exchange Online system connected for real: a device code sign-in against the emulator, in the token store."""

from __future__ import annotations

import warnings
from typing import Any

CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
EXCHANGE_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"  # "Contoso Exchange Online": SMTP, IMAP and POP delegated


def connect_exchange_system(
    *, tenant: Any, actor: Any, m365: Any, mailbox: str, title: str = "Contoso mail", system: Any = None
) -> Any:
    """A real device code sign-in of `mailbox` stored in the token store: a new connected system, or `system`
    reconnected."""
    from django.utils import timezone

    from credentials.choices import CredentialKind
    from credentials.services import credential_save
    from external_systems.choices import SystemStatus
    from external_systems.services import OWNER_TYPE, system_create
    from external_systems.types.exchange_online import EXCHANGE_ONLINE_KEY, EXCHANGE_ONLINE_SCOPES
    from microsoft import identity
    from microsoft.config import AppCredentials

    if system is None:
        system = system_create(
            tenant=tenant,
            actor=actor,
            system_type_key=EXCHANGE_ONLINE_KEY,
            title=title,
            client_id=EXCHANGE_APP,
            directory_input=CONTOSO,
        )
    app = AppCredentials(EXCHANGE_APP, None)
    started = identity.device_flow_start(app=app, tenant=CONTOSO, scopes=EXCHANGE_ONLINE_SCOPES)
    m365.control.approve_device_code(started.user_code, mailbox)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poll = identity.device_flow_poll(app=app, tenant=CONTOSO, flow=started.flow)
    assert poll.grant is not None, poll.state
    credential_save(
        tenant=tenant,
        owner_type=OWNER_TYPE,
        owner_id=system.pk,
        kind=CredentialKind.DELEGATED_PUBLIC,
        directory_id=CONTOSO,
        client_id=EXCHANGE_APP,
        scopes=list(EXCHANGE_ONLINE_SCOPES),
        grant=poll.grant,
        actor=actor,
    )
    system.mailbox, system.status, system.connected_at = mailbox, SystemStatus.CONNECTED, timezone.now()
    system.save()
    return system
