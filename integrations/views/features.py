"""One feature of an integration: enable it (asking for consent first when it has none), disable it, consent."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_admin_required
from integrations import selectors
from integrations.browser_flows import flow_started
from integrations.errors import ConsentMissing, IntegrationError
from integrations.models import Feature
from integrations.services import consent as consent_services
from integrations.services import features as feature_services
from integrations.views.common import admin_of, back_to_detail, tenant_of


def _feature(request: HttpRequest, pk: int, feature_pk: int) -> Feature:
    return selectors.feature_get(tenant=tenant_of(request), integration_pk=pk, pk=feature_pk)


def _start_consent(request: HttpRequest, feature: Feature, *, enable_after: bool) -> HttpResponse:
    return flow_started(
        request,
        lambda: consent_services.consent_start(feature=feature, admin=admin_of(request), enable_after=enable_after),
        back=back_to_detail(feature.integration),
    )


@tenant_admin_required
@require_POST
def feature_enable(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature = _feature(request, pk, feature_pk)
    try:
        feature_services.feature_enable(feature=feature)
    except ConsentMissing:
        # Enabling asks for consent first; the feature is enabled when the consent comes back.
        return _start_consent(request, feature, enable_after=True)
    except IntegrationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{feature.spec.label} enabled.")
    return back_to_detail(feature.integration)


@tenant_admin_required
@require_POST
def feature_disable(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    feature = _feature(request, pk, feature_pk)
    left_behind = feature_services.feature_disable(feature=feature)
    messages.success(request, f"{feature.spec.label} disabled. Its consent is kept, so you can enable it again.")
    for warning in left_behind:
        messages.warning(request, warning)
    return back_to_detail(feature.integration)


@tenant_admin_required
@require_POST
def feature_consent(request: HttpRequest, pk: int, feature_pk: int) -> HttpResponse:
    return _start_consent(request, _feature(request, pk, feature_pk), enable_after=False)
