"""Leaving the legacy app: an integration moves to the customer's own Application ID.

The consents and tokens granted to the legacy apps do not carry over to another app: every token tied to them
is deleted (the features' own and those the settings from before integrations still hold), the users who held
one are flagged (a banner) and emailed, and a `LegacySwitch` records what happened for the admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.urls import reverse

from accounts.mail import tenant_mail_send
from accounts.models import Tenant, User
from audit.services import audit_record
from credentials.services import credential_delete
from integrations.choices import ConsentState
from integrations.legacy.models import LegacySwitch
from integrations.legacy.selectors import feature_label_of_credential, legacy_bound_credentials, users_of_credentials
from integrations.models import AppRegistration, Feature, Integration
from ui.links import portal_url

if TYPE_CHECKING:
    from credentials.models import MicrosoftCredential
    from integrations.services.integrations import Impact

RECONNECT_SUBJECT = "Reconnect your Microsoft account in Roger"
RECONNECT_BODY = (
    "Hello {name},\n\n"
    "Your organization changed the Microsoft application Roger uses. Your connection to OneDrive and "
    "SharePoint was removed with the old application, so Roger can no longer reach your files.\n\n"
    "Connect again in My Settings > Cloud Services:\n{url}\n\n"
    "Roger\n"
)


def leaving_legacy_impact(integration: Integration, impact: Impact, features: list[Feature]) -> None:
    """Exactly what leaving the legacy app deletes: each stored token (whose it is) and who must reconnect."""
    by_pk = {f.pk: f for f in features}
    credentials = legacy_bound_credentials(tenant=integration.tenant, feature_ids=list(by_pk))
    impact.leaving_legacy = True
    impact.legacy_apps = sorted({app.display_name for app in integration.app_registrations.all()})
    impact.features_losing_consent = [f.spec.label for f in features if f.has_consent]
    impact.tokens_deleted = [f"{feature_label_of_credential(c, by_pk)}: {_owner_of(c)}" for c in credentials]
    users = users_of_credentials(credentials)
    impact.affected_users = [_person(user) for user in users]
    impact.connections_dropped, impact.users_affected = len(impact.tokens_deleted), len(users)


def _owner_of(credential: MicrosoftCredential) -> str:
    if credential.user is None:
        return "the application's token"
    return f"the connection of {_person(credential.user)}"


def _person(user: User) -> str:
    return f"{user.full_name} <{user.email}>" if user.full_name else user.email


def legacy_leave(*, integration: Integration, app: AppRegistration, actor: User) -> LegacySwitch:
    """Move every feature to `app` (the customer's, saved in place of the legacy app), delete every token tied
    to the legacy apps, flag the users who held one and tell them by email. Runs in the caller's transaction
    (the edit that changes the Application ID); the emails go once it commits."""
    application_id = app.client_id.lower()
    feature_ids = list(integration.features.values_list("pk", flat=True))
    credentials = legacy_bound_credentials(tenant=integration.tenant, feature_ids=feature_ids)
    users = users_of_credentials(credentials)
    consents = [f.spec.label for f in integration.features.filter(consent_state=ConsentState.GRANTED)]
    deleted = 0
    for owner_type, owner_id in sorted(set(credentials.values_list("owner_type", "owner_id"))):
        deleted += credential_delete(tenant=integration.tenant, owner_type=owner_type, owner_id=owner_id, actor=actor)
    User.objects.filter(pk__in=[u.pk for u in users]).update(microsoft_reconnect_required=True)
    # Every feature now runs on the one new app; the second legacy app (User Synchronization) goes.
    integration.features.update(app_registration=app)
    integration.app_registrations.exclude(pk=app.pk).delete()
    integration.is_legacy = False
    integration.save(update_fields=["is_legacy", "updated_at"])
    switch = LegacySwitch.objects.create(
        integration=integration,
        tenant=integration.tenant,
        actor=actor,
        new_application_id=application_id,
        tokens_deleted=deleted,
        consents_reset=consents,
    )
    switch.affected_users.set(users)
    audit_record(
        actor=actor,
        action="integration.legacy_left",
        target=integration,
        details={
            "application_id": application_id,
            "tokens_deleted": deleted,
            "consents_reset": consents,
            "users_flagged": [u.pk for u in users],
        },
    )
    tenant = integration.tenant
    transaction.on_commit(lambda: _reconnect_emails_send(tenant, users))
    return switch


def _reconnect_emails_send(tenant: Tenant, users: list[User]) -> None:
    url = portal_url(reverse("integrations:cloud_services"))
    for user in users:
        body = RECONNECT_BODY.format(name=user.full_name or user.email, url=url)
        tenant_mail_send(tenant=tenant, subject=RECONNECT_SUBJECT, body=body, to=[user.email])
