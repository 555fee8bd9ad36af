"""What the integrations pages share: who asks, where to go back, the set-up facts they show."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect

from integrations.errors import IntegrationError
from integrations.forms import ManualIntegrationForm
from integrations.models import Integration
from integrations.services import integrations as integration_services
from integrations.services.flows import callback_url
from microsoft import directory_roles

if TYPE_CHECKING:
    from accounts.models import Tenant, User

# Which field an AADSTS code points at, so the message sits next to what must change.
FIELD_FOR_CODE = {90002: "directory", 700016: "application_id", 7000215: "client_secret", 7000222: "client_secret"}


def admin_of(request: HttpRequest) -> User:
    return cast("User", request.user)  # tenant_admin_required guarantees a signed-in tenant admin


def tenant_of(request: HttpRequest) -> Tenant:
    return cast("Tenant", request.tenant)  # type: ignore[attr-defined]


def back_to_detail(integration: Integration) -> HttpResponseRedirect:
    return redirect("integrations:detail", pk=integration.pk)


def redirect_uris() -> list[str]:
    """The sign-in and consent callbacks, and the sign-in page, where Microsoft sends the browser back after signing
    out of Microsoft too (Login with Microsoft's `post_logout_redirect_uri`)."""
    return [
        callback_url("integration_callbacks:select_tenant"),
        callback_url("integration_callbacks:consent"),
        callback_url("accounts:login"),
    ]


def graph_application_consenters() -> str:
    return directory_roles.names(directory_roles.APPLICATION_PERMISSION_CONSENTERS)


def prover_roles() -> str:
    return directory_roles.names(directory_roles.ADMINISTRATOR_ROLES)


def manual_setup_checked(
    form: ManualIntegrationForm, stored_secret: str = ""
) -> integration_services.CheckedSetup | None:
    """What the admin typed, checked with Microsoft; None: the form says why not."""
    try:
        return integration_services.manual_setup_check(setup=form.setup(), stored_secret=stored_secret)
    except IntegrationError as exc:
        form.add_error(FIELD_FOR_CODE.get(exc.code or 0), exc.message)
        return None
