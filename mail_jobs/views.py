"""Settings > Jobs > Jobs via Email: thin views over the services; the page never talks to a mail server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from mail_jobs.forms import MailJobSourceForm
from mail_jobs.models import MailJobSource
from mail_jobs.selectors import mail_source_counts, recent_rejections
from mail_jobs.services import (
    mail_source_get_or_create,
    mail_source_poll_request,
    mail_source_save,
    mail_source_test_start,
)
from mail_servers.choices import ConnectionTestStatus
from mail_servers.selectors import mail_server_health
from ui.live import Live, live_response

if TYPE_CHECKING:
    from mail_servers.models import MailServerAccount


def _source(request: TenantRequest) -> MailJobSource:
    return mail_source_get_or_create(tenant=request.tenant)


@tenant_admin_required
def jobs_settings(request: TenantRequest) -> HttpResponse:
    source = _source(request)
    tenant = source.tenant
    form = MailJobSourceForm(request.POST or None, instance=source, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        mail_source_save(
            tenant=tenant,
            values=form.settings_values(),
            server=form.server_values(),
        )
        messages.success(request, "Jobs via Email settings saved.")
        return redirect("mail_jobs:settings")
    context = {
        "form": form,
        "source": source,
        "server": source.mail_server,
        "test_live": _test_live(source.mail_server),
        "health": mail_server_health(source.mail_server, next_try=source.next_attempt_at),
        "counts": mail_source_counts(tenant=tenant),
        "rejections": recent_rejections(tenant=tenant),
    }
    return render(request, "mail_jobs/jobs_settings.html", context, status=400 if form.errors else 200)


@require_POST
@tenant_admin_required
def test_connection(request: TenantRequest) -> HttpResponse:
    source = _source(request)
    mail_source_test_start(source=source)
    if request.htmx:
        return _test_status(request, source)
    return redirect("mail_jobs:settings")


@tenant_admin_required
def test_status(request: TenantRequest) -> HttpResponse:
    return _test_status(request, _source(request))


def _test_status(request: HttpRequest, source: MailJobSource) -> HttpResponse:
    return live_response(request, _test_live(source.mail_server), {"account": source.mail_server})


def _test_live(account: MailServerAccount) -> Live:
    """The connection test's result follows the test while it runs."""
    started = account.test_requested_at.isoformat() if account.test_requested_at else ""
    return Live(
        element_id="test-status",
        template="mail_servers/partials/test_status.html",
        url=reverse("mail_jobs:test_status"),
        version=f"{account.test_status}:{started}",
        final=account.test_status != ConnectionTestStatus.RUNNING,
        every_seconds=1,
    )


@require_POST
@tenant_admin_required
def poll_now(request: TenantRequest) -> HttpResponse:
    source = _source(request)
    if not source.enabled:
        messages.error(request, "Turn Jobs via Email on and save first.")
    else:
        mail_source_poll_request(source=source)
        messages.success(request, "Checking the mailbox now. Refresh the page in a moment to see the result.")
    return redirect("mail_jobs:settings")
