"""Microsoft integrations of a Roger tenant: app registrations, features (with consent), and sign-in flows.

Tokens are not stored here: every Microsoft credential lives in the token store (`credentials`), owned by a
feature ("feature", feature id) and bound to the feature's directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from fernet_fields import EncryptedTextField

from background.models import Claimable
from integrations.choices import (
    AppKind,
    ConsentState,
    DirectoryProof,
    FeatureStatus,
    FeatureType,
    FlowKind,
    FlowStatus,
    Provider,
    ReapplyOutcome,
    SetupMode,
)
from integrations.features import FeatureSpec, feature_spec
from integrations.operator_apps import operator_app_credentials, operator_app_name
from microsoft.config import AppCredentials
from ui.fields import StatusField


class Integration(models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.MICROSOFT)
    name = models.CharField(max_length=100)
    setup_mode = models.CharField(max_length=10, choices=SetupMode.choices)
    # The Microsoft directory (tenant GUID), lower case; blank: any organisation and personal accounts.
    directory_id = models.CharField(max_length=36, blank=True)
    # What the admin typed when it was a domain (shown beside the GUID).
    directory_domain = models.CharField(max_length=255, blank=True)
    # Who connected the directory at Select tenant (Create automatically).
    directory_connected_by = models.CharField(max_length=320, blank=True)
    # With an operator-owned app, a typed or selected directory is only a claim until one of its administrators
    # signed in (see DirectoryProof); the proof holds for `proven_directory_id` only.
    directory_proof = StatusField(max_length=20, choices=DirectoryProof, blank=True)
    proven_directory_id = models.CharField(max_length=36, blank=True)
    directory_proven_at = models.DateTimeField(null=True, blank=True)
    directory_proven_by = models.CharField(max_length=320, blank=True)
    directory_proven_role = models.CharField(max_length=100, blank=True)
    # It carries the setup from before integrations existed (see integrations.legacy).
    is_legacy = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="integration_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_automatic(self) -> bool:
        return self.setup_mode == SetupMode.AUTOMATIC

    @property
    def awaits_tenant_selection(self) -> bool:
        return self.is_automatic and not self.directory_id

    @property
    def uses_operator_app(self) -> bool:
        """Create automatically, or the legacy Application ID: apps many directories consented to, whose
        secret is ours, so a directory they name must be proven."""
        return self.is_automatic or any(app.is_operator_owned for app in self.app_registrations.all())

    def _proof_holds(self) -> bool:
        return bool(self.directory_id) and self.proven_directory_id.lower() == self.directory_id.lower()

    @property
    def directory_proven(self) -> bool:
        """Features may run and be enabled: the directory was proven (or connected before proof existed)."""
        return bool(self.directory_proof) and self._proof_holds()

    @property
    def directory_proven_by_sign_in(self) -> bool:
        """A new consent may be asked for: an administrator of the directory signed in for this integration."""
        return self.directory_proof == DirectoryProof.ADMIN_SIGN_IN and self._proof_holds()

    @property
    def needs_directory_proof(self) -> bool:
        return bool(self.directory_id) and self.uses_operator_app and not self.directory_proven

    @property
    def proven_before_rule(self) -> bool:
        return self.directory_proof == DirectoryProof.BEFORE_RULE and self._proof_holds() and self.uses_operator_app

    @property
    def proof(self) -> DirectoryProof:
        """The proof as it stands for the directory the integration has now."""
        return DirectoryProof(self.directory_proof) if self._proof_holds() else DirectoryProof.NONE


class AppRegistration(Claimable):
    """An Entra app used by an integration: an operator app (credentials in settings) or the customer's own.

    As background work (background.claims), `next_attempt_at` is when its app token's roles are read again after
    a consent whose roles had not all appeared yet; `attempts` counts those reads.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="app_registrations")
    kind = models.CharField(max_length=20, choices=AppKind.choices)
    # Operator apps: its name in integrations.operator_apps (LOGIN, USER_SYNC, ..., LEGACY).
    operator_app = models.CharField(max_length=30, blank=True)
    # Customer apps: the Application (client) ID and its secret (write-only in every form).
    customer_client_id = models.CharField(max_length=36, blank=True)
    client_secret = EncryptedTextField(blank=True)
    secret_expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.client_id})"

    @property
    def is_operator_owned(self) -> bool:
        return self.kind in (AppKind.OPERATOR_SPLIT, AppKind.LEGACY)

    @property
    def client_id(self) -> str:
        return self.credentials().client_id

    @property
    def display_name(self) -> str:
        return operator_app_name(self.operator_app) if self.is_operator_owned else "Custom application"

    def credentials(self) -> AppCredentials:
        """The app's id and secret for MSAL; operator secrets stay in settings, never in the database."""
        if self.is_operator_owned:
            return operator_app_credentials(self.operator_app)
        return AppCredentials(client_id=self.customer_client_id, client_secret=self.client_secret or None)

    def secret_lapses_on(self) -> date | None:
        return self.secret_expires_on if self.kind == AppKind.CUSTOMER else None


