"""The request context: set per request, read by the audit trail, carried into Celery tasks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_record
from operations.celery_signals import PUBLISHED_AT_HEADER, _context_into_headers
from operations.context import (
    HEADER,
    RequestContext,
    context_bound,
    context_from_headers,
    context_headers,
    current_context,
)

pytestmark = pytest.mark.django_db
AUDIT = reverse("audit_log")


def test_every_answer_names_its_flow_and_a_client_cannot_choose_it(admin_a_client, settings):
    first = admin_a_client.get(AUDIT, HTTP_X_REQUEST_ID="chosen-by-the-client-123")
    second = admin_a_client.get(AUDIT)
    assert first.status_code == 200
    assert first["X-Request-ID"] != "chosen-by-the-client-123"
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_behind_a_trusted_proxy_its_request_id_is_the_flows(admin_a_client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    response = admin_a_client.get(AUDIT, HTTP_X_REQUEST_ID="proxy-request-0001")
    assert response["X-Request-ID"] == "proxy-request-0001"
    bad = admin_a_client.get(AUDIT, HTTP_X_REQUEST_ID="no spaces or\nnewlines")
    assert bad["X-Request-ID"] != "no spaces or\nnewlines"


def test_the_audit_trail_takes_actor_and_address_from_the_context(tenant_a, admin_a):
    context = RequestContext(correlation_id="flow-0001", client_address="203.0.113.9", actor_id=admin_a.pk)
    with context_bound(context):
        event = audit_record(tenant=tenant_a, action="test.done")
        system_event = audit_record(tenant=tenant_a, actor=None, action="test.system")
    assert (event.actor, event.actor_label, event.ip_address) == (admin_a, admin_a.email, "203.0.113.9")
    assert (system_event.actor, system_event.actor_label) == (None, "system")  # an explicit None stays the system
    outside = audit_record(tenant=tenant_a, action="test.outside")
    assert (outside.actor_label, outside.ip_address) == ("system", None)
    assert AuditEvent.objects.count() == 3


def test_the_context_goes_into_a_task_message_and_comes_back_in_the_worker(tenant_a, admin_a):
    headers: dict[str, object] = {}
    context = RequestContext(
        correlation_id="flow-0002", client_address="198.51.100.7", tenant_id=tenant_a.pk, actor_id=admin_a.pk
    )
    with context_bound(context):
        _context_into_headers(headers=headers)
    assert headers[HEADER] == context_headers(context)
    assert isinstance(headers[PUBLISHED_AT_HEADER], float)

    restored = context_from_headers(headers[HEADER])  # type: ignore[arg-type]
    assert (restored.correlation_id, restored.client_address, restored.tenant_id, restored.actor_id) == (
        "flow-0002",
        "198.51.100.7",
        tenant_a.pk,
        admin_a.pk,
    )
    assert current_context() is None


def test_a_task_queued_by_beat_starts_a_flow_of_its_own():
    first, second = context_from_headers(None), context_from_headers({"correlation_id": "bad id!"})
    assert first.correlation_id != second.correlation_id
    assert "bad" not in second.correlation_id and first.actor_id is None


def test_runservers_access_lines_lose_the_query_string():
    import logging

    from operations.logging import WithoutQueryString

    record = logging.LogRecord(
        "django.server",
        logging.WARNING,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /callback?code=s3cret HTTP/1.1", 404, 10),
        None,
    )
    WithoutQueryString().filter(record)
    assert record.getMessage() == '"GET /callback HTTP/1.1" 404 10'
