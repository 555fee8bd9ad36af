"""A user connects their own OneDrive through the enabled OneDrive feature (the sign-in flow lives with the other
Microsoft flows). The My Settings > Cloud Services page itself is the OneDrive app's."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_member_required
from integrations import selectors
from integrations.browser_flows import flow_started
from integrations.services import cloud_services as cloud_services_services

if TYPE_CHECKING:
    from accounts.models import User

# The page moved to the OneDrive app: its old address (in emails already sent) still leads there.
CLOUD_SERVICES_PAGE = "onedrive:cloud_services"


@tenant_member_required
def cloud_services(request: HttpRequest) -> HttpResponse:
    return redirect(CLOUD_SERVICES_PAGE, permanent=True)


@tenant_member_required
@require_POST
def cloud_services_connect(request: HttpRequest, feature_pk: int) -> HttpResponse:
    user = cast("User", request.user)
    feature = selectors.user_feature_get(user=user, pk=feature_pk)
    return flow_started(
        request,
        lambda: cloud_services_services.user_connect_start(feature=feature, user=user),
        back=redirect(CLOUD_SERVICES_PAGE),
    )


@tenant_member_required
@require_POST
def cloud_services_dismiss(request: HttpRequest) -> HttpResponse:
    cloud_services_services.reconnect_notice_dismiss(user=cast("User", request.user))
    return redirect(CLOUD_SERVICES_PAGE)
