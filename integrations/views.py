from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Tenant, User
from accounts.permissions import tenant_admin_required, tenant_member_required
from integrations import binding, selectors
from integrations.choices import FlowKind
from integrations.errors import ConsentMissing, ForeignBrowser, IntegrationError, SignInRequired
from integrations.features import DIRECTORY_ROLE_CLAIMS, FEATURES, SIGN_IN_SCOPES, manifest_snippet
from integrations.forms import ManualIntegrationForm, NameForm
from integrations.legacy import selectors as legacy_selectors
from integrations.models import Integration
from integrations.services import cloud_services as cloud_services_services
from integrations.services import consent as consent_services
from integrations.services import directory_proof as proof_services
from integrations.services import features as feature_services
from integrations.services import flows as flow_services
from integrations.services import integrations as integration_services
from integrations.services import reapply as reapply_services
from integrations.services.flows import FLOW_LIFETIME, FlowOutcome, callback_url
from microsoft import directory_roles

# Which field an AADSTS code points at, so the message sits next to what must change.
FIELD_FOR_CODE = {90002: "directory", 700016: "application_id", 7000215: "client_secret", 7000222: "client_secret"}
COMING_LATER = ("Google Workspace", "Okta")


def _admin(request: HttpRequest) -> User:
    return cast(User, request.user)  # tenant_admin_required guarantees a signed-in tenant admin


def _tenant(request: HttpRequest) -> Tenant:
    return cast(Tenant, request.tenant)  # type: ignore[attr-defined]


def _detail(integration: Integration) -> HttpResponseRedirect:
    return redirect("integrations:detail", pk=integration.pk)


def _operator_apps() -> list[dict[str, str]]:
    return [
        {"feature": spec.label, "app": settings.MICROSOFT_APPS[spec.operator_app]["display_name"]}
        for spec in FEATURES.values()
    ]


def _redirect_uris() -> list[str]:
    return [callback_url("integration_callbacks:select_tenant"), callback_url("integration_callbacks:consent")]


def _flow_redirect(start: binding.FlowStart) -> HttpResponse:
    """Send the browser to Microsoft with the key that binds the flow to it (a cookie of its own)."""
    return binding.browser_cookie_set(HttpResponseRedirect(start.url), start, FLOW_LIFETIME)


def _graph_application_consenters() -> str:
    return directory_roles.names(directory_roles.APPLICATION_PERMISSION_CONSENTERS)


# --- list and add -----------------------------------------------------------------------------------------


