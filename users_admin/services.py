"""Writes of Administration > Users: adding, editing, inviting and resetting users by hand.

Deactivating and reactivating are `accounts.services.user_deactivate` / `user_reactivate` (shared with User
Synchronization); a role change goes through `accounts.services.user_role_set` (the last admin stays).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template import loader
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role, UserSource
from accounts.mail import tenant_mail_send
from accounts.selectors import alias_list, user_list
from accounts.services import local_user_create, password_reset_mail_send, user_role_set, users_aliases_set
from audit.services import audit_record
from ui.links import portal_url
from users_admin.models import Invitation

if TYPE_CHECKING:
    from accounts.models import Tenant, User

INVITATION_LIFETIME = timedelta(days=7)
# What a directory owns on a synchronized user: edited in the directory, never here.
DIRECTORY_FIELDS = ("email", "full_name", "aliases", "card")
FIELD_LABELS = {"email": "Email", "full_name": "Display name", "aliases": "Aliases", "card": "Card"}


class UserFieldError(Exception):
    """The values cannot be saved; `errors` maps a field name to what to fix."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class UserValues:
    email: str
    full_name: str
    role: str
    aliases: Sequence[str]
    card: str
    pin: str | None = None  # None: leave the PIN as it is; "": remove it


def aliases_parse(text: str) -> list[str]:
    """Aliases as typed: separated by commas, semicolons, spaces or lines; the same name once, whatever its case."""
    names: dict[str, str] = {}
    for part in text.replace(",", " ").replace(";", " ").split():
        names.setdefault(part.lower(), part[:200])
    return list(names.values())


def values_check(*, tenant: Tenant, values: UserValues, user: User | None = None) -> None:
    """Raise UserFieldError when the email, card or an alias belongs to another user of the tenant."""
    others = user_list(tenant=tenant)
    if user is not None:
        others = others.exclude(pk=user.pk)
    errors: dict[str, str] = {}
    if others.filter(email=values.email.strip().lower()).exists():
        errors["email"] = "Another user of this tenant has this email."
    if values.card and others.filter(card=values.card).exists():
        errors["card"] = "This card belongs to another user of this tenant."
    taken = sorted(
        alias_list(tenant=tenant)
        .filter(name_lower__in=[a.lower() for a in values.aliases])
        .exclude(user=user)
        .values_list("name", flat=True)
    )
    if taken:
        errors["aliases"] = f"Already another user's alias: {', '.join(taken)}."
    if values.role not in Role.values:
        errors["role"] = "Choose admin or user."
    if errors:
        raise UserFieldError(errors)


def user_create(*, tenant: Tenant, actor: User | None, values: UserValues, invite: bool = True) -> User:
    """Add a local user (no password: an invitation email lets them choose one when `invite`)."""
    values_check(tenant=tenant, values=values)
    with transaction.atomic():
        user = local_user_create(
            tenant=tenant,
            email=values.email.strip(),
            full_name=values.full_name.strip(),
            role=values.role,
            card=values.card.strip(),
            pin=values.pin or "",
        )
        users_aliases_set(tenant=tenant, aliases=[(user, values.aliases)])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="user.created",
            target=user,
            details={"role": user.role, "aliases": list(values.aliases), "card": user.card, "pin": bool(values.pin)},
        )
        if invite:
            invitation_send(user, actor=actor)
    return user


