"""Roger tenants (the service's customers) and their users."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.choices import Role, UserSource

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


class User(AbstractBaseUser, PermissionsMixin):
    """A person: a tenant admin or user of one Roger tenant, or the operator (no tenant)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="users")
    # Unique sign-in key: "<tenancy>/<email>" for tenant users, free text for the operator.
    username = models.CharField(max_length=320, unique=True, editable=False)
    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    source = models.CharField(max_length=10, choices=UserSource.choices, default=UserSource.LOCAL)
    # Synced users are keyed on the Microsoft directory and object id, never on the mutable UPN or email.
    directory_tenant_id = models.CharField(max_length=36, blank=True)
    directory_object_id = models.CharField(max_length=36, blank=True)
    microsoft_reconnect_required = models.BooleanField(
        default=False, help_text="Set when the app behind the user's Microsoft connection changed."
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), "tenant", name="accounts_user_unique_email_per_tenant"),
            models.UniqueConstraint(
                "tenant",
                "directory_tenant_id",
                "directory_object_id",
                condition=~models.Q(directory_object_id=""),
                name="accounts_user_unique_directory_object",
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


class AdminNotification(models.Model):
    """One email to a tenant's admins about one problem. The key makes "tell them once per problem" hold.

    `sent_at` is when the email went into the outgoing mail queue, in the same transaction as this row.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="admin_notifications")
    key = models.CharField(max_length=200, help_text="Identifies the problem, e.g. credential:12:needs_consent.")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="accounts_notification_once_per_key")]

    def __str__(self) -> str:
        return self.subject
