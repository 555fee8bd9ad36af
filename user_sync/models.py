"""User Synchronization: a directory's users (and groups) in the Roger tenant.

`SyncSettings` is the connector of one enabled User Synchronization feature: what the admin chose, where the
change tracking stands (the delta links) and when the automatic sync is due. `SyncRun` is one sync or preview,
read page by page by short tasks (`background.claims`): its position is the next link of the last committed page,
saved in the same transaction as that page's writes, so a worker killed in the middle resumes from there and never
applies a page twice. `SyncChange` says who changed and why, `Deactivation` holds the users a run would deactivate
(pending while the safety threshold holds them, kept when an admin said so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings as django_settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from background.models import Claimable
from ui.fields import StatusField
from user_sync.choices import (
    ChangeAction,
    CostCenterMode,
    DeactivationState,
    Phase,
    RunKind,
    RunStatus,
    RunTrigger,
    SelectionMode,
)

if TYPE_CHECKING:
    from datetime import timedelta

DEFAULT_THRESHOLD_PERCENT = 10
DEFAULT_PIN_EMAIL_ASK_ABOVE = 300


class SyncSettings(Claimable):
    """The settings of one User Synchronization connector (one per feature), and its change tracking.

    As background work (`Claimable`), `next_attempt_at` is when the automatic sync is due: the first 24 hours after
    it is turned on, then every 24 hours. The settings outlive the feature (`feature` empty once the integration is
    deleted), so the users it synced stay known as "no longer synced".
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    feature = models.OneToOneField(
        "integrations.Feature", on_delete=models.SET_NULL, null=True, blank=True, related_name="user_sync"
    )
    directory_id = models.CharField("directory (tenant) id", max_length=36)
    auto_sync = models.BooleanField("synchronize automatically", default=False)
    auto_sync_since = models.DateTimeField(null=True, blank=True)
    sync_groups = models.BooleanField(default=False)
    selection_mode = models.CharField(max_length=10, choices=SelectionMode.choices, default=SelectionMode.ALL)
    selected_group_ids = models.TextField(blank=True, help_text="Directory group ids, comma-separated.")
    only_selected_members = models.BooleanField("sync only users in selected groups", default=False)
    group_attribute = models.CharField(max_length=60, blank=True, default="department")
    cost_center_mode = models.CharField(max_length=12, choices=CostCenterMode.choices, default=CostCenterMode.NONE)
    cost_center_root_group_id = models.CharField(max_length=36, blank=True)
    cost_center_attribute = models.CharField(max_length=60, blank=True, default="costCenter")
    alias_formats = models.CharField("source fields for aliases", max_length=500, blank=True)
    card_attribute = models.CharField("source field for cards", max_length=60, blank=True)
    send_pin_email = models.BooleanField(default=False)
    pin_email_ask_above = models.PositiveIntegerField(default=DEFAULT_PIN_EMAIL_ASK_ABOVE)
    include_guests = models.BooleanField(default=False)
    threshold_percent = models.PositiveSmallIntegerField(default=DEFAULT_THRESHOLD_PERCENT)
    # Change tracking: the delta links of the last round applied (or held back by the safety threshold).
    users_delta_link = models.TextField(blank=True)
    groups_delta_link = models.TextField(blank=True)
    links_held = models.BooleanField(default=False, help_text="Deactivations wait for an admin: the links stay.")
    tracked = models.JSONField(default=dict, blank=True, help_text="What the stored links track (their $select).")
    scope_digest = models.CharField(max_length=64, blank=True, help_text="The selected groups' members, last read.")
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Turned off or integration deleted then.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "sync settings"

    def __str__(self) -> str:
        return f"User Synchronization of {self.directory_id}"

    @property
    def selected_groups(self) -> list[str]:
        return [part.strip().lower() for part in self.selected_group_ids.split(",") if part.strip()]

    @property
    def groups_read(self) -> bool:
        """Whether runs read /groups/delta (groups synced, or cost centers from a root group)."""
        return (self.sync_groups and self.selection_mode != SelectionMode.ATTRIBUTE) or (
            self.cost_center_mode == CostCenterMode.ROOT_GROUP
        )

    @property
    def scoped_to_members(self) -> bool:
        return self.sync_groups and self.selection_mode == SelectionMode.SELECTED and self.only_selected_members


