"""Roger tenants (the service's customers) and their users."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.choices import Role, UserSource, UserState
from ui.fields import StatusField

tenancy_name_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9-]{1,62}$",
    "Use 2 to 63 lowercase letters, digits and hyphens, starting with a letter or digit.",
)


class Tenant(models.Model):
    """A customer of the print service ("Roger tenant"). Every portal object belongs to exactly one."""

    name = models.CharField(
        "tenancy name",
        max_length=63,
        unique=True,
        validators=[tenancy_name_validator],
        help_text="What users type on the sign-in page.",
    )
    display_name = models.CharField(max_length=200)
    allow_self_registration_by_email = models.BooleanField(
        default=False, help_text="Unknown senders of Jobs via Email become users instead of being rejected."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class UserManager(BaseUserManager["User"]):
    def create_user(self, *, tenant: Tenant | None, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(tenant=tenant, email=self.normalize_email(email).lower(), **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, email: str, password: str | None = None, **extra: Any) -> User:
        """The operator: a staff superuser who belongs to no Roger tenant and works in Django admin."""
        user = self.model(
            username=username, email=self.normalize_email(email).lower(), is_staff=True, is_superuser=True, **extra
        )
        user.set_password(password)
        user.save(using=self._db)
        return user


class DirectoryObject(models.Model):
    """A named thing of a tenant that a Microsoft directory may own: synchronized (its directory and object id
    set) or made in Roger (both blank)."""

    name = models.CharField(max_length=256)
    directory_tenant_id = models.CharField(max_length=36, blank=True)
    directory_object_id = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


def unique_directory_object(name: str) -> models.UniqueConstraint:
    """One row per directory object in a tenant (rows made in Roger have no object id and are left out)."""
    return models.UniqueConstraint(
        "tenant", "directory_tenant_id", "directory_object_id", condition=~models.Q(directory_object_id=""), name=name
    )


class Group(DirectoryObject):
    """A group of a tenant's users. Users belong through `GroupMembership`, so a sync writes memberships in bulk."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="user_groups")

    class Meta(DirectoryObject.Meta):
        constraints = [unique_directory_object("accounts_group_unique_directory_object")]
        indexes = [models.Index(fields=["tenant", "name"])]


