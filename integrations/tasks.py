from __future__ import annotations

from celery import shared_task


@shared_task(name="integrations.attention_check")
def integrations_attention_check() -> int:
    """Daily: refresh the features' app tokens, then email each tenant's admins once per problem."""
    from integrations.services.attention import integrations_attention_check as check

    return check()


@shared_task(name="integrations.app_roles_recheck")
def app_roles_recheck_task(app_registration_id: int, attempt: int = 1) -> bool:
    """A consent's application permissions were not all in the app token yet: look again (and again, a few
    times, while Microsoft may still be propagating them)."""
    from integrations.models import AppRegistration
    from integrations.services.permissions import app_roles_recheck, roles_recheck_queue

    app = AppRegistration.objects.filter(pk=app_registration_id).first()
    if app is None:
        return False
    again = app_roles_recheck(app=app)
    if again:
        roles_recheck_queue(app, attempt)
    return again
