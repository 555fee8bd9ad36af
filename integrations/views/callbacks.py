"""Where Microsoft sends the browser back: the redirect URIs registered on the apps (see the set-up guide).

A sign-in (Select tenant, Prove directory, a user's Connect) answers by a cross-site form_post, which carries
none of our cookies: it is only recorded, and the browser is sent on to a same-site finish step where its flow
cookie is checked. An admin consent answers by a same-site GET, which carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations import binding
from integrations.choices import FlowKind
from integrations.errors import ForeignBrowser, IntegrationError, SignInRequired
from integrations.services import cloud_services as cloud_services_services
from integrations.services import consent as consent_services
from integrations.services import directory_proof as proof_services
from integrations.services import flows as flow_services
from integrations.services.flows import FlowOutcome
from integrations.views.common import back_to_detail

if TYPE_CHECKING:
    from accounts.models import User


def _outcome_redirect(request: HttpRequest, outcome: FlowOutcome) -> HttpResponse:
    if outcome.error:
        messages.error(request, outcome.error)
    elif outcome.notice:
        messages.success(request, outcome.notice)
    return back_to_detail(outcome.integration)


def _person(request: HttpRequest) -> User | None:
    user = request.user
    return cast("User", user) if user.is_authenticated and getattr(user, "tenant_id", None) else None


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
    registered = flow_services.sign_in_kind_of(state)
    user_connect = flow_services.flow_kind_of(state) == FlowKind.USER_CONNECT
    back = "onedrive:cloud_services" if user_connect else "integrations:list"
    if registered is not None:
        back = registered.back_url_name
    response: HttpResponse
    if registered is not None and registered.respond is not None:
        return binding.browser_cookie_delete(registered.respond(request, **keys), state)
    try:
        if registered is not None:
            finished = registered.finish(**keys, person=_person(request))
            if finished.notice:
                messages.success(request, finished.notice)
            response = HttpResponseRedirect(finished.url)
        elif user_connect:
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
