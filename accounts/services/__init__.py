"""Writes for tenants, users and the sign-in lockout."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, make_password
from django.contrib.auth.tokens import default_token_generator
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.template import loader
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.choices import Role, UserSource
from accounts.errors import LastAdminError
from accounts.mail import tenant_mail_send
from accounts.models import Alias, Tenant, User
from accounts.selectors import user_by_identity
from accounts.signals import user_deactivated, user_reactivated
from audit.services import FROM_CONTEXT, audit_record, audit_record_many
from throttling.clients import client_key
from throttling.rates import Rate
from throttling.services import Limit, Throttled, throttle_forget, throttle_give_back, throttle_take
from ui.links import portal_url


@transaction.atomic
def tenant_create(*, name: str, display_name: str, admin_email: str, admin_password: str) -> Tenant:
    """Create a Roger tenant with its first admin."""
    tenant = Tenant.objects.create(name=name.lower(), display_name=display_name or name)
    admin = User.objects.create_user(tenant=tenant, email=admin_email, password=admin_password, role=Role.ADMIN)
    audit_record(
        tenant=tenant, actor=None, action="tenant.created", target=tenant, details={"first_admin": admin.email}
    )
    return tenant


# --- local users: added and edited by an admin, by hand or from a file -----------------------------------------


def local_user_create(*, tenant: Tenant, email: str, full_name: str, role: str, card: str, pin: str = "") -> User:
    """Add a local user of `tenant` without a password (an unusable one) and, when `pin`, with that PIN. The caller
    has checked the values (a taken email or card fails on the tenant's unique indexes) and records the event."""
    user = User.objects.create_user(
        tenant=tenant, email=email, full_name=full_name, role=role, card=card, source=UserSource.LOCAL
    )
    if pin:
        user.set_pin(pin)
        user.save(update_fields=["pin_hash"])
    return user


@dataclass(frozen=True)
class NewLocalUser:
    """The values of one local user that `local_users_create` adds (email in lower case, role a `Role`)."""

    email: str
    full_name: str
    role: str
    card: str
    pin: str = ""


def local_users_create(*, tenant: Tenant, users: Sequence[NewLocalUser]) -> list[User]:
    """Add local users of `tenant` in one INSERT, in the order given, without passwords and with their PINs hashed;
    no signal is sent (the caller records the events). Returns the users, saved."""
    return User.objects.bulk_create(
        [
            User(
                tenant=tenant,
                email=new.email,
                username=f"{tenant.name}/{new.email}",
                full_name=new.full_name,
                role=new.role,
                card=new.card,
                source=UserSource.LOCAL,
                password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),  # as set_unusable_password, faster
                pin_hash=make_password(new.pin) if new.pin else "",
            )
            for new in users
        ]
    )


def users_profiles_save(users: Sequence[User]) -> None:
    """Save the display name, card and PIN hash the caller set on each of `users` (checked values), in one UPDATE;
    no signal is sent."""
    User.objects.bulk_update(users, ["full_name", "card", "pin_hash"])


def users_aliases_set(
    *, tenant: Tenant, aliases: Sequence[tuple[User, Sequence[str]]], replace: Collection[User] = ()
) -> None:
    """Give each user of `tenant` the sign-in aliases paired with it, in one INSERT, after deleting those of the
    users in `replace` in one DELETE (a new user has none to delete). A name another user holds fails on the
    tenant's unique index: the caller has checked them."""
    if replace:
        Alias.objects.filter(user__in=list(replace)).delete()
    Alias.objects.bulk_create([Alias(user=user, tenant=tenant, name=name) for user, names in aliases for name in names])