class CostCenter(DirectoryObject):
    """Where a user's printing is charged. From the directory (a root group's child group: its ids set), by a user
    attribute's value, or made by hand (no ids: the name is unique in the tenant)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="cost_centers")

    class Meta(DirectoryObject.Meta):
        constraints = [
            unique_directory_object("accounts_costcenter_unique_directory_object"),
            models.UniqueConstraint(
                Lower("name"),
                "tenant",
                condition=models.Q(directory_object_id=""),
                name="accounts_costcenter_unique_name_without_directory",
            ),
        ]


class User(AbstractBaseUser, PermissionsMixin):
    """A person: a tenant admin or user of one Roger tenant, or the operator (no tenant)."""

    # No index of its own: every index below but the username's starts with the tenant and serves its lookups.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="users", db_index=False
    )
    # Unique sign-in key: "<tenancy>/<email>" for tenant users, free text for the operator. Unique by a constraint,
    # not `unique=True`, which adds a second (LIKE) index that no query uses and every insert keeps.
    username = models.CharField(max_length=320, editable=False)
    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    source = StatusField(max_length=10, choices=UserSource, default=UserSource.LOCAL)
    # Synced users are keyed on the Microsoft directory and object id, never on the mutable UPN or email.
    directory_tenant_id = models.CharField(max_length=36, blank=True)
    directory_object_id = models.CharField(max_length=36, blank=True)
    microsoft_reconnect_required = models.BooleanField(
        default=False, help_text="Set when the app behind the user's Microsoft connection changed."
    )
    # The printer card: unique in the tenant when set.
    card = models.CharField(max_length=100, blank=True)
    # The printer PIN, hashed like a password (`set_pin`, `check_pin`); blank when the user has none.
    pin_hash = models.CharField(max_length=128, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    # Set with is_active=False by accounts.services.user_deactivate; the reason shows on the Users page.
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivation_reason = models.CharField(max_length=200, blank=True)
    # Raised to end every session of the user at once (it is part of the session's auth hash).
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Replaces PermissionsMixin's auth groups: tenant roles, not Django permissions, decide what a user may do.
    groups: models.ManyToManyField[Group, GroupMembership] = models.ManyToManyField(  # type: ignore[assignment]
        Group, through="GroupMembership", related_name="users", blank=True
    )
    cost_center = models.ForeignKey(CostCenter, on_delete=models.SET_NULL, null=True, blank=True, related_name="users")
    # Lowercase display name for the Users page's prefix search (a column, so it takes an index on every database).
    full_name_lower = models.GeneratedField(
        expression=Lower("full_name"), output_field=models.CharField(max_length=200), db_persist=True
    )

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["username"], name="accounts_user_unique_username"),
            models.UniqueConstraint(Lower("email"), "tenant", name="accounts_user_unique_email_per_tenant"),
            models.UniqueConstraint(
                "tenant",
                "directory_tenant_id",
                "directory_object_id",
                condition=~models.Q(directory_object_id=""),
                name="accounts_user_unique_directory_object",
            ),
            models.UniqueConstraint(
                "tenant", "card", condition=~models.Q(card=""), name="accounts_user_unique_card_per_tenant"
            ),
        ]
        # The Users page: paged by email, searched by email or name prefix. `varchar_pattern_ops` lets PostgreSQL
        # use the index for LIKE 'prefix%' whatever the database collation; other databases ignore opclasses.
        indexes = [
            models.Index(fields=["tenant", "email"], name="accounts_user_tenant_email"),
            models.Index(
                fields=["tenant", "email"],
                name="accounts_user_email_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["tenant", "full_name_lower"],
                name="accounts_user_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.lower()
        if self.tenant is not None:
            self.username = f"{self.tenant.name}/{self.email}"
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_tenant_admin(self) -> bool:
        return self.tenant_id is not None and self.role == Role.ADMIN and self.is_active

    @property
    def state(self) -> UserState:
        if not self.is_active:
            return UserState.DEACTIVATED
        if self.source == UserSource.LOCAL and not self.has_usable_password():
            return UserState.INVITED
        return UserState.ACTIVE

    def set_pin(self, pin: str | None) -> None:
        """Store the printer PIN hashed (never the PIN itself); None or "" removes it."""
        self.pin_hash = make_password(pin) if pin else ""

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin_hash) and check_password(pin, self.pin_hash)

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Django's hash of the password, plus the session epoch once raised: raising it ends every session of the
        user (a deactivation), and sessions made before stay ended after a reactivation. Epoch 0 gives Django's
        own hash, so sessions from before the epoch existed stay valid."""
        if not self.session_epoch:
            return super()._get_session_auth_hash(secret=secret)  # type: ignore[misc]
        key_salt = "accounts.User.session_auth_hash"
        value = f"{self.password}:{self.session_epoch}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


class GroupMembership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="group_memberships")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="accounts_membership_once")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"


class Alias(models.Model):
    """A sign-in and lookup name of a user (e.g. "adele.vance", from the directory or typed by an admin), unique in
    the tenant whatever the case. Not an address: the addresses a user sends from are `EmailAlias`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_aliases")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    name_lower = models.GeneratedField(
        expression=Lower("name"), output_field=models.CharField(max_length=200), db_persist=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), "tenant", name="accounts_signin_alias_unique_per_tenant")]
        indexes = [
            models.Index(
                fields=["tenant", "name_lower"],
                name="accounts_alias_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        assert self.user.tenant_id is not None, "aliases belong to tenant users"
        self.tenant_id = self.user.tenant_id
        super().save(*args, **kwargs)


class EmailAlias(models.Model):
    """Another address a user sends from (used by Jobs via Email to find the job's owner)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="aliases")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), "tenant", name="accounts_alias_unique_email_per_tenant")]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.lower()
        assert self.user.tenant is not None, "aliases belong to tenant users"
        self.tenant = self.user.tenant
        super().save(*args, **kwargs)
