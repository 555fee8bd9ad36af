"""The words of User Synchronization, each state with the colour of its badge."""

from __future__ import annotations

from django.db import models

from ui.choices import BadgeChoices, Colour


class SelectionMode(models.TextChoices):
    SELECTED = "selected", "Selected groups"
    ATTRIBUTE = "attribute", "From user attribute"
    ALL = "all", "All"


class CostCenterMode(models.TextChoices):
    NONE = "none", "None"
    ROOT_GROUP = "root_group", "From root group"
    ATTRIBUTE = "attribute", "Cost centers by attribute"


class RunKind(BadgeChoices):
    SYNC = "sync", "Sync", Colour.NEUTRAL
    PREVIEW = "preview", "Preview", Colour.INFO


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Sync now"
    AUTOMATIC = "automatic", "Automatic"


class RunStatus(BadgeChoices):
    QUEUED = "queued", "Queued", Colour.INFO
    RUNNING = "running", "Running", Colour.INFO
    WAITING = "waiting", "Microsoft asked Roger to wait", Colour.INFO
    RETRYING = "retrying", "Retrying", Colour.WARN
    SUCCEEDED = "succeeded", "Done", Colour.OK
    HELD = "held", "Done, deactivations held", Colour.WARN
    FAILED = "failed", "Failed", Colour.ERROR

    @classmethod
    def open(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING, cls.WAITING, cls.RETRYING)


class Phase(models.TextChoices):
    SCOPE = "scope", "Reading the selected groups"
    GROUPS = "groups", "Reading groups"
    USERS = "users", "Reading users"
    FINISHING = "finishing", "Finishing"
    DONE = "done", "Done"


class ChangeAction(BadgeChoices):
    """What a run did (or, in a preview, would do) to one user."""

    CREATED = "created", "Created", Colour.OK
    UPDATED = "updated", "Updated", Colour.INFO
    LINKED = "linked", "Linked", Colour.INFO
    DEACTIVATED = "deactivated", "Deactivated", Colour.WARN
    REACTIVATED = "reactivated", "Reactivated", Colour.OK
    HELD = "held", "Deactivation held", Colour.WARN
    CONFLICT = "conflict", "Conflict", Colour.ERROR


class DeactivationState(BadgeChoices):
    CANDIDATE = "candidate", "To deactivate", Colour.INFO
    PENDING = "pending", "Held: waits for an admin", Colour.WARN
    KEPT = "kept", "Kept active", Colour.NEUTRAL
