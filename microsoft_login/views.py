"""Login with Microsoft's pages: the button's start, the finish that signs in, refusals, settings, linking."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required, tenant_member_required
from accounts.requests import TenantRequest
from accounts.sign_in_options import SIGN_IN_OPTIONS, sign_out_offer_register
from integrations.browser_flows import flow_redirect, flow_started
from integrations.choices import FlowKind
from integrations.errors import ForeignBrowser, IntegrationError
from integrations.services.flows import SignInFinished, SignInKind, callback_url, sign_in_kind_register
from microsoft import errors as microsoft_errors
from microsoft import identity
from microsoft_login import selectors, services
from microsoft_login.errors import SignInRefused
from microsoft_login.forms import LoginSettingsForm
from throttling.clients import client_address
from throttling.services import Throttled

# What the session keeps of a sign-in with Microsoft, to offer signing out of Microsoft too: no token.
SIGN_OUT_KEY = "microsoft_sign_out"
PASSWORD_BACKEND = "accounts.backends.TenantEmailBackend"
NEXT_KEY = "microsoft_sign_in_next"


def _back_to_tenancy(tenancy: str) -> HttpResponse:
    return redirect("accounts:login_tenancy", tenancy=tenancy) if tenancy else redirect("accounts:login")


@require_POST
def sign_in_start(request: HttpRequest) -> HttpResponse:
    """The "Sign in with Microsoft" button: to the Login feature's app at Microsoft, bound to this browser."""
    tenancy = request.POST.get("tenancy_name", "").strip().lower()
    chosen = selectors.login_feature_for_tenancy(tenancy_name=tenancy, pk=request.POST.get("feature") or 0)
    if chosen is None:
        messages.error(request, "Login with Microsoft is not available for this organisation: sign in with a password.")
        return _back_to_tenancy(tenancy)
    try:
        started = services.microsoft_sign_in_start(
            feature=chosen, login_hint=request.POST.get("email", ""), client=client_address(request)
        )
    except Throttled as exc:
        messages.error(
            request, f"Too many sign-ins from here, or too many that failed. Try again in {exc.try_again_in}."
        )
        response = _back_to_tenancy(tenancy)
        response["Retry-After"] = str(int(exc.retry_after) + 1)
        response.status_code = 303
        return response
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _back_to_tenancy(tenancy)
    next_url = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        request.session[NEXT_KEY] = next_url  # where to go once signed in (kept across the session's rotation)
    return flow_redirect(started)


def sign_in_respond(request: HttpRequest, *, state: str, browser_key: str, answer_key: str) -> HttpResponse:
    """Microsoft's answer, back in a browser: signs it in (a new session) or says why not."""
    try:
        signed_in = services.microsoft_sign_in_finish(
            state=state, browser_key=browser_key, answer_key=answer_key, client=client_address(request)
        )
    except SignInRefused as exc:
        return _refusal_page(request, exc.message, admin_url=exc.admin_url)
    except ForeignBrowser as exc:
        return _refusal_page(request, exc.message, status=403)
    except IntegrationError as exc:
        return _refusal_page(request, exc.message, status=400)
    next_url = request.session.pop(NEXT_KEY, "")
    login(request, signed_in.user, backend=PASSWORD_BACKEND)  # a new session key: a fixed session id is worth nothing
    request.session[SIGN_OUT_KEY] = {"authority": signed_in.authority, "account": signed_in.account}
    return redirect(next_url or "dashboard")


def _refusal_page(request: HttpRequest, message: str, *, admin_url: str = "", status: int = 403) -> HttpResponse:
    context = {"message": message, "admin_url": admin_url}
    return render(request, "microsoft_login/refused.html", context, status=status)


def _answered_by_respond(**keys: object) -> SignInFinished:
    raise AssertionError("a sign-in with Microsoft is finished by sign_in_respond, which needs the request")


def sign_in_kinds_register() -> None:
    """Both sign-ins are finished on the integrations' browser-bound callback; the sign-in page shows the button
    and the sign-out offers Microsoft's (accounts.sign_in_options)."""
    SIGN_IN_OPTIONS.register("microsoft_login", "microsoft_login/partials/sign_in_buttons.html", sign_in_option)
    sign_out_offer_register(sign_out_offer)
    sign_in_kind_register(
        SignInKind(
            kind=FlowKind.MICROSOFT_SIGN_IN,
            finish=_answered_by_respond,
            back_url_name="accounts:login",
            respond=sign_in_respond,
        )
    )
    sign_in_kind_register(
        SignInKind(
            kind=FlowKind.MICROSOFT_LINK, finish=services.microsoft_link_finish, back_url_name="microsoft_login:account"
        )
    )


def sign_out_offer(request: HttpRequest) -> tuple[str, str] | None:
    """Signing out of Microsoft too, for a session that signed in with Microsoft: the discovered end_session_endpoint,
    which sends the browser back to the sign-in page. Read before the portal's session ends."""
    signed_in = request.session.get(SIGN_OUT_KEY)
    if not isinstance(signed_in, dict) or not signed_in.get("authority"):
        return None
    try:
        url = identity.end_session_url(
            tenant=str(signed_in["authority"]), post_logout_redirect_uri=callback_url("accounts:login")
        )
    except microsoft_errors.MicrosoftError:
        return None  # Microsoft cannot be asked now: the portal's sign-out still happens
    return ("Sign out of Microsoft too", url)


def sign_in_option(tenancy: str) -> dict[str, Any] | None:
    """The "Sign in with Microsoft" buttons on a tenancy's sign-in page: one per enabled Login feature."""
    features = selectors.login_features_for_tenancy(tenancy_name=tenancy)
    return {"features": features} if features else None


# --- settings (tenant admins) and My Settings ----------------------------------------------------------------------


@tenant_admin_required
def login_settings(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    form = LoginSettingsForm.of(selectors.login_settings_of(tenant=tenant), request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.login_settings_save(tenant=tenant, **form.cleaned_data)
        messages.success(request, "Saved.")
        return redirect("microsoft_login:settings")
    features = selectors.login_features(tenant=tenant)
    return render(
        request,
        "microsoft_login/settings.html",
        {"form": form, "features": features, "sign_out_uri": callback_url("accounts:login")},
    )


@tenant_member_required
def account(request: TenantRequest) -> HttpResponse:
    features = selectors.login_features(tenant=request.tenant)
    return render(
        request,
        "microsoft_login/account.html",
        {"features": features, "linked": bool(request.user.directory_object_id)},
    )


@tenant_member_required
@require_POST
def link_start(request: TenantRequest, feature_pk: int) -> HttpResponse:
    feature = get_object_or_404(selectors.login_features(tenant=request.tenant), pk=feature_pk)
    return flow_started(
        request,
        lambda: services.microsoft_link_start(feature=feature, user=request.user),
        back=redirect(reverse("microsoft_login:account")),
    )
