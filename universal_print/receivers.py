"""Universal Print follows its feature (integrations.signals): the connection wakes when the feature is enabled;
disabling it or deleting its integration tells the admin which printers' jobs will wait in Universal Print."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.dispatch import receiver

from integrations.choices import FeatureType
from integrations.signals import feature_disabled, feature_enabled, integration_delete_warnings, integration_deleting
from universal_print.models import Connection
from universal_print.services.connections import connection_for, connection_waiting_check, connection_wake

if TYPE_CHECKING:
    from integrations.models import Feature, Integration


def _is_universal_print(feature: Feature) -> bool:
    return feature.feature_type == FeatureType.UNIVERSAL_PRINT


@receiver(feature_enabled)
def _connection_wakes(sender: Any, *, feature: Feature, **kwargs: Any) -> None:
    if _is_universal_print(feature) and feature.directory_id:
        connection_wake(connection_for(feature))


@receiver(feature_disabled)
def _jobs_will_wait(sender: Any, *, feature: Feature, **kwargs: Any) -> str:
    if not _is_universal_print(feature):
        return ""
    said = [connection_waiting_check(c) for c in Connection.objects.filter(feature=feature)]
    return " ".join(s for s in said if s)


def _taking_printers(integration: Integration) -> list[str]:
    features = integration.features.filter(feature_type=FeatureType.UNIVERSAL_PRINT)
    connections = Connection.objects.filter(feature__in=features)
    return [
        printer.windows_name
        for connection in connections
        for printer in connection.printers.exclude(trigger_id="").filter(removed_at__isnull=True)
    ]


@receiver(integration_delete_warnings)
def _printers_still_on(sender: Any, *, integration: Integration, **kwargs: Any) -> str:
    names = _taking_printers(integration)
    if not names:
        return ""
    listed = ", ".join(f"“{name}”" for name in names)
    return (
        f"Universal Print takes the jobs of {listed}. Turn them off on the Universal Print page first (a Printer "
        "Administrator signs in): once this integration is deleted, jobs sent to them wait in Universal Print and "
        "are not printed until their task triggers are removed."
    )


@receiver(integration_deleting)
def _jobs_wait_after_deletion(sender: Any, *, integration: Integration, **kwargs: Any) -> str:
    features = integration.features.filter(feature_type=FeatureType.UNIVERSAL_PRINT)
    connections = list(Connection.objects.filter(feature__in=features))
    Connection.objects.filter(pk__in=[c.pk for c in connections]).update(feature=None)
    said = []
    for connection in connections:
        connection.feature = None
        said.append(connection_waiting_check(connection))
    return " ".join(s for s in said if s)
