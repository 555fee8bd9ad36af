"""Records every request the emulator receives and injects the faults queued through the control API.

A pure ASGI middleware, outermost, so that it sees the raw body and can drop the TCP connection itself. Only form
bodies are read here (the log keeps their fields); every other body streams through to the endpoint, so a
60 MiB upload fragment is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from m365_emulator import errors
from m365_emulator.graph.base import fault_body as graph_fault_body
from m365_emulator.state import Fault, RequestRecord, State

ENDPOINT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("control", re.compile(r"^/_control(/|$)")),
    ("instance_discovery", re.compile(r"^/common/discovery/instance/?$")),
    ("discovery", re.compile(r"^/[^/]+/v2\.0/\.well-known/openid-configuration$")),
    ("keys", re.compile(r"^/[^/]+/discovery/v2\.0/keys$")),
    ("token", re.compile(r"^/[^/]+/oauth2/v2\.0/token$")),
    ("devicecode", re.compile(r"^/[^/]+/oauth2/v2\.0/devicecode$")),
    ("authorize", re.compile(r"^/[^/]+/oauth2/v2\.0/authorize$")),
    ("logout", re.compile(r"^/[^/]+/oauth2/v2\.0/logout$")),
    ("adminconsent", re.compile(r"^/[^/]+/(v2\.0/)?adminconsent$")),
    ("devicelogin", re.compile(r"^/devicelogin$")),
    ("login", re.compile(r"^/common/login$")),
    ("consent", re.compile(r"^/common/Consent/Set$")),
    ("introspect", re.compile(r"^/introspect$")),
    ("graph", re.compile(r"^/graph(/|$)")),
    ("print_download", re.compile(r"^/print-downloads/")),
    ("onedrive_upload", re.compile(r"^/onedrive/up/")),
    ("onedrive_download", re.compile(r"^/onedrive/download/")),
]
# Endpoints whose injected faults answer with Graph's error JSON rather than Entra's.
GRAPH_ERROR_ENDPOINTS = frozenset({"graph", "onedrive_upload", "onedrive_download"})


def endpoint_of(path: str) -> str:
    for name, pattern in ENDPOINT_PATTERNS:
        if pattern.match(path):
            return name
    return "other"


class EmulatorMiddleware:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_of(scope["path"])
        if endpoint == "control":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        body = await _read_body(receive) if is_form else b""
        record = self._record(scope, headers, body, endpoint)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        downstream = replay if is_form else receive
        fault = self.state.take_fault(endpoint)
        if fault is not None and await self._apply_fault(fault, scope, receive, downstream, send, record, is_form):
            return

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        await self.app(scope, downstream, send_and_note)

    def _record(self, scope: Scope, headers: dict[str, str], body: bytes, endpoint: str) -> RequestRecord:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if body else {}
        record = RequestRecord(
            at=self.state.now(),
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers=headers,
            form=form,
            endpoint=endpoint,
            scheme=scope.get("scheme", "http"),
        )
        with self.state.lock:
            self.state.requests.append(record)
        return record

    async def _apply_fault(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        downstream: Receive,
        send: Send,
        record: RequestRecord,
        body_read: bool,
    ) -> bool:
        """Apply ``fault``; True when the request was answered (or dropped) here.

        ``receive`` is the server's (to drop its connection), ``downstream`` what the endpoint reads the body from.
        """
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.lose_response:
            await self._process_then_drop(scope, receive, downstream, record)
            return True
        if fault.drop:
            _drop_connection(receive)
            await asyncio.sleep(0)
            record.status = 0
            return True
        if fault.status:
            if not body_read:
                await _read_body(receive, keep=False)  # a client still sending would see a reset, not the status
            await self._send_fault_status(fault, send, record)
            return True
        return False

    async def _process_then_drop(
        self, scope: Scope, receive: Receive, downstream: Receive, record: RequestRecord
    ) -> None:
        """The endpoint does its work, then the connection drops before the answer: the client cannot tell whether
        the request took effect (a worker killed right after an upload's last fragment)."""

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]

        await self.app(scope, downstream, swallow)
        _drop_connection(receive)
        await asyncio.sleep(0)

    async def _send_fault_status(self, fault: Fault, send: Send, record: RequestRecord) -> None:
        status = fault.status or 500
        headers: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store, no-cache")]
        if record.endpoint in GRAPH_ERROR_ENDPOINTS:  # Graph's error JSON, not Entra's
            body, request_id = graph_fault_body(
                status, client_request_id=record.headers.get("client-request-id"), moment=self.state.clock.utcnow()
            )
            headers.append((b"request-id", request_id.encode()))
        else:
            error = errors.throttled() if status == 429 else errors.service_error(status)
            error.status = status
            body = error.body(moment=self.state.clock.utcnow(), correlation_id=None, error_base=self.state.https_base)
        payload = json.dumps(body).encode()
        headers += [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(fault.retry_after).encode()))
        record.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive, *, keep: bool = True) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        if keep:
            chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _drop_connection(receive: Any) -> None:
    # uvicorn's receive is a bound method of the request cycle, which holds the asyncio transport.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("cannot reach the transport to drop the connection")
    transport.abort()
