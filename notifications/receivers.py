"""Notices about the token store's credentials, which it reports through its signals (credentials.signals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.dispatch import receiver

from credentials.choices import CredentialState
from credentials.registry import owner_type_get
from credentials.signals import credential_healthy, credential_needs_person
from notifications.services import admins_notification_clear, admins_notify
from ui.links import portal_url

if TYPE_CHECKING:
    from credentials.models import MicrosoftCredential


def _key(credential: MicrosoftCredential, state: str) -> str:
    return f"credentials:{credential.pk}:{state}"


@receiver(credential_needs_person, dispatch_uid="notifications.credential_needs_person")
def credential_tell(sender: Any, *, credential: MicrosoftCredential, reason: str, **kwargs: Any) -> None:
    """Tell the people who can fix it, once: the admins, or for a user's own connection (OneDrive) that user."""
    owner = owner_type_get(credential.owner_type)
    label = owner.label_for(credential)
    fix_url = owner.fix_url_for(credential)
    if fix_url.startswith("/"):
        fix_url = portal_url(fix_url)
    admins_notify(
        tenant=credential.tenant,
        key=_key(credential, credential.state),
        subject=f"Microsoft 365 connection needs attention: {label}",
        body=f"{label}\n\n{reason}\n\nFix it here: {fix_url}\n",
        to=[credential.user.email] if credential.user is not None else None,
    )


@receiver(credential_healthy, dispatch_uid="notifications.credential_healthy")
def credential_forget(sender: Any, *, credential: MicrosoftCredential, **kwargs: Any) -> None:
    """A recurrence of any of its problems is told again."""
    states = (CredentialState.RETRYING, *CredentialState.terminal())
    admins_notification_clear(tenant=credential.tenant, key=[_key(credential, state) for state in states])
