"""Administration > User Synchronization: thin views. Saving the settings asks the directory once (are the typed
group ids groups there?); Sync now and Preview queue background work, and the status follows it live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from credentials.errors import CredentialError
from microsoft import errors as microsoft_errors
from ui.live import Live, live_response, version_of
from user_sync import selectors
from user_sync.choices import ChangeAction, RunKind
from user_sync.forms import SyncSettingsForm
from user_sync.models import SyncSettings
from user_sync.services.connector import (
    LinkRefused,
    admin_link_confirm,
    deactivations_confirm,
    deactivations_keep,
    settings_save,
    stopped_users_deactivate,
    unknown_groups,
)
from user_sync.services.pins import pin_emails_confirm
from user_sync.services.runs import RunInProgress, SyncUnavailable, run_start, settings_for

if TYPE_CHECKING:
    from accounts.models import User


def _status_live(view: selectors.ConnectorView) -> Live:
    run = view.run or view.last
    shown = (
        (run.pk, run.status, run.phase, run.pages, run.users_seen, run.created, run.updated, run.error)
        if run
        else None,
        view.pending_count,
    )
    return Live(
        element_id=f"sync-status-{view.settings.pk}",
        template="user_sync/partials/status.html",
        url=reverse("user_sync:status", args=[view.settings.pk]),
        version=version_of(*shown),
        final=view.run is None,
    )


def _render_page(
    request: TenantRequest, *, invalid: SyncSettingsForm | None = None, invalid_pk: int | None = None, status: int = 200
) -> HttpResponse:
    tenant = request.tenant
    features = list(selectors.user_sync_features(tenant=tenant))
    views = []
    for feature in features:
        if not feature.enabled or not feature.directory_id:
            continue
        view = selectors.connector_view(settings_for(feature))
        view.form = (
            invalid
            if invalid is not None and invalid_pk == view.settings.pk
            else SyncSettingsForm(instance=view.settings, prefix=f"s{view.settings.pk}")
        )
        view.status_live = _status_live(view)
        views.append(view)
    stopped = selectors.stopped_connectors(tenant=tenant)
    context = {
        "views": views,
        "disabled_features": [f for f in features if not f.enabled],
        "stopped": [(s, selectors.stopped_users(s)) for s in stopped],
    }
    return render(request, "user_sync/page.html", context, status=status)


@tenant_admin_required
def page(request: TenantRequest) -> HttpResponse:
    return _render_page(request)


@tenant_admin_required
@require_POST
def settings_update(request: TenantRequest, pk: int) -> HttpResponse:
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    form = SyncSettingsForm(request.POST, instance=settings, prefix=f"s{pk}")
    if form.is_valid() and settings.feature is not None:
        wanted = form.groups_to_check()
        try:
            unknown = unknown_groups(feature=settings.feature, group_ids=wanted) if wanted else []
        except (microsoft_errors.MicrosoftError, CredentialError) as exc:
            reason = getattr(exc, "explanation", None) or getattr(exc, "reason", str(exc))
            form.add_error(None, f"The group ids could not be checked with the directory: {reason}")
        else:
            selected = form.cleaned_data.get("selected_group_ids", "").split(",")
            for name, ids in (
                ("selected_group_ids", [g for g in unknown if g in selected]),
                ("cost_center_root_group_id", [g for g in unknown if g not in selected]),
            ):
                if ids:
                    form.add_error(name, f"Not a group of the directory: {', '.join(ids)}.")
    if not form.is_valid():
        messages.error(request, "Nothing was saved: see the settings marked below.")
        return _render_page(request, invalid=form, invalid_pk=pk, status=400)
    # Read again: validating the form wrote the cleaned values onto the instance it was given.
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    settings_save(settings=settings, data=form.cleaned_data, actor=request.user)
    messages.success(request, "Settings saved. They apply from the next sync.")
    return redirect("user_sync:page")


def _start(request: TenantRequest, pk: int, kind: RunKind) -> HttpResponse:
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    try:
        run_start(settings=settings, kind=kind, actor=request.user)
    except RunInProgress as exc:
        messages.info(request, f"A {exc.run.kind.label.lower()} is already running: nothing new was started.")
    except SyncUnavailable as exc:
        messages.error(request, str(exc))
    else:
        if kind == RunKind.PREVIEW:
            messages.success(request, "Preview started: it reads the directory and writes nothing to users.")
        else:
            messages.success(request, "Synchronization started.")
    return redirect("user_sync:page")


@tenant_admin_required
@require_POST
def sync_now(request: TenantRequest, pk: int) -> HttpResponse:
    return _start(request, pk, RunKind.SYNC)


@tenant_admin_required
@require_POST
def preview(request: TenantRequest, pk: int) -> HttpResponse:
    return _start(request, pk, RunKind.PREVIEW)


@tenant_admin_required
def status(request: TenantRequest, pk: int) -> HttpResponse:
    """The live status: the run in progress (pages read, users processed), then the last run."""
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    view = selectors.connector_view(settings)
    return live_response(request, _status_live(view), {"view": view})


@tenant_admin_required
def run_detail(request: TenantRequest, pk: int) -> HttpResponse:
    run = selectors.run_get(tenant=request.tenant, pk=pk)
    action = request.GET.get("action", "")
    if action not in ChangeAction.values:
        action = ""
    changes = selectors.run_changes(run, action=action)
    context = {
        "run": run,
        "changes": changes[:1000],
        "shown": min(changes.count(), 1000),
        "total": changes.count(),
        "action": action,
        "actions": ChangeAction,
    }
    return render(request, "user_sync/run.html", context)


@tenant_admin_required
@require_POST
def confirm(request: TenantRequest, pk: int) -> HttpResponse:
    return _deactivations_decide(request, pk, deactivations_confirm, done="deactivated")


@tenant_admin_required
@require_POST
def keep(request: TenantRequest, pk: int) -> HttpResponse:
    return _deactivations_decide(request, pk, deactivations_keep, done="kept active")


class _Decision(Protocol):
    def __call__(self, *, settings: SyncSettings, actor: User) -> int: ...


def _deactivations_decide(request: TenantRequest, pk: int, decide: _Decision, *, done: str) -> HttpResponse:
    """The admin's answer to the deactivations held at the safety threshold, for every held user at once."""
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    count = decide(settings=settings, actor=request.user)
    messages.success(request, f"{count} users {done}.")
    return redirect("user_sync:page")