def password_reset_mail_send(*, user: User) -> bool:
    """Email `user` a link to choose a new password (Django's password reset token, valid PASSWORD_RESET_TIMEOUT),
    through their tenant's outgoing server: the mail of the Forgot password page and of an admin's Reset password.
    False, and nothing sent, when the user is deactivated or never chose a password (they need an invitation)."""
    if not (user.is_active and user.has_usable_password()) or user.tenant is None:
        return False
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    path = reverse("accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    context = {"user": user, "reset_url": portal_url(path)}
    subject = "".join(loader.render_to_string("accounts/email/password_reset_subject.txt", context).splitlines())
    body = loader.render_to_string("accounts/email/password_reset.txt", context)
    tenant_mail_send(tenant=user.tenant, subject=subject, body=body, to=[user.email])
    return True


# --- deactivate, reactivate, role ----------------------------------------------------------------------------

DEACTIVATION_REASON_MAX = 200


@dataclass(frozen=True)
class UsersChanged:
    """What a bulk change did: `user_ids` changed; `protected_ids` were left active because each was the last
    active admin of their tenant (a tenant always keeps one)."""

    user_ids: list[int] = field(default_factory=list)
    protected_ids: list[int] = field(default_factory=list)


def user_deactivate(user: User, *, actor: User | None, reason: str) -> bool:
    """Deactivate one user: they cannot sign in, every session of theirs ends at once, their waiting jobs are held
    and their OneDrive connection stops (receivers of `accounts.signals.user_deactivated`); history stays.
    Raises LastAdminError for the tenant's last active admin. False when the user was already deactivated."""
    assert user.tenant_id is not None, "only a Roger tenant's users are deactivated here"
    with transaction.atomic():
        tenant = tenant_lock(pk=user.tenant_id)
        current = User.objects.filter(pk=user.pk, is_active=True).values_list("role", flat=True).first()
        if current is None:
            return False
        if current == Role.ADMIN and not _other_active_admins(tenant, exclude=[user.pk]):
            raise LastAdminError(
                f"{user} is the last active admin of {tenant}: make another user an admin before deactivating them."
            )
        _deactivate(tenant, [user.pk], actor=actor, reason=reason)
    user.refresh_from_db()
    return True


def users_deactivate(users: QuerySet[User], *, actor: User | None, reason: str) -> UsersChanged:
    """Deactivate many users (User Synchronization: the users a directory removed), one tenant at a time, as
    `user_deactivate` does. Users already deactivated are left as they are; a tenant's last active admin is kept
    active and named in `protected_ids` rather than failing the rest."""
    changed = UsersChanged()
    with transaction.atomic():
        for tenant, ids in _tenants_locked(users, is_active=True):
            admins = sorted(User.objects.filter(pk__in=ids, role=Role.ADMIN).values_list("pk", flat=True))
            if admins and not _other_active_admins(tenant, exclude=ids):
                changed.protected_ids.append(admins[0])
                ids.remove(admins[0])
            if ids:
                _deactivate(tenant, ids, actor=actor, reason=reason)
                changed.user_ids.extend(ids)
    return changed


def user_reactivate(user: User, *, actor: User | None) -> bool:
    """Let a deactivated user sign in again (sessions from before stay ended); receivers of
    `accounts.signals.user_reactivated` release what they held. False when the user was active."""
    assert user.tenant_id is not None, "only a Roger tenant's users are reactivated here"
    result = users_reactivate(User.objects.filter(pk=user.pk), actor=actor)
    user.refresh_from_db()
    return bool(result.user_ids)


def users_reactivate(users: QuerySet[User], *, actor: User | None) -> UsersChanged:
    changed = UsersChanged()
    with transaction.atomic():
        for tenant, ids in _tenants_locked(users, is_active=False):
            if not ids:
                continue
            User.objects.filter(pk__in=ids).update(is_active=True, deactivated_at=None, deactivation_reason="")
            audit_record_many(
                tenant=tenant, actor=actor, action="user.reactivated", targets=User.objects.filter(pk__in=ids)
            )
            user_reactivated.send(sender=User, tenant=tenant, user_ids=ids, actor=actor)
            changed.user_ids.extend(ids)
    return changed


def user_role_set(user: User, *, role: str, actor: User | None = FROM_CONTEXT) -> bool:
    """Make the user an admin or a plain user. Raises LastAdminError when it would demote the tenant's last active
    admin. False when the role was already `role`. The trail's actor is the request context's (a page's admin)
    unless given: an import applied in the background acts for the admin who applied it."""
    assert user.tenant_id is not None and role in Role.values
    with transaction.atomic():
        tenant = tenant_lock(pk=user.tenant_id)
        current = User.objects.filter(pk=user.pk).values_list("role", "is_active").get()
        if current[0] == role:
            return False
        if current == (Role.ADMIN, True) and not _other_active_admins(tenant, exclude=[user.pk]):
            raise LastAdminError(f"{user} is the last active admin of {tenant}: make another user an admin first.")
        User.objects.filter(pk=user.pk).update(role=role)
        user.refresh_from_db()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="user.role_changed",
            target=user,
            details={"from": current[0], "to": role},
        )
    return True


def user_first_pin_give(*, user: User, pin: str) -> bool:
    """Gives the user this PIN if they have none yet; False when they have one (another worker was first)."""
    return bool(User.objects.filter(pk=user.pk, pin_hash="").update(pin_hash=make_password(pin)))


def tenant_lock(*, pk: int) -> Tenant:
    """Locks the tenant's row until the transaction ends, so that changes checked per tenant are taken one at a time
    (two admins deactivating each other at once cannot both succeed; two enables of one feature type neither)."""
    return Tenant.objects.select_for_update().get(pk=pk)


def user_lock(*, tenant_id: int, pk: int) -> User:
    """The tenant's user, locked for the rest of the transaction (User.DoesNotExist when not the tenant's)."""
    return User.objects.select_for_update().get(pk=pk, tenant_id=tenant_id)