@tenant_admin_required
def integration_list(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    context = {
        "integrations": selectors.integration_list(tenant=tenant),
        "problems": selectors.integration_problems(tenant=tenant),
        "warn_days": settings.INTEGRATIONS_SECRET_EXPIRY_WARNING_DAYS,
    }
    return render(request, "integrations/integration_list.html", context)


@tenant_admin_required
def integration_add(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/add_provider.html", {"coming_later": COMING_LATER})


@tenant_admin_required
def integration_add_microsoft(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/add_mode.html", {"operator_apps": _operator_apps()})


@tenant_admin_required
def integration_add_automatic(request: HttpRequest) -> HttpResponse:
    form = NameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = integration_services.integration_create_automatic(
                tenant=_tenant(request),
                actor=_admin(request),
                name=form.cleaned_data["name"],
            )
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, "Integration saved. Now click Select tenant and sign in as an administrator.")
            return _detail(integration)
    return render(request, "integrations/add_automatic.html", {"form": form, "operator_apps": _operator_apps()})


def _checked_manual(form: ManualIntegrationForm, stored_secret: str = "") -> tuple[str, str] | None:
    try:
        return integration_services.manual_setup_check(setup=form.setup(), stored_secret=stored_secret)
    except IntegrationError as exc:
        form.add_error(FIELD_FOR_CODE.get(exc.code or 0), exc.message)
        return None


@tenant_admin_required
def integration_add_manual(request: HttpRequest) -> HttpResponse:
    tenant = _tenant(request)
    legacy_id = legacy_selectors.legacy_application_id_for(tenant=tenant)
    form = ManualIntegrationForm(request.POST or None, initial={"application_id": legacy_id or ""})
    if request.method == "POST" and form.is_valid() and (checked := _checked_manual(form)) is not None:
        try:
            integration = integration_services.integration_create_manual(
                tenant=tenant,
                actor=_admin(request),
                setup=form.setup(),
                directory_id=checked[0],
                directory_domain=checked[1],
            )
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            if integration.needs_directory_proof:
                messages.success(
                    request,
                    "Integration saved. Next, prove the directory: click Prove directory and sign in with an "
                    "administrator of it. Every feature stays disabled until then.",
                )
            else:
                messages.success(
                    request, "Integration saved. Every feature is disabled: grant consent and enable them."
                )
            return _detail(integration)
    return render(
        request,
        "integrations/add_manual.html",
        {"form": form, "legacy_id": legacy_id, "redirect_uris": _redirect_uris()},
    )


@tenant_member_required
def setup_guide(request: HttpRequest) -> HttpResponse:
    redirect_uris = _redirect_uris()
    guides = [
        {"spec": spec, "manifest": manifest_snippet(spec), "sign_in": SIGN_IN_SCOPES if spec.delegated else ()}
        for spec in FEATURES.values()
    ]
    context = {
        "guides": guides,
        "redirect_uris": redirect_uris,
        "login_app": settings.MICROSOFT_APPS["LOGIN"]["display_name"],
        "legacy_app": settings.MICROSOFT_APPS["LEGACY"]["display_name"],
        "role_claims": DIRECTORY_ROLE_CLAIMS,
        "prover_roles": directory_roles.names(directory_roles.ADMINISTRATOR_ROLES),
        "graph_application_consenters": _graph_application_consenters(),
    }
    return render(request, "integrations/setup_guide.html", context)


# --- one integration ----------------------------------------------------------------------------------------


@tenant_admin_required
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    operator_owned_unproven = not integration.directory_proven_by_sign_in
    features = [
        {
            "feature": f,
            "permissions": selectors.feature_permissions(f),
            "missing": selectors.feature_missing_permissions(f),
            "consent_blocked": f.app_registration.is_operator_owned and operator_owned_unproven,
            "enable_blocked": f.app_registration.is_operator_owned and integration.needs_directory_proof,
        }
        for f in integration.features.select_related("app_registration")
    ]
    run = reapply_services.reapply_latest(integration)
    context = {
        "integration": integration,
        "features": features,
        "app": integration.app_registrations.first(),
        "apps": list(integration.app_registrations.all()),
        "problems": selectors.integration_problems(tenant=integration.tenant, integration=integration),
        "run": run,
        "run_next": reapply_services.reapply_next_feature(run) if run is not None else None,
        "reapply_apps": reapply_services.reapply_apps(integration),
        "switch": legacy_selectors.legacy_switch_latest(integration),
        "legacy_scopes": legacy_selectors.legacy_scopes() if integration.is_legacy else [],
        "graph_application_consenters": _graph_application_consenters(),
        "prover_roles": directory_roles.names(directory_roles.ADMINISTRATOR_ROLES),
    }
    return render(request, "integrations/integration_detail.html", context)


@tenant_admin_required
@require_POST
def select_tenant(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    try:
        start = proof_services.select_tenant_start(integration=integration, admin=_admin(request))
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _detail(integration)
    return _flow_redirect(start)


@tenant_admin_required
@require_POST
def prove_directory(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    try:
        start = proof_services.directory_proof_start(integration=integration, admin=_admin(request))
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _detail(integration)
    return _flow_redirect(start)


def _edit_context(integration: Integration, form: Any, impact: Any = None) -> dict[str, Any]:
    return {
        "integration": integration,
        "form": form,
        "impact": impact,
        "current": integration_services.integration_delete_impact(integration=integration),
    }


@tenant_admin_required
def integration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    if integration.is_automatic:
        return _edit_automatic(request, integration)
    return _edit_manual(request, integration)


def _edit_automatic(request: HttpRequest, integration: Integration) -> HttpResponse:
    form = NameForm(request.POST or None, initial={"name": integration.name})
    if request.method == "POST" and form.is_valid():
        try:
            integration_services.integration_rename(
                integration=integration,
                actor=_admin(request),
                name=form.cleaned_data["name"],
            )
        except IntegrationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, "Integration saved.")
            return _detail(integration)
    return render(request, "integrations/edit.html", _edit_context(integration, form))


def _edit_manual(request: HttpRequest, integration: Integration) -> HttpResponse:
    app = integration.app_registrations.order_by("pk").first()
    assert app is not None  # every manual integration is created with its app
    initial = {
        "name": integration.name,
        "directory": integration.directory_domain or integration.directory_id,
        "application_id": app.client_id,
        "secret_expires_on": app.secret_expires_on,
    }
    form = ManualIntegrationForm(
        request.POST or None,
        initial=initial,
        has_stored_secret=bool(app.client_secret),
        stored_application_id=app.client_id,
    )
    impact = None
    if request.method == "POST" and form.is_valid():
        same_app = form.cleaned_data["application_id"] == app.client_id.lower()
        checked = _checked_manual(form, stored_secret=app.client_secret if same_app else "")
        if checked is not None:
            impact = integration_services.integration_change_impact(
                integration=integration, directory_id=checked[0], application_id=form.cleaned_data["application_id"]
            )
            if not impact.needs_confirmation or request.POST.get("confirm") == "1":
                return _save_manual(request, integration, form, checked) or render(
                    request, "integrations/edit.html", _edit_context(integration, form, impact)
                )
            form.add_error(None, "This change affects the features listed below. Check the box to confirm it.")
    return render(request, "integrations/edit.html", _edit_context(integration, form, impact))


def _save_manual(
    request: HttpRequest, integration: Integration, form: ManualIntegrationForm, checked: tuple[str, str]
) -> HttpResponse | None:
    try:
        update = integration_services.integration_update_manual(
            integration=integration,
            actor=_admin(request),
            setup=form.setup(),
            directory_id=checked[0],
            directory_domain=checked[1],
        )
    except IntegrationError as exc:
        form.add_error(None, exc.message)
        return None
    if update.left_legacy is not None:
        messages.success(request, "Integration saved: it no longer uses the legacy application.")
        return redirect("integrations:legacy_switch", pk=integration.pk, switch_pk=update.left_legacy.pk)
    messages.success(request, "Integration saved.")
    return _detail(integration)


@tenant_admin_required
def integration_delete(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    if request.method == "POST":
        name = integration.name
        integration_services.integration_delete(integration=integration, actor=_admin(request))
        messages.success(request, f"Integration “{name}” deleted.")
        return redirect("integrations:list")
    impact = integration_services.integration_delete_impact(integration=integration)
    return render(request, "integrations/delete.html", {"integration": integration, "impact": impact})


# --- features ----------------------------------------------------------------------------------------------


def _start_consent(request: HttpRequest, feature: Any, *, enable_after: bool) -> HttpResponse:
    try:
        start = consent_services.consent_start(feature=feature, admin=_admin(request), enable_after=enable_after)
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _detail(feature.integration)
    return _flow_redirect(start)


@tenant_admin_required
@require_POST
def feature_enable(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature = selectors.feature_get(tenant=_tenant(request), integration_pk=pk, pk=feature_pk)
    try:
        feature_services.feature_enable(feature=feature, actor=_admin(request))
    except ConsentMissing:
        # Enabling asks for consent first; the feature is enabled when the consent comes back.
        return _start_consent(request, feature, enable_after=True)
    except IntegrationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{feature.spec.label} enabled.")
    return _detail(feature.integration)


@tenant_admin_required
@require_POST
def feature_disable(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature = selectors.feature_get(tenant=_tenant(request), integration_pk=pk, pk=feature_pk)
    feature_services.feature_disable(feature=feature, actor=_admin(request))
    messages.success(request, f"{feature.spec.label} disabled. Its consent is kept, so you can enable it again.")
    return _detail(feature.integration)


@tenant_admin_required
@require_POST
def feature_consent(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature = selectors.feature_get(tenant=_tenant(request), integration_pk=pk, pk=feature_pk)
    return _start_consent(request, feature, enable_after=False)


# --- Reapply Consents ---------------------------------------------------------------------------------------


@tenant_admin_required
@require_POST
def reapply_start(request: HttpRequest, pk: int) -> HttpResponse:
    integration = selectors.integration_get(tenant=_tenant(request), pk=pk)
    try:
        run = reapply_services.reapply_start(integration=integration, admin=_admin(request))
        start = reapply_services.reapply_next_start(run=run, admin=_admin(request))
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _detail(integration)
    return _flow_redirect(start)


@tenant_admin_required
@require_POST
def reapply_continue(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    run = selectors.reapply_run_get(tenant=_tenant(request), integration_pk=pk, pk=run_pk)
    try:
        start = reapply_services.reapply_next_start(run=run, admin=_admin(request))
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return _detail(run.integration)
    return _flow_redirect(start)


@tenant_admin_required
@require_POST
def reapply_stop(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    run = selectors.reapply_run_get(tenant=_tenant(request), integration_pk=pk, pk=run_pk)
    reapply_services.reapply_stop(run=run, admin=_admin(request))
    messages.success(request, "Reapply Consents stopped. The consents already granted are kept.")
    return _detail(run.integration)


# --- Microsoft's answers --------------------------------------------------------------------------------------


def _outcome_redirect(request: HttpRequest, outcome: FlowOutcome) -> HttpResponse:
    if outcome.error:
        messages.error(request, outcome.error)
    elif outcome.notice:
        messages.success(request, outcome.notice)
    return _detail(outcome.integration)


def _person(request: HttpRequest) -> User | None:
    user = request.user
    return cast(User, user) if user.is_authenticated and getattr(user, "tenant_id", None) else None


def _refused(request: HttpRequest, exc: IntegrationError, *, back: str = "integrations:list") -> HttpResponse:
    """Why an answer from Microsoft changed nothing: on the page for someone signed in, else on its own page."""
    if isinstance(exc, ForeignBrowser) or _person(request) is None:
        status = 403 if isinstance(exc, ForeignBrowser) else 400
        context = {"message": exc.message, "foreign": isinstance(exc, ForeignBrowser)}
        return render(request, "integrations/flow_refused.html", context, status=status)
    messages.error(request, exc.message)
    return redirect(back)


@csrf_exempt  # Microsoft form_posts the answer cross-site; the finish step checks the flow's browser cookie
@require_POST
def sign_in_callback(request: HttpRequest) -> HttpResponse:
    """Only records Microsoft's answer: this request carries none of our cookies (SameSite=Lax)."""
    params = {key: request.POST.get(key, "") for key in request.POST}
    receipt = flow_services.flow_answer_record(params=params)
    query = {"state": params.get("state", "")}
    if receipt is not None:
        query["answer"] = receipt.answer_key
    return HttpResponseRedirect(f"{reverse('integration_callbacks:sign_in_finish')}?{urlencode(query)}")


@require_GET
def sign_in_finish(request: HttpRequest) -> HttpResponse:
    """The same-site GET after Microsoft's form_post: the browser's cookie shows whether it started the flow."""
    state = request.GET.get("state", "")
    keys = {
        "state": state,
        "browser_key": binding.browser_key_of(request, state),
        "answer_key": request.GET.get("answer", ""),
    }
    user_connect = flow_services.flow_kind_of(state) == FlowKind.USER_CONNECT
    back = "integrations:cloud_services" if user_connect else "integrations:list"
    response: HttpResponse
    try:
        if user_connect:
            account = cloud_services_services.user_connect_finish(**keys, user=_person(request))
            messages.success(request, f"OneDrive connected as {account}.")
            response = redirect(back)
        else:
            response = _outcome_redirect(request, proof_services.sign_in_finish(**keys, admin=_person(request)))
    except SignInRequired:
        return redirect_to_login(request.get_full_path())  # keeps the cookie: the same browser comes back
    except IntegrationError as exc:
        response = _refused(request, exc, back=back)
    return binding.browser_cookie_delete(response, state)


@require_GET
def consent_callback(request: HttpRequest) -> HttpResponse:
    """Microsoft's admin consent answer, a same-site GET navigation that carries the flow's browser cookie."""
    params = request.GET.dict()
    state = params.get("state", "")
    response: HttpResponse
    try:
        outcome = consent_services.consent_finish(
            params=params, browser_key=binding.browser_key_of(request, state), admin=_person(request)
        )
    except SignInRequired:
        return redirect_to_login(request.get_full_path())
    except IntegrationError as exc:
        response = _refused(request, exc)
    else:
        response = _outcome_redirect(request, outcome)
    return binding.browser_cookie_delete(response, state)


# --- My Settings > Cloud Services ---------------------------------------------------------------------------


@tenant_member_required
def cloud_services(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    return render(request, "integrations/cloud_services.html", {"connections": selectors.user_connections(user=user)})


@tenant_member_required
@require_POST
def cloud_services_connect(request: HttpRequest, feature_pk: int) -> HttpResponse:
    user = cast(User, request.user)
    feature = selectors.user_feature_get(user=user, pk=feature_pk)
    try:
        start = cloud_services_services.user_connect_start(feature=feature, user=user)
    except IntegrationError as exc:
        messages.error(request, exc.message)
        return redirect("integrations:cloud_services")
    return _flow_redirect(start)


@tenant_member_required
@require_POST
def cloud_services_dismiss(request: HttpRequest) -> HttpResponse:
    cloud_services_services.reconnect_notice_dismiss(user=cast(User, request.user))
    return redirect("integrations:cloud_services")
