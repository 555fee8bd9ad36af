"""Background work: claim a row, do its work, release it; one sweep queues again whatever was lost.

Each kind of work (a credential refresh, a device code poll, an outgoing message, a mailbox poll) keeps its
state in its own rows, which carry the fields of `background.models.Claimable`. See `background.claims` for
the claim and `background.kinds` for registering a kind with the sweep.
"""