def user_update(user: User, *, values: UserValues) -> list[str]:
    """Save an admin's edit; returns the names of the fields that changed. A synchronized user's directory-owned
    fields cannot change here (UserFieldError says where to change them); the role of the tenant's last active
    admin stays (LastAdminError)."""
    assert user.tenant is not None
    values_check(tenant=user.tenant, values=values, user=user)
    before: dict[str, object] = {
        "email": user.email,
        "full_name": user.full_name,
        "aliases": sorted(a.lower() for a in user.sign_in_aliases.values_list("name", flat=True)),
        "card": user.card,
    }
    after: dict[str, object] = {
        "email": values.email.strip().lower(),
        "full_name": values.full_name.strip(),
        "aliases": sorted(a.lower() for a in values.aliases),
        "card": values.card.strip(),
    }
    changed = [name for name in before if before[name] != after[name]]
    if user.source == UserSource.SYNCED and changed:
        raise UserFieldError(
            {
                name: f"{FIELD_LABELS[name]} comes from the directory: change it in Microsoft Entra ID."
                for name in changed
            }
        )
    with transaction.atomic():
        if user_role_set(user, role=values.role):
            changed.append("role")
        if values.pin is not None and (values.pin or user.pin_hash):
            user.set_pin(values.pin)
            changed.append("pin")
        user.email, user.full_name, user.card = values.email.strip(), values.full_name.strip(), values.card.strip()
        user.save()
        if "email" in changed:  # an open invitation went to the old address: whoever holds it keeps nothing
            Invitation.objects.filter(user=user, used_at__isnull=True, expires_at__gt=timezone.now()).update(
                expires_at=timezone.now()
            )
        if "aliases" in changed:
            users_aliases_set(tenant=user.tenant, aliases=[(user, values.aliases)], replace=[user])
        shown = [name for name in changed if name != "role"]  # the role change has its own event
        if shown:
            audit_record(
                action="user.updated",
                target=user,
                details={
                    name: ("changed" if name == "pin" else {"from": before[name], "to": after[name]}) for name in shown
                },
            )
    return changed


# --- invitations and password resets -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_send(user: User, *, actor: User | None) -> Invitation:
    """Email the user a link to set their password (single use, valid INVITATION_LIFETIME), through the tenant's
    outgoing server. Earlier links of the user stop working."""
    assert user.tenant is not None
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        invitation = Invitation.objects.create(
            tenant=user.tenant,
            user=user,
            token_hash=_token_hash(token),
            created_by=actor if actor is not None and actor.pk else None,
            expires_at=now + INVITATION_LIFETIME,
        )
        url = portal_url(reverse("users_admin:invitation", kwargs={"token": token}))
        context = {"user": user, "tenant": user.tenant, "url": url, "expires_at": invitation.expires_at, "by": actor}
        subject = "".join(loader.render_to_string("users_admin/email/invitation_subject.txt", context).splitlines())
        body = loader.render_to_string("users_admin/email/invitation.txt", context)
        tenant_mail_send(tenant=user.tenant, subject=subject, body=body, to=[user.email])
        audit_record(
            actor=actor,
            action="user.invited",
            target=user,
            details={"expires_at": invitation.expires_at.isoformat()},
        )
    return invitation


def invitation_find(token: str) -> Invitation | None:
    """The invitation of `token` while it can still be used (not used, not expired, its user active)."""
    return (
        Invitation.objects.filter(
            token_hash=_token_hash(token), used_at__isnull=True, expires_at__gt=timezone.now(), user__is_active=True
        )
        .select_related("user__tenant")
        .first()
    )


def invitation_accept(token: str, *, password: str) -> User | None:
    """Set the invited user's password, once: None when the link was used, expired or replaced meanwhile."""
    with transaction.atomic():
        invitation = invitation_find(token)
        if invitation is None:
            return None
        used = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not used:
            return None
        user = invitation.user
        user.password = make_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=user, action="user.invitation_accepted", target=user)
    return user


def password_reset_send(user: User, *, actor: User | None) -> str:
    """An admin's Reset password: the reset email to a user who has a password ("reset"), a new invitation to one
    who never chose one ("invitation")."""
    assert user.tenant is not None
    if not user.has_usable_password():
        invitation_send(user, actor=actor)
        return "invitation"
    try:
        validate_email(user.email)
    except ValidationError:
        raise UserFieldError({"email": "The reset email cannot be sent to this address."}) from None
    password_reset_mail_send(user=user)
    audit_record(actor=actor, action="user.password_reset_sent", target=user)
    return "reset"
