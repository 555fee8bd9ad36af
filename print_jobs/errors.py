"""What print_jobs services refuse, with a message for the person."""

from __future__ import annotations


class QueueNameTaken(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