def _tenants_locked(users: QuerySet[User], *, is_active: bool) -> Iterator[tuple[Tenant, list[int]]]:
    """A bulk change's users that are still active (or inactive), tenant by tenant in a fixed order, each tenant
    locked as `tenant_lock` says and its users read again under the lock (run inside a transaction)."""
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for pk, tenant_id in users.filter(is_active=is_active, tenant__isnull=False).values_list("pk", "tenant_id"):
        by_tenant[tenant_id].append(pk)
    for tenant_id, candidates in sorted(by_tenant.items()):
        tenant = tenant_lock(pk=tenant_id)
        yield tenant, list(User.objects.filter(pk__in=candidates, is_active=is_active).values_list("pk", flat=True))


def _other_active_admins(tenant: Tenant, *, exclude: list[int]) -> bool:
    return User.objects.filter(tenant=tenant, role=Role.ADMIN, is_active=True).exclude(pk__in=exclude).exists()


def _deactivate(tenant: Tenant, ids: list[int], *, actor: User | None, reason: str) -> None:
    reason = " ".join(reason.split())[:DEACTIVATION_REASON_MAX]
    User.objects.filter(pk__in=ids).update(
        is_active=False,
        deactivated_at=timezone.now(),
        deactivation_reason=reason,
        # Part of the session auth hash: every session of these users ends at their next request.
        session_epoch=F("session_epoch") + 1,
    )
    audit_record_many(
        tenant=tenant,
        actor=actor,
        action="user.deactivated",
        targets=User.objects.filter(pk__in=ids),
        details={"reason": reason},
    )
    user_deactivated.send(sender=User, tenant=tenant, user_ids=ids, actor=actor)


def sign_in_account(*, tenancy_name: str | None, username: str) -> str:
    """What the lockout counts failures of: a tenant account, or an operator of Django admin."""
    if tenancy_name is None:
        return f"operator/{username.strip()}"
    return f"tenant/{tenancy_name.strip().lower()}/{username.strip().lower()}"


@dataclass(frozen=True)
class SignInAttempt:
    account: str
    client: str | None
    started_at: float


def sign_in_attempt_start(*, account: str, client: str | None) -> SignInAttempt:
    """Count a password attempt as a failure before the password is checked, or raise `Throttled` when the account
    or the client is locked out. Counted first, so a burst of parallel guesses cannot all be checked before any of
    them counts; a good password takes it back (`sign_in_attempt_succeeded`)."""
    started_at = time.time()
    throttle_take(limits=_sign_in_limits(account=account, client=client), now=started_at)
    return SignInAttempt(account=account, client=client, started_at=started_at)


def sign_in_attempt_succeeded(*, attempt: SignInAttempt) -> None:
    """The password was right: the account's failures are forgotten, the client's count forgets this attempt
    (its other failures stay: it may be guessing other accounts)."""
    account_limit, *client_limit = _sign_in_limits(account=attempt.account, client=attempt.client)
    throttle_forget(keys=[account_limit.key])
    throttle_give_back(limits=client_limit, at=attempt.started_at)


def _sign_in_limits(*, account: str, client: str | None) -> list[Limit]:
    """`client` is the address the caller counts, given explicitly: a lockout never depends on a request context."""
    window, lock = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_SECONDS
    limits = [Limit(f"sign_in:account:{account}", Rate(settings.LOGIN_FAILURE_LIMIT, window, lock))]
    key = client_key(client)
    if key:
        limits.append(Limit(f"sign_in:client:{key}", Rate(settings.LOGIN_ADDRESS_FAILURE_LIMIT, window, lock)))
    return limits


def sign_in_client_check(*, client: str | None) -> None:
    """Raise `Throttled` when the client is locked out of signing in, whichever way it signs in (a sign-in with
    Microsoft is checked here before it starts); counts nothing."""
    _account_limit, *client_limit = _sign_in_limits(account="", client=client)
    if client_limit:
        now = time.time()
        throttle_take(limits=client_limit, now=now)
        throttle_give_back(limits=client_limit, at=now)


def sign_in_client_failed(*, client: str | None) -> None:
    """A sign-in without a password failed (a refused sign-in with Microsoft): it counts against the client's lockout
    as a wrong password would."""
    _account_limit, *client_limit = _sign_in_limits(account="", client=client)
    with contextlib.suppress(Throttled):  # already locked: nothing more to count
        throttle_take(limits=client_limit)


def sign_in_success_record(*, user: User) -> None:
    """The trail's address comes from the request context; the actor is the user who just signed in."""
    audit_record(actor=user, action="user.signed_in", target=user)


class IdentityTaken(Exception):
    """The Microsoft identity or the address already belongs to another user of the tenant."""


