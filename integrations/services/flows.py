"""The round trips through Microsoft: one `AuthorizationFlow` row each, bound to a person and a browser.

Every flow is started here (a random browser key whose hash the row keeps), answered here (the anonymous
form_post callback only records the answer), and taken here by the finish step: the browser key is checked
first, in constant time, before anything else is looked at; a flow finished in another browser is spent at
once, so neither browser can use it afterwards. Only a taken flow may redeem its code or change anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from integrations import binding
from integrations.choices import FlowKind, FlowStatus
from integrations.errors import FlowRefused, ForeignBrowser, IntegrationError, SignInRequired
from integrations.models import AuthorizationFlow, Feature, Integration, ReapplyRun
from microsoft import errors as microsoft_errors
from microsoft import identity
from microsoft.config import AppCredentials
from ui.links import portal_url

if TYPE_CHECKING:
    from accounts.models import Tenant, User

FLOW_LIFETIME = timedelta(minutes=15)
WHAT = {
    FlowKind.SELECT_TENANT: "Select tenant",
    FlowKind.PROVE_DIRECTORY: "Prove directory",
    FlowKind.ADMIN_CONSENT: "consent",
    FlowKind.USER_CONNECT: "sign-in",
    FlowKind.PRINTER_ADMIN: "Printer Administrator sign-in",
    FlowKind.MICROSOFT_SIGN_IN: "sign-in with Microsoft",
    FlowKind.MICROSOFT_LINK: "Microsoft account link",
}


@dataclass(frozen=True)
class FlowOutcome:
    """What a finished flow tells the person: on which integration (and feature), an error or a notice."""

    integration: Integration
    feature: Feature | None = None
    error: str = ""
    notice: str = ""


def callback_url(name: str) -> str:
    """The redirect URI registered on the apps (`ui.links.portal_url`: never from the request's Host)."""
    return portal_url(reverse(name))


@dataclass(frozen=True)
class AnswerReceipt:
    """What the browser that delivered Microsoft's answer takes to the finish step."""

    state: str
    answer_key: str


def flow_create(
    *,
    state: str,
    kind: str,
    person: User | None,
    integration: Integration,
    feature: Feature | None = None,
    msal_flow: dict[str, Any] | None = None,
    reapply_run: ReapplyRun | None = None,
    enable_after: bool = False,
) -> str:
    """Record a flow this person (None: someone not signed in yet) starts in their browser; returns the key for
    that browser's cookie."""
    browser_key, browser_key_hash = binding.key_new()
    AuthorizationFlow.objects.create(
        state=state,
        kind=kind,
        tenant=integration.tenant,
        admin=person,
        integration=integration,
        feature=feature,
        reapply_run=reapply_run,
        enable_after=enable_after,
        msal_flow=json.dumps(msal_flow) if msal_flow else "",
        browser_key_hash=browser_key_hash,
        expires_at=timezone.now() + FLOW_LIFETIME,
    )
    return browser_key


def sign_in_start(
    *,
    kind: str,
    person: User | None,
    integration: Integration,
    app: AppCredentials,
    authority: str,
    scopes: Sequence[str],
    feature: Feature | None = None,
    login_hint: str | None = None,
) -> binding.FlowStart:
    """Where to send the person to sign in at Microsoft (one call, for discovery), recorded as a flow of theirs
    (`person` None: an anonymous start, bound to the browser only); Microsoft answers on the sign-in callback, by
    form_post."""
    try:
        started = identity.auth_code_start(
            app=app,
            tenant=authority,
            scopes=scopes,
            redirect_uri=callback_url("integration_callbacks:select_tenant"),
            login_hint=login_hint or None,
            prompt="select_account",
        )
    except microsoft_errors.MicrosoftError as exc:
        raise IntegrationError(exc.message) from exc
    state = str(started.flow["state"])
    key = flow_create(
        state=state, kind=kind, person=person, integration=integration, feature=feature, msal_flow=started.flow
    )
    return binding.FlowStart(url=started.auth_uri, state=state, browser_key=key)


@dataclass(frozen=True)
class SignInFinished:
    """Where the browser goes once a sign-in of a registered kind is finished, and what the person is told."""

    url: str
    notice: str = ""


@dataclass(frozen=True)
class SignInKind:
    """A sign-in another app starts through these flows and finishes itself (registered in its AppConfig.ready()).

    `finish(state=, browser_key=, answer_key=, person=)` takes the flow (`flow_take`) and redeems its code;
    it raises IntegrationError (SignInRequired, FlowRefused, ...) as the flows here do. A refused answer sends a
    signed-in person to `back_url_name`.

    `respond(request, state=, browser_key=, answer_key=)`, when given, replaces `finish` and answers the request
    itself (Login with Microsoft signs the person in: it needs the request's session); it explains its own refusals.
    """

    kind: str
    finish: Callable[..., SignInFinished]
    back_url_name: str
    respond: Callable[..., HttpResponse] | None = None


_sign_in_kinds: dict[str, SignInKind] = {}


def sign_in_kind_register(sign_in: SignInKind) -> None:
    _sign_in_kinds[sign_in.kind] = sign_in


def sign_in_kind_of(state: str) -> SignInKind | None:
    """The registered kind of the flow with this `state`, if it is one."""
    kind = flow_kind_of(state)
    return _sign_in_kinds.get(kind) if kind else None


def flow_kind_of(state: str) -> str | None:
    return AuthorizationFlow.objects.filter(state=state).values_list("kind", flat=True).first() if state else None


def flow_tenant_of(state: str) -> Tenant | None:
    """The Roger tenant of the flow with this `state` (None when no flow has it): whose audit trail records an
    answer that flow_take refused, after it spent the flow."""
    flow = AuthorizationFlow.objects.filter(state=state).select_related("tenant").first()
    return flow.tenant if flow is not None else None


def flow_answer_record(*, params: dict[str, str]) -> AnswerReceipt | None:
    """Keep Microsoft's form_post answer for the finish step, and nothing more: this request is anonymous and
    cross-site (no cookie of ours), so it cannot know whose answer it is. None: no open sign-in has this state
    (the finish step explains)."""
    state = str(params.get("state", ""))
    if not state:
        return None
    with transaction.atomic():
        flow = (
            AuthorizationFlow.objects.select_for_update()
            .filter(state=state, kind__in=FlowKind.sign_ins(), status=FlowStatus.STARTED)
            .first()
        )
        if flow is None or flow.is_expired():
            return None
        answer_key, flow.answer_key_hash = binding.key_new()
        flow.answer = json.dumps(params)
        flow.status, flow.answered_at = FlowStatus.ANSWERED, timezone.now()
        flow.save(update_fields=["answer", "answer_key_hash", "status", "answered_at"])
    return AnswerReceipt(state=state, answer_key=answer_key)


def flow_take(
    *,
    state: str,
    kinds: Iterable[str],
    browser_key: str,
    answer_key: str | None,
    person: User | None,
) -> AuthorizationFlow:
    """The flow, spent, for the person whose browser started it. Raises ForeignBrowser (the flow is spent and
    nothing else happens), SignInRequired (the right browser, not signed in: nothing is spent), FlowRefused.

    A flow started anonymously (Login with Microsoft: no person on the row) is bound to its browser only, and
    `person` is not asked for.

    `answer_key` is None for answers that arrive straight at the finish step (admin consent's query)."""
    with transaction.atomic():
        flow = (
            AuthorizationFlow.objects.select_for_update(of=("self",))
            .select_related("integration", "feature", "feature__app_registration")
            .filter(state=state, kind__in=list(kinds))
            .first()
            if state
            else None
        )
        if flow is None:
            raise FlowRefused(
                "This answer from Microsoft does not belong to any request started in this portal (it may be forged "
                "or from an old browser tab), so nothing changed. Start again."
            )
        if flow.finished_at is not None:  # whoever presents it, a used flow is used: nothing to protect any more
            raise FlowRefused(f"This {_what(flow)} answer was already used, so nothing changed. Start it again.")
        foreign = not binding.key_matches(browser_key, flow.browser_key_hash)
        if not foreign and answer_key is not None and flow.status == FlowStatus.ANSWERED:
            foreign = not binding.key_matches(answer_key, flow.answer_key_hash)
        if foreign:
            _spend(flow, FlowStatus.FAILED, "The answer was finished in another browser than the one that started it.")
    if foreign:
        raise ForeignBrowser()
    anonymous = flow.admin_id is None
    if person is None and not anonymous:
        raise SignInRequired()
    with transaction.atomic():
        flow = AuthorizationFlow.objects.select_for_update(of=("self",)).get(pk=flow.pk)
        _refuse_unusable(flow, None if anonymous else person, answer_key is not None)
        _spend(flow, FlowStatus.ANSWERED, "")
    return flow


def _refuse_unusable(flow: AuthorizationFlow, person: User | None, answered_by_post: bool) -> None:
    """`person` None: the flow was started anonymously, and only its browser counts."""
    what = _what(flow)
    if person is not None and flow.kind not in FlowKind.for_anyone() and not person.is_tenant_admin:
        raise FlowRefused(f"Only a tenant admin can finish this {what}, so nothing changed.")
    if person is not None and (flow.tenant_id != person.tenant_id or flow.admin_id != person.pk):
        raise FlowRefused(
            f"This {what} answer belongs to a request started by someone else, so it was ignored and nothing "
            f"changed. Start the {what} yourself."
        )
    if flow.finished_at is not None:
        raise FlowRefused(f"This {what} answer was already used, so nothing changed. Start the {what} again.")
    if answered_by_post and flow.status == FlowStatus.STARTED:
        raise FlowRefused(f"Microsoft has not answered this {what} (it may have expired), so nothing changed.")
    if flow.is_expired():
        raise FlowRefused(f"The {what} took longer than 15 minutes and expired, so nothing changed. Start it again.")


def _what(flow: AuthorizationFlow) -> str:
    return WHAT.get(FlowKind(flow.kind), "sign-in")


def _spend(flow: AuthorizationFlow, status: str, reason: str) -> None:
    flow.finished_at = timezone.now()
    flow.status = status
    if reason:
        flow.error_message = reason
        flow.answer = flow.msal_flow = ""  # a refused answer's code and verifier are never used
    flow.save(update_fields=["finished_at", "status", "error_message", "answer", "msal_flow"])


def sign_in_redeem(
    flow: AuthorizationFlow,
    *,
    app: AppCredentials,
    authority: str,
    expected_tenant_id: str | None,
    allow_personal_accounts: bool,
    cancelled: str = "",
) -> identity.TokenGrant:
    """Redeem the code of a taken sign-in (one call; the id token is validated). Raises MicrosoftError, also
    when Microsoft answered with an error instead of a code; `cancelled` explains a sign-in the person cancelled."""
    params = flow_answer_params(flow)
    if params.get("error"):
        error = microsoft_errors.classify(
            {"error": params.get("error", ""), "error_description": params.get("error_description", "")}
        )
        if cancelled and error.code is None and params.get("error") in ("access_denied", "consent_required"):
            raise microsoft_errors.ReconsentRequired(cancelled)
        raise error
    return identity.auth_code_finish(
        app=app,
        tenant=authority,
        flow=flow_msal_flow(flow),
        callback_params=params,
        expected_tenant_id=expected_tenant_id,
        allow_personal_accounts=allow_personal_accounts,
    )


def flow_answer_params(flow: AuthorizationFlow) -> dict[str, str]:
    answer: dict[str, str] = json.loads(flow.answer or "{}")
    return answer


def flow_msal_flow(flow: AuthorizationFlow) -> dict[str, Any]:
    msal_flow: dict[str, Any] = json.loads(flow.msal_flow or "{}")
    return msal_flow


def flow_close(flow: AuthorizationFlow, *, error: str = "", **results: Any) -> None:
    """Record how a taken flow ended; its code and PKCE verifier are spent either way."""
    flow.status = FlowStatus.FAILED if error else FlowStatus.DONE
    flow.error_message = error
    flow.answer = flow.msal_flow = ""
    for name, value in results.items():
        setattr(flow, name, value)
    flow.save()
