"""What the token store reports to the layers above it, instead of calling them.

Both are sent inside the transaction that saves the credential, so a receiver's writes (a notice queued in the
outbox) commit with the new state or not at all.
"""

from django.dispatch import Signal

# A person must act on the credential, or it has been retrying for a day: `credential`, `reason` (what to say).
credential_needs_person = Signal()

# The credential works again: `credential`. What was said about it is no longer true.
credential_healthy = Signal()  # sent when it leaves another state (an active one had nothing said about it)