@transaction.atomic
def user_identity_link(
    *, user: User, directory_id: str, object_id: str, actor: User | None, synced: bool = False
) -> User:
    """Link `user` to a Microsoft identity (the directory and object id Microsoft signs into tokens): the same link
    User Synchronization keys on, so a later sync finds this user instead of creating another. `synced`: the user
    becomes one User Synchronization keeps up to date (an admin confirmed a sync's conflict). Raises IdentityTaken
    when another user of the tenant holds it."""
    assert user.tenant is not None, "identities belong to tenant users"
    holder = user_by_identity(tenant=user.tenant, directory_id=directory_id, object_id=object_id)
    if holder is not None and holder.pk != user.pk:
        raise IdentityTaken()
    user.directory_tenant_id, user.directory_object_id = directory_id.lower(), object_id.lower()
    fields = ["directory_tenant_id", "directory_object_id"]
    if synced:
        user.source = UserSource.SYNCED
        fields.append("source")
    user.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="user.identity_linked",
        target=user,
        details={"directory_id": user.directory_tenant_id, "object_id": user.directory_object_id, "synced": synced},
    )
    return user


@transaction.atomic
def user_register_from_identity(
    *, tenant: Tenant, email: str, full_name: str, directory_id: str, object_id: str
) -> User:
    """A plain user who registered themselves by signing in with Microsoft, keyed on the identity; no password.
    Raises IdentityTaken when the address is another user's (never taken over by a sign-in)."""
    if User.objects.filter(tenant=tenant, email=email.strip().lower()).exists():
        raise IdentityTaken()
    user = User.objects.create_user(
        tenant=tenant,
        email=email,
        full_name=full_name,
        role=Role.USER,
        directory_tenant_id=directory_id.lower(),
        directory_object_id=object_id.lower(),
    )
    audit_record(
        tenant=tenant,
        actor=None,
        action="user.registered",
        target=user,
        details={"directory_id": user.directory_tenant_id, "object_id": user.directory_object_id, "via": "microsoft"},
    )
    return user


def user_register_by_email(*, tenant: Tenant, email: str) -> User:
    """A plain user for an unknown sender whose mail the tenant lets register them (Jobs via Email); no password.
    Not atomic on its own: the poller's batch is the transaction."""
    user = User.objects.create_user(tenant=tenant, email=email)
    audit_record(
        tenant=tenant, actor=None, action="user.registered_by_email", target=user, details={"via": "Jobs via Email"}
    )
    return user


# --- the users' statistics --------------------------------------------------------------------------------------

# ANALYZE the users and their aliases each time a run's created users reach 1,000 x 2^k (1,000, 2,000, 4,000, ...).
STATISTICS_FIRST = 1000


def statistics_due(created_before: int, created_after: int) -> bool:
    """Whether the users a run (a sync, an import) created in its last step double those it had created at the
    last ANALYZE (from 1,000).

    A first sync or a large import fills the users table far faster than autovacuum analyzes it (a minute's nap,
    then 10 % of the rows it knew): until then PostgreSQL plans a step's lookups on statistics that say the tenant
    has no users, and picks an index on the tenant alone, filtering the object ids, emails, cards or aliases over
    every user of the tenant (a sync's page 150 ms at 97,000 users; an import's batch 45 ms at 48,000: each step
    slower than the last). An ANALYZE at each doubling keeps the estimates within a factor of two: log2 of the
    run's size statements over a first sync or import, none in a delta."""
    return (created_after // STATISTICS_FIRST).bit_length() > (created_before // STATISTICS_FIRST).bit_length()


# The users' columns whose statistics choose the plans of the lookups and pages (tenant, identity, address, card,
# search, state, cost center). The others (password, username, names, PIN, dates) are filtered on by no query that
# scans; leaving them out halves an ANALYZE (0.25 s to 0.125 s at 100,000 users: sorting a 30,000-row sample of
# each text column is most of its cost). Autovacuum's own ANALYZE still takes every column later.
ANALYZED_USER_COLUMNS = (
    "tenant_id",
    "email",
    "directory_tenant_id",
    "directory_object_id",
    "card",
    "full_name_lower",
    "cost_center_id",
    "is_active",
    "role",
    "source",
)


def users_statistics_refresh() -> None:
    """ANALYZE the users (the columns the plans need) and aliases tables (a sample of 30,000 rows each whatever
    their size); after a step's commit, so the lock it takes (one ANALYZE or VACUUM of a table at a time) is not
    held while the step writes. SKIP_LOCKED: when another run or a (possibly long, anti-wraparound) vacuum holds a
    table, the step goes on without it."""
    if connection.vendor != "postgresql":
        return
    columns = ", ".join(f'"{column}"' for column in ANALYZED_USER_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE (SKIP_LOCKED) "{User._meta.db_table}" ({columns}), "{Alias._meta.db_table}"')
