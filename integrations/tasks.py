from __future__ import annotations

from celery import shared_task


@shared_task(name="integrations.attention_check")
def integrations_attention_check() -> int:
    """Daily: refresh the features' app tokens, then email each tenant's admins once per problem."""
    from integrations.services.attention import integrations_attention_check as check

    return check()
