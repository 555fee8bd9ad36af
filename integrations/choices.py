"""The enumerations of Microsoft integrations."""

from __future__ import annotations

from django.db import models

from ui.choices import BadgeChoices, Colour


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


class FeatureStatus(BadgeChoices):
    ENABLED = "enabled", "Enabled", Colour.OK
    DISABLED = "disabled", "Disabled"


class ConsentState(BadgeChoices):
    NOT_GRANTED = "not_granted", "Needs consent", Colour.WARN
    GRANTED = "granted", "Consent granted", Colour.OK
    # Without a directory there is no admin consent: each user consents when they sign in.
    PER_USER = "per_user", "Each user consents", Colour.INFO
    NEEDS_CONSENT = "needs_consent", "Needs consent again", Colour.WARN
    ERROR = "error", "Error", Colour.ERROR


class DirectoryProof(BadgeChoices):
    """How the integration's directory was shown to belong to this Roger tenant (operator-owned apps only)."""

    NONE = "", "Not proven", Colour.WARN
    # An administrator of the directory signed in (validated id token: `tid`, an administrator role in `wids`).
    ADMIN_SIGN_IN = "admin_sign_in", "Proven", Colour.OK
    # The integration existed before the portal asked for proof: it keeps working, new consents ask for it.
    BEFORE_RULE = "before_rule", "Connected before proof was required", Colour.WARN


class PermissionStatus(BadgeChoices):
    """What Microsoft showed of one permission a feature needs."""

    NEEDED = "needed", "Needed"  # no consent yet
    GRANTED = "granted", "Granted", Colour.OK  # seen in a token Microsoft issued
    APPEARING = "appearing", "Appearing", Colour.INFO  # consented, not in the app token yet: Microsoft takes minutes
    FIRST_USE = "first_use", "Checked on first use"  # nothing readable says either way: the first use tells
    MISSING = "missing", "Missing", Colour.ERROR  # absent from a fresh app token after the wait, or refused when used


class ReapplyOutcome(BadgeChoices):
    """How one feature's consent came back during Reapply Consents."""

    GRANTED = "granted", "Consent granted", Colour.OK
    NOT_GRANTED = "not_granted", "Not granted", Colour.ERROR


class FlowKind(models.TextChoices):
    SELECT_TENANT = "select_tenant", "Select tenant"
    PROVE_DIRECTORY = "prove_directory", "Prove directory"
    ADMIN_CONSENT = "admin_consent", "Admin consent"
    USER_CONNECT = "user_connect", "A user connects OneDrive"
    # A Printer Administrator signs in to the Universal Print feature's app to turn printers on or off.
    PRINTER_ADMIN = "printer_admin", "Printer Administrator sign-in"
    # Login with Microsoft: someone not signed in yet signs in to the portal (the flow has no person, only a browser).
    MICROSOFT_SIGN_IN = "microsoft_sign_in", "Sign-in with Microsoft"
    # A signed-in user links their Microsoft account to their Roger account (My Settings).
    MICROSOFT_LINK = "microsoft_link", "A user links their Microsoft account"

    @classmethod
    def sign_ins(cls) -> tuple[str, ...]:
        """The flows Microsoft answers with a sign-in (an authorization code), by form_post."""
        return (
            cls.SELECT_TENANT,
            cls.PROVE_DIRECTORY,
            cls.USER_CONNECT,
            cls.PRINTER_ADMIN,
            cls.MICROSOFT_SIGN_IN,
            cls.MICROSOFT_LINK,
        )

    @classmethod
    def for_anyone(cls) -> tuple[str, ...]:
        """Flows any user (not only a tenant admin) may finish: about their own account."""
        return (cls.USER_CONNECT, cls.MICROSOFT_LINK)


class FlowStatus(models.TextChoices):
    STARTED = "started", "Started"
    ANSWERED = "answered", "Answered by Microsoft"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
