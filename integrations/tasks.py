from __future__ import annotations

from celery import shared_task

from integrations.services import attention, permissions


@shared_task(name="integrations.attention_check")
def integrations_attention_check() -> int:
    """Daily: refresh the features' app tokens, then email each tenant's admins once per problem."""
    return attention.integrations_attention_check()


@shared_task(name="integrations.app_roles_recheck")
def app_roles_recheck_task(app_registration_id: int) -> bool | None:
    """A consent's application permissions were not all in the app token yet: look again (a few times, while
    Microsoft may still be propagating them)."""
    return permissions.app_roles_recheck_due(app_id=app_registration_id)