class Feature(models.Model):
    """One feature of an integration. Tenant and directory are copied here so the database can enforce the
    rule: per Roger tenant and Microsoft directory, at most one enabled feature of each type."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="features")
    app_registration = models.ForeignKey(AppRegistration, on_delete=models.PROTECT, related_name="features")
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    directory_id = models.CharField(max_length=36, blank=True)
    feature_type = models.CharField(max_length=20, choices=FeatureType.choices)
    enabled = models.BooleanField(default=False)
    enabled_at = models.DateTimeField(null=True, blank=True)
    consent_state = StatusField(max_length=20, choices=ConsentState, default=ConsentState.NOT_GRANTED)
    # Why consent is missing or failed, with the fix (shown on the page).
    consent_reason = models.TextField(blank=True)
    consent_error_code = models.IntegerField(null=True, blank=True)
    # What Microsoft showed was granted: delegated permissions from a token response's `scope`, application
    # permissions from the `roles` of an app-only token fetched after the consent (never the consent answer).
    granted_delegated = models.JSONField(default=list, blank=True)
    granted_application = models.JSONField(default=list, blank=True)
    # When a fresh app token's roles were last read; `roles_unreadable`: its token was opaque, so the
    # application permissions are checked when first used. Until `roles_recheck_until` a role not yet in the
    # token may still be on its way (Microsoft takes minutes), so it is rechecked, not called missing.
    roles_checked_at = models.DateTimeField(null=True, blank=True)
    roles_unreadable = models.BooleanField(default=False)
    roles_recheck_until = models.DateTimeField(null=True, blank=True)
    # Permissions Microsoft refused when they were used (a 403): the final word until the next consent.
    refused_permissions = models.JSONField(default=list, blank=True)
    consent_granted_at = models.DateTimeField(null=True, blank=True)
    consent_granted_by = models.CharField(max_length=320, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "feature_type"], name="feature_type_once_per_integration"),
            models.UniqueConstraint(
                fields=["tenant", "directory_id", "feature_type"],
                condition=Q(enabled=True),
                name="one_enabled_feature_per_directory",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration.name}: {self.spec.label}"

    @property
    def spec(self) -> FeatureSpec:
        return feature_spec(self.feature_type)

    @property
    def has_consent(self) -> bool:
        return self.consent_state in (ConsentState.GRANTED, ConsentState.PER_USER)

    @property
    def status(self) -> FeatureStatus:
        return FeatureStatus.ENABLED if self.enabled else FeatureStatus.DISABLED


class AuthorizationFlow(models.Model):
    """A round trip through Microsoft (Select tenant, Prove directory, admin consent, a user's Connect, a sign-in
    with Microsoft), kept server-side and keyed by its `state`.

    Single use, expiring, bound to the person who started it and to their browser: `browser_key_hash` is the
    hash of a random value kept in that browser's cookie (integrations.binding). Microsoft's cross-site
    form_post carries no SameSite=Lax cookie, so that callback only records the answer (`answer`, encrypted)
    and sends the browser to a finish step, where the cookie is checked before anything is redeemed or saved.
    """

    state = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=20, choices=FlowKind.choices)
    status = models.CharField(max_length=20, choices=FlowStatus.choices, default=FlowStatus.STARTED)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    # Who started it; None: an anonymous start (Login with Microsoft), bound to its browser only.
    admin = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # Set when this consent is one step of Reapply Consents.
    reapply_run = models.ForeignKey("ReapplyRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    enable_after = models.BooleanField(default=False, help_text="Enable the feature once consent is granted.")
    # MSAL's auth code flow (PKCE verifier, nonce): secret until used.
    msal_flow = EncryptedTextField(blank=True)
    # The sha256 of the browser's binding cookie, and of the key handed to the browser that delivered the answer.
    browser_key_hash = models.CharField(max_length=64, blank=True)
    answer_key_hash = models.CharField(max_length=64, blank=True)
    # Microsoft's form_post fields (the authorization code among them) until the finish step redeems them.
    answer = EncryptedTextField(blank=True)
    # The answer, kept between the callback and the admin's own confirmation request.
    result_directory_id = models.CharField(max_length=36, blank=True)
    result_username = models.CharField(max_length=320, blank=True)
    result_scopes = models.JSONField(default=list, blank=True)
    result_role = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.integration} ({self.get_status_display()})"

    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class ReapplyRun(models.Model):
    """Reapply Consents of one integration: the admin consents of its enabled features' apps, one after another.

    `app_ids` is the queue of app registrations; `results` one entry per feature as each consent comes back.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="reapply_runs")
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    app_ids = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0, help_text="How many consents have come back.")
    # [{"feature": "user_sync", "label": "User Synchronization", "ok": true, "message": "..."}]
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    stopped = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Reapply Consents of {self.integration} ({self.position} of {self.total})"

    @property
    def total(self) -> int:
        return len(self.app_ids)

    @property
    def is_open(self) -> bool:
        return self.finished_at is None

    @property
    def next_app_id(self) -> int | None:
        return int(self.app_ids[self.position]) if self.position < self.total else None

    @property
    def outcomes(self) -> list[ReapplyResult]:
        return [
            ReapplyResult(
                label=str(result["label"]),
                outcome=ReapplyOutcome.GRANTED if result["ok"] else ReapplyOutcome.NOT_GRANTED,
                message="" if result["ok"] else str(result.get("message", "")),
            )
            for result in self.results
        ]


@dataclass(frozen=True)
class ReapplyResult:
    """How one feature's consent came back in a run (a row of `ReapplyRun.results`)."""

    label: str
    outcome: ReapplyOutcome
    message: str  # why it was not granted; blank when it was
