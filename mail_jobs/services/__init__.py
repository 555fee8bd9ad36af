"""Services of Jobs via Email: writes, typed and keyword-only."""

from mail_jobs.services.polling import PollResult, mail_source_poll, mail_source_poll_request, mail_sources_polled
from mail_jobs.services.settings import mail_source_get_or_create, mail_source_save, mail_source_test_start

__all__ = [
    "PollResult",
    "mail_source_get_or_create",
    "mail_source_poll",
    "mail_source_poll_request",
    "mail_source_save",
    "mail_source_test_start",
    "mail_sources_polled",
]
