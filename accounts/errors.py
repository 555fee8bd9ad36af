class LastAdminError(Exception):
    """The change would leave a Roger tenant without an active admin. The message says what to do instead."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "This is the tenant's last active admin: make another user an admin first, then try again."
        )