class SyncRun(Claimable):
    """One sync (or preview) of a connector, read one Graph page a step (a task takes steps for a turn)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    settings = models.ForeignKey(SyncSettings, on_delete=models.CASCADE, related_name="runs")
    kind = StatusField(max_length=10, choices=RunKind, default=RunKind.SYNC)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    requested_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = StatusField(max_length=10, choices=RunStatus, default=RunStatus.QUEUED)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.SCOPE)
    full_read = models.BooleanField(default=False, help_text="Read the whole directory (no delta link, or expired).")
    # Where the run stands: the next link of the last committed page (empty: the phase's first page).
    position = models.TextField(blank=True)
    new_users_link = models.TextField(blank=True)
    new_groups_link = models.TextField(blank=True)
    scope_ids = models.JSONField(default=list, blank=True, help_text="Members of the selected groups (scope).")
    groups_full_read = models.BooleanField(default=False)
    cost_center_ids = models.JSONField(default=list, blank=True, help_text="The root group's child groups.")
    groups_done = models.JSONField(default=list, blank=True, help_text="Groups a full read has started on.")
    notes = models.JSONField(default=list, blank=True, help_text="What the history says about the run.")
    error = models.TextField(blank=True)
    pages = models.PositiveIntegerField(default=0)
    graph_requests = models.PositiveIntegerField(default=0)
    users_seen = models.PositiveIntegerField(default=0)
    groups_seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    deactivated = models.PositiveIntegerField(default=0)
    reactivated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0, help_text="Deactivations held back by the safety threshold.")
    pin_emails = models.PositiveIntegerField(default=0)
    pin_emails_waiting = models.PositiveIntegerField(
        default=0, help_text="PIN emails a first sync asks an admin about before sending (more than a few hundred)."
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # One sync (or preview) per connector at a time.
            models.UniqueConstraint(
                fields=["settings"],
                condition=Q(status__in=("queued", "running", "waiting", "retrying")),
                name="user_sync_one_open_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind.label} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in RunStatus.open()

    @property
    def is_preview(self) -> bool:
        return self.kind == RunKind.PREVIEW

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def outcome(self) -> str:
        """What the run did, in a few words for the history: only the counts that are not zero."""
        counts = [
            (self.created, "created"),
            (self.updated, "updated"),
            (self.linked, "linked"),
            (self.deactivated, "deactivated"),
            (self.reactivated, "reactivated"),
            (self.held, "deactivations held"),
            (self.conflicts, "conflicts" if self.conflicts != 1 else "conflict"),
            (self.errors, "errors" if self.errors != 1 else "error"),
        ]
        said = [f"{count} {words}" for count, words in counts if count]
        if not said:
            return f"{self.unchanged} unchanged" if self.unchanged else "no changes"
        return ", ".join(said)


class SyncChange(models.Model):
    """One user a run changed (or a preview would change), and why."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="changes")
    action = StatusField(max_length=12, choices=ChangeAction)
    object_id = models.CharField(max_length=36, blank=True)
    name = models.CharField(max_length=320)
    detail = models.TextField(blank=True)
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["run", "action"])]

    def __str__(self) -> str:
        return f"{self.action.label}: {self.name}"


class SeenUser(models.Model):
    """A synced user a full read found (the others are deactivated at its end); forgotten when the run ends."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    user_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "user_id"], name="user_sync_seen_once")]

    def __str__(self) -> str:
        return f"user {self.user_id} seen by run {self.run_id}"


class Deactivation(models.Model):
    """A synced user whom the directory no longer has (removed, soft-deleted, disabled, out of scope) and who is
    not yet deactivated: a candidate during a run, pending while the safety threshold holds it, or kept by an
    admin."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    settings = models.ForeignKey(SyncSettings, on_delete=models.CASCADE, related_name="deactivations")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = StatusField(max_length=10, choices=DeactivationState, default=DeactivationState.CANDIDATE)
    reason = models.CharField(max_length=200)
    run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_by = models.CharField(max_length=320, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["settings", "user"], name="user_sync_deactivation_once")]

    def __str__(self) -> str:
        return f"{self.state.label}: {self.user}"