@tenant_admin_required
@require_POST
def deactivate_stopped(request: TenantRequest, pk: int) -> HttpResponse:
    settings = selectors.settings_get(tenant=request.tenant, pk=pk)
    if settings.feature is not None and settings.feature.enabled:
        messages.error(request, "User Synchronization is on for this directory: its users are deactivated by syncs.")
    else:
        count = stopped_users_deactivate(settings=settings, actor=request.user)
        messages.success(request, f"{count} users deactivated.")
    return redirect("user_sync:page")


@tenant_admin_required
@require_POST
def pin_emails(request: TenantRequest, pk: int) -> HttpResponse:
    run = selectors.run_get(tenant=request.tenant, pk=pk)
    if run.pin_emails_waiting:
        count = pin_emails_confirm(run=run, actor=request.user)
        messages.success(request, f"{count} PIN emails are being sent, paced within the outgoing mail limit.")
    return redirect("user_sync:page")


@tenant_admin_required
@require_POST
def admin_link(request: TenantRequest, pk: int, change_pk: int) -> HttpResponse:
    """Link the admin account of a conflict to its directory user, as the admin confirms."""
    run = selectors.run_get(tenant=request.tenant, pk=pk)
    change = get_object_or_404(run.changes.select_related("run__settings"), pk=change_pk, action=ChangeAction.CONFLICT)
    if change.user_id is None:
        raise Http404
    try:
        user = admin_link_confirm(change=change, actor=request.user)
    except LinkRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{user.email} is linked to the directory user; the next sync keeps it up to date.")
    return redirect("user_sync:run", pk=run.pk)
