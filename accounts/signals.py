"""What other apps follow about users without accounts importing them.

Both are sent inside the transaction that changed the users, so a receiver's writes commit or roll back with it.
Keyword arguments: `tenant` (the users' Roger tenant), `user_ids` (a list of ints, never empty) and `actor` (the
admin who acted, None for the system, e.g. User Synchronization).

- `user_deactivated`: the users can no longer sign in and their sessions have ended. Receivers stop what the users
  had running (print_jobs holds their waiting jobs, onedrive forgets their OneDrive connection); history is kept.
- `user_reactivated`: the users can sign in again. Receivers release what they held.
"""

from django.dispatch import Signal

user_deactivated = Signal()
user_reactivated = Signal()
