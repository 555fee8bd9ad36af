from django.db import models


class Refusal(models.TextChoices):
    """Why a sign-in with Microsoft let nobody in (the refusal page and the audit trail say it)."""

    CANCELLED = "cancelled", "The sign-in was cancelled"
    NOT_CONSENTED = "not_consented", "Login with Microsoft is not consented in the directory"
    OTHER_DIRECTORY = "other_directory", "An account of another Microsoft directory"
    PERSONAL_ACCOUNT = "personal_account", "A personal Microsoft account"
    UNKNOWN_USER = "unknown_user", "No Roger user has this Microsoft account"
    DEACTIVATED = "deactivated", "The Roger user is deactivated"
    ADDRESS_TAKEN = "address_taken", "Another Roger user has this address"
    UNVERIFIED_EMAIL = "unverified_email", "Microsoft did not verify the account's email address"
    UNAVAILABLE = "unavailable", "Login with Microsoft is not available"
    FAILED = "failed", "Microsoft refused the sign-in"
    OTHER_BROWSER = "other_browser", "The answer reached another browser than the one that started the sign-in"
