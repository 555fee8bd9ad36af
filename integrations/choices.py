"""The enumerations of Microsoft integrations."""

from __future__ import annotations

from django.db import models


class Provider(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft"


class SetupMode(models.TextChoices):
    AUTOMATIC = "automatic", "Created automatically"
    MANUAL = "manual", "Set up manually"


class AppKind(models.TextChoices):
    # One operator-owned app per feature (split applications, "Create automatically").
    OPERATOR_SPLIT = "operator_split", "Operator split application"
    # The customer's own app registration (custom application, "Set up manually").
    CUSTOMER = "customer", "Custom application"
    # The operator's app from before integrations existed, kept for tenants that used it.
    LEGACY = "legacy", "Legacy application"


class FeatureType(models.TextChoices):
    LOGIN = "login", "Login"
    USER_SYNC = "user_sync", "User Synchronization"
    UNIVERSAL_PRINT = "universal_print", "Universal Print"
    ONEDRIVE = "onedrive", "OneDrive"


class ConsentState(models.TextChoices):
    NOT_GRANTED = "not_granted", "Needs consent"
    GRANTED = "granted", "Consent granted"
    # Without a directory there is no admin consent: each user consents when they sign in.
    PER_USER = "per_user", "Each user consents"
    NEEDS_CONSENT = "needs_consent", "Needs consent again"
    ERROR = "error", "Error"


class DirectoryProof(models.TextChoices):
    """How the integration's directory was shown to belong to this Roger tenant (operator-owned apps only)."""

    NONE = "", "Not proven"
    # An administrator of the directory signed in (validated id token: `tid`, an administrator role in `wids`).
    ADMIN_SIGN_IN = "admin_sign_in", "An administrator of the directory signed in"
    # The integration existed before the portal asked for proof: it keeps working, new consents ask for it.
    BEFORE_RULE = "before_rule", "Connected before proof was required"


class FlowKind(models.TextChoices):
    SELECT_TENANT = "select_tenant", "Select tenant"
    PROVE_DIRECTORY = "prove_directory", "Prove directory"
    ADMIN_CONSENT = "admin_consent", "Admin consent"
    USER_CONNECT = "user_connect", "A user connects OneDrive"

    @classmethod
    def sign_ins(cls) -> tuple[str, ...]:
        """The flows Microsoft answers with a sign-in (an authorization code), by form_post."""
        return (cls.SELECT_TENANT, cls.PROVE_DIRECTORY, cls.USER_CONNECT)


class FlowStatus(models.TextChoices):
    STARTED = "started", "Started"
    ANSWERED = "answered", "Answered by Microsoft"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
