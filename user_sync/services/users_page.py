"""One page of `/users/delta` written in bulk: a constant number of queries whatever the page holds.

Users are keyed on the identity link (directory + object id), never on a name: a renamed UPN or mail updates the
same user. A synced user's email is `mail`, else the UPN. A row that collides with another user (an address a
local user or another directory's user has, two directory users with one address) is recorded as a conflict with
the fix, and the page goes on. A full read may link an existing local user with the same address; an admin
account is never linked by a sync.

Removed, soft-deleted, disabled and out-of-scope users are not deactivated here: they become candidates
(`Deactivation`), which the end of the run applies or holds back (the safety threshold).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.choices import Role, UserSource
from accounts.selectors import (
    alias_list,
    aliases_of_users,
    cost_centers_named,
    directory_groups,
    memberships_of_users,
    user_list,
    users_by_identities_and_emails,
)
from accounts.services.bulk import (
    aliases_replace,
    attribute_groups_create,
    cost_centers_create,
    memberships_delete,
    memberships_insert,
    user_unsaved,
    users_insert,
    users_update,
)
from audit.services import audit_record_many
from microsoft.graph import removed_reason
from user_sync import attributes
from user_sync.choices import ChangeAction, CostCenterMode, DeactivationState, SelectionMode
from user_sync.models import Deactivation, SeenUser, SyncChange, SyncRun, SyncSettings
from user_sync.services import people

if TYPE_CHECKING:
    from accounts.models import User

# At most this many "created" rows per run are kept for its details (a first sync of 100,000 users shows counts).
CREATED_DETAILS_LIMIT = 1000
GUEST = "Guest"


@dataclass
class PageCounts:
    users: int = 0
    created: int = 0
    updated: int = 0
    linked: int = 0
    reactivated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    errors: int = 0
    deactivate: int = 0  # candidates found on this page (a preview: would be deactivated)
    changes: list[SyncChange] = field(default_factory=list)


@dataclass(slots=True)
class _NewUser:
    """A user a page creates, as the values that differ from one new user to the next (no model per new user: a
    page of 200 of them spent more in building and preparing models than in its INSERT)."""

    object_id: str
    email: str
    full_name: str
    card: str
    pk: int | None = None

    def user(self, tenant: Any, directory: str) -> User:
        """The created user as a model (only for writing its aliases, cost center or attribute groups)."""
        return user_unsaved(
            pk=self.pk,
            tenant=tenant,
            email=self.email,
            full_name=self.full_name,
            card=self.card,
            source=UserSource.SYNCED,
            directory_tenant_id=directory,
            directory_object_id=self.object_id,
        )


def unusable_passwords(count: int) -> list[str]:
    """`count` unusable passwords, each as `set_unusable_password` makes one (the prefix and 40 random characters:
    30 random bytes in URL-safe base64), from one read of the system's randomness for all of them rather than one a
    user (`secrets.token_urlsafe`: 1 s of a 100,000-user sync under the profiler)."""
    text = base64.urlsafe_b64encode(secrets.token_bytes(30 * count)).decode()
    return [UNUSABLE_PASSWORD_PREFIX + text[start : start + 40] for start in range(0, 40 * count, 40)]


def _email_of(item: Mapping[str, Any]) -> str | None:
    """`mail`, else the UPN; None when the page does not carry either (a change of other properties)."""
    if "mail" not in item and "userPrincipalName" not in item:
        return None
    return str(item.get("mail") or item.get("userPrincipalName") or "").strip().lower()


def _name_of(item: Mapping[str, Any], fallback: str) -> str:
    return str(item.get("displayName") or fallback)[:200]


def _linkable(user: User) -> bool:
    """A plain local user whom a full read may link: no identity yet, not an admin."""
    return user.source == UserSource.LOCAL and not user.directory_object_id and user.role != Role.ADMIN


def _describe(user: User) -> str:
    if user.source == UserSource.SYNCED and user.directory_tenant_id:
        return f"{user.email} (synchronized from directory {user.directory_tenant_id})"
    if user.directory_object_id:
        return f"{user.email} (linked to directory {user.directory_tenant_id})"
    return f"{user.email} (a local user)"


class _Page:
    def __init__(self, run: SyncRun, settings: SyncSettings, items: Iterable[Mapping[str, Any]]) -> None:
        self.run, self.settings = run, settings
        self.items = [item for item in items if item.get("id")]
        self.tenant = run.tenant
        self.directory = settings.directory_id
        self.preview = run.is_preview
        self.counts = PageCounts(users=len(self.items))
        self.scope = frozenset(run.scope_ids) if settings.scoped_to_members else None
        self.creates: list[_NewUser] = []
        self.updates: dict[int, User] = {}
        self.reactivate: list[User] = []
        self.candidates: dict[int, str] = {}
        self.back: list[int] = []
        self.seen: list[int] = []
        self.claimed: dict[str, str] = {}  # address -> object id, taken on this page
        self.detail_room = max(0, CREATED_DETAILS_LIMIT - run.created)
        self.formats = attributes.alias_formats_parse(settings.alias_formats) if settings.alias_formats else []
        self.card_attribute = settings.card_attribute
        self.cost_center_attribute = (
            settings.cost_center_attribute if settings.cost_center_mode == CostCenterMode.ATTRIBUTE else ""
        )
        self.group_attribute = (
            settings.group_attribute
            if settings.sync_groups and settings.selection_mode == SelectionMode.ATTRIBUTE
            else ""
        )
        # Users present on this page (created, linked or known) with their Graph item: aliases, cost centers and
        # attribute groups are written for them once their rows exist.
        self.present: list[tuple[User | _NewUser, Mapping[str, Any]]] = []
        self.present_users: list[tuple[User, Mapping[str, Any]]] = []  # the same, as models (write_attributes)

    def load(self) -> None:
        ids = [str(item["id"]).lower() for item in self.items]
        wanted = {email for item in self.items if (email := _email_of(item))}
        identified, addressed = users_by_identities_and_emails(
            tenant=self.tenant,
            directory_id=self.directory,
            object_ids=ids,
            emails=wanted,
            cost_centers=bool(self.cost_center_attribute),  # attributes_said reads a known user's cost center
        )
        self.existing = {u.directory_object_id.lower(): u for u in identified}
        self.owners = {u.email: u for u in addressed}
        cards = {self.card_of(item) for item in self.items} - {None, ""}
        self.card_owners = (
            dict(user_list(tenant=self.tenant).filter(card__in=cards).values_list("card", "pk")) if cards else {}
        )
        # Addresses that users of this page give up (so another user of the page may take them: a swap).
        self.leaving: dict[str, int] = {}
        for item in self.items:
            user = self.existing.get(str(item["id"]).lower())
            email = _email_of(item)
            if user is not None and email and email != user.email:
                self.leaving[user.email] = user.pk

    def card_of(self, item: Mapping[str, Any]) -> str | None:
        """The card the directory gives ("" for none); None when the page does not carry the attribute."""
        if not self.card_attribute or attributes.graph_property(self.card_attribute) not in item:
            return None
        return attributes.value_of(item, self.card_attribute)[:100]

    def card_for(self, user: User | None, item: Mapping[str, Any], object_id: str, name: str) -> str | None:
        """The card to give the user (None: leave it); a card another user holds is a conflict."""
        card = self.card_of(item)
        if card is None or (user is not None and card == user.card):
            return None
        holder = self.card_owners.get(card) if card else None
        if holder is not None and (user is None or holder != user.pk):
            self.conflict(
                object_id,
                name,
                f"The card {card} is already another user's card. Fix: correct the directory attribute "
                f"{self.card_attribute} of one of them.",
                user,
            )
            return None
        if card:
            self.card_owners[card] = user.pk if user is not None else -1
        return card

    def change(
        self, action: ChangeAction, object_id: str, name: str, detail: str = "", user: User | None = None
    ) -> None:
        self.counts.changes.append(
            SyncChange(
                run=self.run,
                action=action,
                object_id=object_id,
                name=name[:320],
                detail=detail,
                user=user if user is not None and user.pk else None,
            )
        )

    def conflict(self, object_id: str, name: str, detail: str, user: User | None = None) -> None:
        self.counts.conflicts += 1
        self.change(ChangeAction.CONFLICT, object_id, name, detail, user)

    def candidate(self, user: User, reason: str) -> None:
        if not user.is_active or user.source != UserSource.SYNCED:
            return
        self.counts.deactivate += 1
        self.candidates[user.pk] = reason
        if self.preview:
            self.change(
                ChangeAction.DEACTIVATED, user.directory_object_id, str(user), f"Would be deactivated: {reason}.", user
            )

    def address_free(self, email: str, object_id: str, for_user: User | None) -> User | None:
        """None when `email` can be given to the user; else who holds it."""
        taker = self.claimed.get(email)
        if taker is not None and taker != object_id:
            return for_user or user_unsaved(email=email, full_name="another user of the directory on the same page")
        owner = self.owners.get(email)
        if owner is None or (for_user is not None and owner.pk == for_user.pk):
            return None
        if self.leaving.get(email) == owner.pk:
            return None  # its holder moves to another address on this page
        return owner

    def out_of_scope(self, item: Mapping[str, Any], object_id: str) -> str:
        if item.get("userType") == GUEST and not self.settings.include_guests:
            return "a guest (guests are synchronized only when the settings say so)"
        if self.scope is not None and object_id not in self.scope:
            return "not a member of the selected groups"
        return ""

    # --- one item -----------------------------------------------------------------------------------------------

    def apply(self, item: Mapping[str, Any]) -> None:
        object_id = str(item["id"]).lower()
        user = self.existing.get(object_id)
        reason = removed_reason(item)
        if reason is not None:
            if user is not None:
                why = "deleted in the directory" if reason == "deleted" else "deleted in the directory (restorable)"
                self.candidate(user, why)
            return
        if user is None:
            self.new(item, object_id)
        else:
            self.known(item, object_id, user)

    def new(self, item: Mapping[str, Any], object_id: str) -> None:
        if self.out_of_scope(item, object_id) or item.get("accountEnabled") is False:
            return  # nothing to create
        email = _email_of(item)
        name = _name_of(item, email or object_id)
        if not email:
            self.counts.errors += 1
            self.change(ChangeAction.CONFLICT, object_id, name, "The directory gave neither a mail address nor a UPN.")
            self.counts.conflicts += 1
            return
        holder = self.address_free(email, object_id, None)
        if holder is not None:
            if holder.pk and _linkable(holder) and self.run.full_read:
                self.link(holder, item, object_id, email)
                return
            if holder.pk and holder.role == Role.ADMIN and not holder.directory_object_id:
                self.conflict(
                    object_id,
                    name,
                    f"{email} is a Roger admin account: a sync never links an admin account. Fix: link it on "
                    "Administration > Users, or give the directory user another mail address.",
                    holder,
                )
                return
            self.conflict(
                object_id,
                name,
                f"{email} is already used by {_describe(holder)}. Fix: change the address of one of them; the "
                "next sync creates the user.",
                holder if holder.pk else None,
            )
            return
        self.claimed[email] = object_id
        card = self.card_for(None, item, object_id, name) or ""
        user = _NewUser(object_id=object_id, email=email, full_name=name, card=card)
        self.creates.append(user)
        self.present.append((user, item))
        self.counts.created += 1
        if self.detail_room > 0 or self.preview:
            self.detail_room -= 1
            self.change(ChangeAction.CREATED, object_id, f"{name} <{email}>", "New in the directory.")

    def link(self, user: User, item: Mapping[str, Any], object_id: str, email: str) -> None:
        self.claimed[email] = object_id
        user.directory_tenant_id, user.directory_object_id = self.directory, object_id
        user.source = UserSource.SYNCED
        user.full_name = _name_of(item, user.full_name or email)
        card = self.card_for(user, item, object_id, str(user))
        if card is not None:
            user.card = card
        self.updates[user.pk] = user
        self.present.append((user, item))
        self.seen.append(user.pk)
        self.counts.linked += 1
        self.change(
            ChangeAction.LINKED,
            object_id,
            f"{user.full_name} <{email}>",
            "An existing local user with the same address is now synchronized from the directory.",
            user,
        )

    def known(self, item: Mapping[str, Any], object_id: str, user: User) -> None:
        self.seen.append(user.pk)
        linked_now = user.source != UserSource.SYNCED
        if user.source != UserSource.SYNCED:
            if user.role == Role.ADMIN:
                # An admin linked by a sign-in: a sync never changes an admin account without an admin's word.
                self.counts.unchanged += 1
                return
            # Linked by Login with Microsoft or by an admin: the same identity, now kept up to date by the sync.
            user.source = UserSource.SYNCED
            self.updates[user.pk] = user
            self.counts.linked += 1
            self.change(
                ChangeAction.LINKED,
                object_id,
                str(user),
                "A user already linked to this directory identity is now synchronized from the directory.",
                user,
            )
        outside = self.out_of_scope(item, object_id)
        if outside:
            self.candidate(user, outside)
            return
        said: list[str] = []
        email = _email_of(item)
        if email and email != user.email:
            holder = self.address_free(email, object_id, user)
            if holder is not None:
                self.conflict(
                    object_id,
                    str(user),
                    f"The directory changed the address to {email}, which {_describe(holder)} uses. Fix: change "
                    "one of the addresses; the user keeps the old one until then.",
                    user,
                )
            else:
                self.claimed[email] = object_id
                said.append(f"address {user.email} → {email}")
                user.email, user.username = email, f"{self.tenant.name}/{email}"
        name = item.get("displayName")
        if name is not None and str(name)[:200] != user.full_name:
            said.append(f"name “{user.full_name}” → “{name}”")
            user.full_name = str(name)[:200]
        card = self.card_for(user, item, object_id, str(user))
        if card is not None:
            said.append(f"card {user.card or '(none)'} → {card or '(none)'}")
            user.card = card
        said += self.attributes_said(user, item)
        self.present.append((user, item))
        enabled = item.get("accountEnabled")
        if enabled is False:
            self.candidate(user, "disabled in the directory")
        else:
            self.back.append(user.pk)
            if enabled is True and people.deactivated_by_sync(user):
                self.reactivate.append(user)
                self.counts.reactivated += 1
                self.change(ChangeAction.REACTIVATED, object_id, str(user), "Active in the directory again.", user)
        if said:
            self.updates[user.pk] = user
            self.counts.updated += 1
            self.change(ChangeAction.UPDATED, object_id, str(user), "; ".join(said), user)
        elif not linked_now and (enabled is not True or not people.deactivated_by_sync(user)):
            self.counts.unchanged += 1

    # --- the writes ---------------------------------------------------------------------------------------------

    def write(self) -> None:
        if self.preview:
            if self.run.full_read:
                SeenUser.objects.bulk_create(
                    [SeenUser(run=self.run, user_id=pk) for pk in self.seen], ignore_conflicts=True
                )
            SyncChange.objects.bulk_create(self.counts.changes)
            return
        swapping = [u for u in self.updates.values() if self.leaving.get(u.email) not in (None, u.pk)]
        if swapping:  # free the addresses first: the unique index must hold after each statement
            placeholders = [
                user_unsaved(pk=u.pk, email=f"{u.pk}.moving@invalid", username=f"{u.pk}.moving@invalid")
                for u in swapping
            ]
            users_update(placeholders, ["email", "username"])
        if self.creates:  # seen by this run: made after it started (not_seen_candidates)
            template = user_unsaved(tenant=self.tenant, source=UserSource.SYNCED, directory_tenant_id=self.directory)
            pks = users_insert(
                template,
                {
                    "email": [u.email for u in self.creates],
                    "username": [f"{self.tenant.name}/{u.email}" for u in self.creates],
                    "full_name": [u.full_name for u in self.creates],
                    "directory_object_id": [u.object_id for u in self.creates],
                    "card": [u.card for u in self.creates],
                    # Signs in with Microsoft.
                    "password": unusable_passwords(len(self.creates)),
                },
            )
            for user, pk in zip(self.creates, pks, strict=True):
                user.pk = pk
        if self.updates:
            users_update(
                list(self.updates.values()),
                ["email", "username", "full_name", "source", "directory_tenant_id", "directory_object_id", "card"],
            )
        linked = [c.user for c in self.counts.changes if c.action == ChangeAction.LINKED and c.user is not None]
        if linked:  # a user the sync takes over: in the audit trail (creates and updates are in the run's details)
            audit_record_many(
                tenant=self.tenant,
                actor=None,
                action="user_sync.user_linked",
                targets=linked,
                details={"run": self.run.pk, "directory_id": self.directory},
            )
        if self.reactivate:
            people.users_reactivate(users=self.reactivate)
        if self.back:
            Deactivation.objects.filter(settings=self.settings, user_id__in=self.back).delete()
        if self.candidates:
            Deactivation.objects.bulk_create(
                [
                    Deactivation(
                        tenant=self.tenant,
                        settings=self.settings,
                        user_id=pk,
                        reason=reason,
                        run=self.run,
                        state=DeactivationState.CANDIDATE,
                    )
                    for pk, reason in self.candidates.items()
                ],
                ignore_conflicts=True,  # already pending or kept: it stays so
            )
        if self.run.full_read and self.seen:
            SeenUser.objects.bulk_create(
                [SeenUser(run=self.run, user_id=pk) for pk in self.seen], ignore_conflicts=True
            )
        if self.present:
            self.write_attributes()
        for change in self.counts.changes:  # the users created on this page now have their pk
            if change.user is not None and change.user_id is None:
                change.user_id = change.user.pk
        created_by_id = {u.object_id: u.pk for u in self.creates}
        for change in self.counts.changes:
            if change.action == ChangeAction.CREATED and change.user_id is None:
                change.user_id = created_by_id.get(change.object_id)
        SyncChange.objects.bulk_create(self.counts.changes)

    # --- aliases, cost centers and groups from user attributes (a constant number of queries) -------------------

    def attributes_said(self, user: User, item: Mapping[str, Any]) -> list[str]:
        """What changes for a known user besides the user row (for the run's details)."""
        said = []
        if self.cost_center_attribute and attributes.graph_property(self.cost_center_attribute) in item:
            name = attributes.value_of(item, self.cost_center_attribute)
            current = user.cost_center.name if user.cost_center is not None else ""
            if name.lower() != current.lower():
                said.append(f"cost center “{current}” → “{name}”")
        return said

    def write_attributes(self) -> None:
        if not (self.formats or self.cost_center_attribute or self.group_attribute):
            return
        self.present_users = [
            (user.user(self.tenant, self.directory) if isinstance(user, _NewUser) else user, item)
            for user, item in self.present
        ]
        if self.formats:
            self.write_aliases()
        if self.cost_center_attribute:
            self.write_cost_centers()
        if self.group_attribute:
            self.write_attribute_groups()

    def write_aliases(self) -> None:
        prop_names = {attributes.graph_property(n) for n in attributes.alias_fields(self.settings.alias_formats)}
        wanted: dict[int, list[str]] = {}
        for user, item in self.present_users:
            if prop_names & set(item):
                wanted[user.pk] = attributes.aliases_of(item, self.formats)
        if not wanted:
            return
        names = {name for aliases in wanted.values() for name in aliases}
        taken = dict(
            alias_list(tenant=self.tenant)
            .annotate(lowered=Lower("name"))
            .filter(lowered__in=names)
            .values_list("lowered", "user_id")
        )
        current: dict[int, dict[str, int]] = {}
        for pk, user_id, name in aliases_of_users(user_ids=wanted).values_list("pk", "user_id", "name"):
            current.setdefault(user_id, {})[name.lower()] = pk
        stale: list[int] = []
        new: list[tuple[int, str]] = []
        users = {user.pk: user for user, _ in self.present_users}
        for user_id, aliases in wanted.items():
            have = current.get(user_id, {})
            stale += [pk for name, pk in have.items() if name not in aliases]
            for alias in aliases:
                if alias in have:
                    continue
                holder = taken.get(alias)
                if holder is not None and holder != user_id:
                    user = users[user_id]
                    self.conflict(
                        user.directory_object_id,
                        str(user),
                        f"The alias {alias} is another user's. Fix: change the directory attributes it is made "
                        "of, or the other user's alias.",
                        user,
                    )
                    continue
                taken[alias] = user_id
                new.append((user_id, alias))
        aliases_replace(tenant=self.tenant, stale=stale, new=new)

    def present_values(self, attribute: str) -> dict[int, str]:
        """Each user of the page whose item carries `attribute` (a delta page leaves out what did not change), with
        its value cut to a name's length."""
        prop = attributes.graph_property(attribute)
        return {
            user.pk: attributes.value_of(item, attribute)[:256] for user, item in self.present_users if prop in item
        }

    def write_cost_centers(self) -> None:
        wanted = self.present_values(self.cost_center_attribute)
        names = {name for name in wanted.values() if name}
        if not wanted:
            return
        existing = cost_centers_named(tenant=self.tenant, names=names)
        missing = [name for name in names if name.lower() not in existing]
        if missing:
            cost_centers_create(tenant=self.tenant, names=missing)
            existing = cost_centers_named(tenant=self.tenant, names=names)
        users = {user.pk: user for user, _ in self.present_users}
        changed = []
        for pk, name in wanted.items():
            target = existing.get(name.lower()) if name else None
            if users[pk].cost_center_id != target:
                users[pk].cost_center_id = target
                changed.append(users[pk])
        if changed:
            users_update(changed, ["cost_center"])

    def write_attribute_groups(self) -> None:
        wanted = self.present_values(self.group_attribute)
        if not wanted:
            return
        keys = {name: attribute_group_key(self.group_attribute, name) for name in set(wanted.values()) if name}
        groups = dict(
            directory_groups(tenant=self.tenant, directory_id=self.directory, object_ids=keys.values())
            .exclude(directory_object_id="")
            .values_list("directory_object_id", "pk")
        )
        missing = [name for name, key in keys.items() if key not in groups]
        if missing:
            attribute_groups_create(
                tenant=self.tenant, directory_id=self.directory, names={name: keys[name] for name in missing}
            )
            groups = dict(
                directory_groups(tenant=self.tenant, directory_id=self.directory, object_ids=keys.values()).values_list(
                    "directory_object_id", "pk"
                )
            )
        target = {pk: groups.get(keys.get(name, "")) for pk, name in wanted.items()}
        stale = []
        have = set()
        for pk, user_id, group_id in memberships_of_users(
            user_ids=wanted, directory_id=self.directory, object_id_prefix=ATTRIBUTE_GROUP_PREFIX
        ).values_list("pk", "user_id", "group_id"):
            if target.get(user_id) == group_id:
                have.add(user_id)
            else:
                stale.append(pk)
        if stale:
            memberships_delete(ids=stale)
        memberships_insert(
            [
                (group_id, user_id)
                for user_id, group_id in target.items()
                if group_id is not None and user_id not in have
            ]
        )


ATTRIBUTE_GROUP_PREFIX = "attr-"


def attribute_group_key(attribute: str, value: str) -> str:
    """The id of a group made from a user attribute's value (36 characters, like a directory object id)."""
    digest = hashlib.sha256(f"{attribute}\n{value.lower()}".encode()).hexdigest()
    return f"{ATTRIBUTE_GROUP_PREFIX}{digest[:31]}"


def users_page_apply(*, run: SyncRun, settings: SyncSettings, items: Iterable[Mapping[str, Any]]) -> PageCounts:
    """Apply (or, in a preview, only describe) one page of users; the run's counters are the caller's to add."""
    page = _Page(run, settings, items)
    page.load()
    for item in page.items:
        page.apply(item)
    page.write()
    return page.counts


def not_seen_candidates(*, run: SyncRun, settings: SyncSettings) -> Q:
    """Synced users a full read did not find (removed while no delta link was kept, or out of scope now). Users
    this run created are not listed as seen: they joined after it started."""
    return ~Q(pk__in=SeenUser.objects.filter(run=run).values("user_id")) & Q(date_joined__lt=run.started_at)
