from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from outgoing_mail import selectors, services
from outgoing_mail.forms import OutgoingMailForm, TestEmailForm
from outgoing_mail.models import OutboundEmail
from throttling.clients import client_address
from throttling.services import Throttled
from ui.live import Live, live_response

THROTTLED_TEXT = {
    "headline": "Too many test emails.",
    "why": "Roger sends only a few test emails an hour to one address, for one tenant and from one network.",
}


@tenant_admin_required
def network_settings(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    instance = selectors.outgoing_mail_settings(tenant=tenant)
    form = OutgoingMailForm(request.POST or None, tenant=tenant, instance=instance)
    if request.method == "POST" and form.is_valid():
        services.outgoing_mail_settings_save(
            tenant=tenant,
            actor=request.user,
            change=form.change(),
        )
        messages.success(request, "The outgoing SMTP server is saved. Send a test email to check it.")
        return redirect("outgoing_mail:network")
    return _page(request, form=form, test_form=TestEmailForm(initial={"recipient": request.user.email}))


@tenant_admin_required
@require_POST
def test_email(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    test_form = TestEmailForm(request.POST)
    if not test_form.is_valid():
        form = OutgoingMailForm(tenant=tenant, instance=selectors.outgoing_mail_settings(tenant=tenant))
        return _page(request, form=form, test_form=test_form, status=400)
    try:
        outbound = services.test_email_send(
            tenant=tenant,
            actor=request.user,
            recipient=test_form.cleaned_data["recipient"],
            client=client_address(request),
        )
    except Throttled as exc:
        return _throttled(request, test_form, exc)
    if request.htmx:
        return _status(request, outbound)
    return redirect("outgoing_mail:network")


@tenant_admin_required
def test_email_status(request: TenantRequest, pk: int) -> HttpResponse:
    try:
        outbound = selectors.test_email_get(tenant=request.tenant, pk=pk)
    except OutboundEmail.DoesNotExist as exc:
        raise Http404("No such test email") from exc
    return _status(request, outbound)


def _test_live(test: OutboundEmail | None) -> Live:
    """The test email's status follows the message until it is sent or has failed."""
    return Live(
        element_id="test-email-status",
        template="outgoing_mail/partials/test_email_status.html",
        url=reverse("outgoing_mail:test_email_status", args=[test.pk]) if test else "",
        version=f"{test.status}:{test.attempts}:{test.waiting_for_limit:d}" if test else "",
        final=test is None or not test.is_pending,
        every_seconds=1,
    )


def _status(request: TenantRequest, outbound: OutboundEmail) -> HttpResponse:
    live = _test_live(outbound)
    context: dict[str, object] = {"test": outbound, "recent": None}
    if live.final:  # the finished test joins the recent mail list without a reload
        context["recent"] = selectors.outbound_recent(tenant=request.tenant)
    return live_response(request, live, context)


def _throttled(request: TenantRequest, test_form: TestEmailForm, exc: Throttled) -> HttpResponse:
    if request.htmx:
        # htmx swaps only 2xx answers: the limit is shown where the test's status goes.
        context = {"throttled": exc, **THROTTLED_TEXT, "element_id": "test-email-status"}
        return render(request, "partials/throttled.html", context)
    tenant = request.tenant
    form = OutgoingMailForm(tenant=tenant, instance=selectors.outgoing_mail_settings(tenant=tenant))
    response = _page(request, form=form, test_form=test_form, status=429, throttled=exc)
    response["Retry-After"] = str(int(exc.retry_after) + 1)
    return response


def _page(
    request: TenantRequest,
    *,
    form: OutgoingMailForm,
    test_form: TestEmailForm,
    status: int = 200,
    throttled: Throttled | None = None,
) -> HttpResponse:
    tenant = request.tenant
    latest_test = selectors.latest_test_email(tenant=tenant)
    context = {
        "throttled": throttled,
        "throttled_text": THROTTLED_TEXT,
        "form": form,
        "test_form": test_form,
        "settings": form.instance,
        "latest_test": latest_test,
        "test_live": _test_live(latest_test),
        "default_from": settings.DEFAULT_FROM_EMAIL,
        "recent": selectors.outbound_recent(tenant=tenant),
    }
    return render(request, "outgoing_mail/network.html", context, status=status)
