from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.forms import HiddenInput
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.forms import SignInForm, TenancyForm, TenantPasswordResetForm
from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from accounts.services import sign_in_success_record
from accounts.sign_in_options import SIGN_IN_OPTIONS, sign_out_offers
from audit.selectors import audit_event_list
from throttling.clients import client_address
from throttling.services import Throttled, scope_limits, throttle_take
from ui.pagination import keyset_page


def _next_url(request: HttpRequest) -> str:
    next_url = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        return next_url
    return ""


def sign_in(request: HttpRequest) -> HttpResponse:
    """Step one: the tenancy name, which leads to that tenant's sign-in page. (A POST with the tenancy name, email
    and password together still signs in, as the single-step page did.)"""
    if request.user.is_authenticated:
        return redirect("dashboard")
    if request.method == "POST" and "password" in request.POST:
        return _password_sign_in(request, tenancy="")
    form = TenancyForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        query = f"?{urlencode({'next': _next_url(request)})}" if _next_url(request) else ""
        return redirect(reverse("accounts:login_tenancy", args=[form.cleaned_data["tenancy_name"]]) + query)
    return render(request, "accounts/sign_in.html", {"form": form})


def sign_in_tenancy(request: HttpRequest, tenancy: str) -> HttpResponse:
    """Step two: the tenant's page, with the password form and the other ways the tenant offers (Sign in with
    Microsoft when it has an enabled Login feature: accounts.sign_in_options)."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    return _password_sign_in(request, tenancy=tenancy.lower())


def _password_sign_in(request: HttpRequest, *, tenancy: str) -> HttpResponse:
    data = request.POST.copy() if request.method == "POST" else None
    if data is not None and tenancy:
        data["tenancy_name"] = tenancy
    form = SignInForm(request, data=data, initial={"tenancy_name": tenancy})
    if request.method == "POST" and form.is_valid() and form.user is not None:
        login(request, form.user)
        sign_in_success_record(user=form.user)
        return redirect(_next_url(request) or "dashboard")
    if not tenancy:
        return render(request, "accounts/sign_in.html", {"form": form})
    form.fields["tenancy_name"].widget = HiddenInput()
    form.fields["email"].widget.attrs["autofocus"] = True
    context = {"form": form, "tenancy": tenancy, "options": SIGN_IN_OPTIONS.shown(tenancy)}
    return render(request, "accounts/sign_in_tenancy.html", context)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    offers = sign_out_offers(request)  # read before the session ends
    logout(request)
    if offers:
        return render(request, "accounts/signed_out.html", {"offers": offers})
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


class PasswordResetView(auth_views.PasswordResetView):
    form_class = TenantPasswordResetForm
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: TenantPasswordResetForm) -> HttpResponse:  # type: ignore[override]
        """Limited per address, per tenancy and per client, whether the account exists or not (that stays secret)."""
        limits = scope_limits(
            "password_reset",
            address=form.cleaned_data["email"],
            tenant=form.cleaned_data["tenancy_name"],
            client=client_address(self.request),
        )
        try:
            throttle_take(limits=limits)
        except Throttled as exc:
            context = self.get_context_data(form=form, throttled=exc)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(int(exc.retry_after) + 1)
            return response
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@tenant_admin_required
def audit_log(request: TenantRequest) -> HttpResponse:
    """Administration > Audit log: the tenant's trail, newest first (audit/ writes it and imports no app)."""
    page = keyset_page(audit_event_list(tenant=request.tenant), field="occurred_at", params=request.GET)
    return render(request, "accounts/audit_log.html", {"page": page})
