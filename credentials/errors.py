"""What the token store raises at its callers."""

from __future__ import annotations


class CredentialError(Exception):
    """Base of the token store's errors."""


class CredentialMismatch(CredentialError):
    """A token was asked for by someone it does not belong to: another Roger tenant, owner or directory.

    A programming or isolation error, never shown to the person as-is.
    """


class CredentialUnavailable(CredentialError):
    """The credential cannot give a token until a person acts: consent, reconnect or connect first."""

    def __init__(self, state: str, reason: str, fix_url: str = "") -> None:
        self.state = state
        self.reason = reason
        self.fix_url = fix_url
        super().__init__(reason)


class CredentialMissing(CredentialUnavailable):
    """Nothing is connected for this owner yet."""

    def __init__(self, reason: str = "There is no Microsoft connection for this yet. Connect it first.") -> None:
        super().__init__("missing", reason)
