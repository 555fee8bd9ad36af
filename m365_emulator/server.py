"""Process entry point: key material, the same app on an HTTPS and a plain-HTTP listener, emulator.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Generator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from m365_emulator import dovecot
from m365_emulator import state as state_module
from m365_emulator.app import build_app
from m365_emulator.crypto import TlsFiles, ensure_tls, load_signing_key
from m365_emulator.smtp import SmtpListeners
from m365_emulator.state import State

log = logging.getLogger("m365_emulator")


class _Server(uvicorn.Server):
    """uvicorn server whose signal handling is left to ``serve_both`` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so, and with Nagle on
    # every answer waits for the client's delayed ACK (40 ms a request).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(scheme: str, host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - only a display mapping
    return f"{scheme}://{shown}:{port}"


def write_atomically(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _config(app: ASGIApp, tls: TlsFiles | None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        http="h11",
        ws="none",
        lifespan="off",
        access_log=False,
        # Idle TLS keep-alive clients never answer close_notify; don't wait 30 s for them on shutdown.
        timeout_graceful_shutdown=1,
        ssl_certfile=str(tls.cert_path) if tls else None,
        ssl_keyfile=str(tls.key_path) if tls else None,
    )


async def serve_both(
    app: ASGIApp,
    tls: TlsFiles,
    https_sock: socket.socket,
    http_sock: socket.socket,
    ready_file: Path,
    ready_payload: dict[str, object],
) -> None:
    https, http = _Server(_config(app, tls)), _Server(_config(app, None))
    servers = (https, http)

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.create_task(https.serve([https_sock])), asyncio.create_task(http.serve([http_sock]))]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    if all(s.started for s in servers):
        write_atomically(ready_file, ready_payload)
    await asyncio.gather(*tasks)
    with contextlib.suppress(FileNotFoundError):
        ready_file.unlink()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m m365_emulator", description=__doc__)
    parser.add_argument("--seed", type=Path, required=True, help="seed JSON (see docs/emulator.md)")
    parser.add_argument("--state-dir", type=Path, required=True, help="keeps the CA, keys and emulator.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--https-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--smtp-port", type=int, default=0, help="SMTP submission with STARTTLS; 0 picks a free port")
    parser.add_argument("--smtps-port", type=int, default=0, help="SMTP with implicit TLS; 0 picks a free port")
    parser.add_argument("--mx-port", type=int, default=0, help="inbound SMTP (Exchange's MX); 0 picks a free port")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "emulator.json"
    with contextlib.suppress(FileNotFoundError):
        ready_file.unlink()
    tls = ensure_tls(state_dir)
    https_sock, http_sock = _bind(args.host, args.https_port), _bind(args.host, args.http_port)
    https_url, http_url = _url("https", args.host, https_sock), _url("http", args.host, http_sock)
    state = State(
        seed_path=args.seed.resolve(),
        signing_key=load_signing_key(state_dir),
        https_base=https_url,
        http_base=http_url,
        state_dir=state_dir,
    )
    state_module.set_current(state)
    smtp = SmtpListeners(
        state, tls, host=args.host, port=args.smtp_port, smtps_port=args.smtps_port, mx_port=args.mx_port
    )
    smtp.start()
    payload: dict[str, object] = {
        "https_url": https_url,
        "http_url": http_url,
        "ca_path": str(tls.ca_path),
        "pid": os.getpid(),
        "smtp_host": "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host,  # noqa: S104 - display mapping
        "smtp_port": smtp.port,
        "smtps_port": smtp.smtps_port,
        "mx_port": smtp.mx_port,
    }
    log.info("M365 emulator: %s (MSAL authority host) and %s (browser pages)", https_url, http_url)
    mail = dovecot.start_for_emulator(state, tls, state_dir, http_url, args.host)
    if mail is not None and mail.ports is not None:
        payload.update({"mail_host": mail.host, **mail.ports.as_json()})
    try:
        asyncio.run(serve_both(build_app(state), tls, https_sock, http_sock, ready_file, payload))
    finally:
        dovecot.stop_running()
