"""Reapply Consents: the admin consent of each enabled feature's app, one after another."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from integrations import selectors
from integrations.binding import FlowStart
from integrations.browser_flows import flow_started
from integrations.services import reapply as reapply_services
from integrations.views.common import admin_of, back_to_detail, tenant_of


@tenant_admin_required
@require_POST
def reapply_start(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=tenant_of(request), pk=pk)

    def first_consent() -> FlowStart:
        run = reapply_services.reapply_start(integration=integration, admin=admin_of(request))
        return reapply_services.reapply_next_start(run=run, admin=admin_of(request))

    return flow_started(request, first_consent, back=back_to_detail(integration))


@tenant_admin_required
@require_POST
def reapply_continue(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    run = selectors.reapply_run_get(tenant=tenant_of(request), integration_pk=pk, pk=run_pk)
    return flow_started(
        request,
        lambda: reapply_services.reapply_next_start(run=run, admin=admin_of(request)),
        back=back_to_detail(run.integration),
    )


@tenant_admin_required
@require_POST
def reapply_stop(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    run = selectors.reapply_run_get(tenant=tenant_of(request), integration_pk=pk, pk=run_pk)
    reapply_services.reapply_stop(run=run, admin=admin_of(request))
    messages.success(request, "Reapply Consents stopped. The consents already granted are kept.")
    return back_to_detail(run.integration)
