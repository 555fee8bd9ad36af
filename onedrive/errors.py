"""What the OneDrive feature tells its views and tasks."""

from __future__ import annotations


class OneDriveError(Exception):
    """Something a person can read: shown on the page as it is."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ReconnectNeeded(OneDriveError):
    """The user's connection waits for them (never connected, revoked, permission withdrawn): stop, ask them."""


RECONNECT_MESSAGE = "Your OneDrive connection needs you: reconnect it in My Settings > Cloud Services."
