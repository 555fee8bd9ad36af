"""Exchange Online's IMAP and POP3, served by a private Dovecot instance that the emulator starts and stops.

Dovecot listens with implicit TLS (imaps, pop3s: what Exchange offers on 993/995) on a certificate of the emulator's
CA, and on plain ports with STARTTLS for the "custom server" cases. XOAUTH2 sign-ins go to Dovecot's ``oauth2``
passdb, which asks the emulator's ``POST /introspect?protocol=imap|pop3[&mailbox=...]`` whether the token is an
Outlook token with the IMAP or POP scope for that mailbox (see ``mailbox_introspection``). Dovecot's oauth2 passdb
cannot pass the requested mailbox to the introspection endpoint, so each shared mailbox gets its own passdb
(``username_filter``) with its own introspection URL. Accounts with passwords (custom servers) live in a
passwd-file that the control API writes.

Other in-process servers hand mail to Dovecot with :func:`deliver` (the SMTP server does, for mail addressed to one
of the emulator's mailboxes).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from m365_emulator.crypto import TlsFiles
from m365_emulator.scopes import OUTLOOK_AUDIENCES

log = logging.getLogger("m365_emulator.dovecot")

DOVECOT = "dovecot"
DOVEADM = "doveadm"
PROTOCOL_SCOPES = {"imap": "IMAP.AccessAsUser.All", "pop3": "POP.AccessAsUser.All"}
APP_ROLES = {"imap": "IMAP.AccessAsApp", "pop3": "POP.AccessAsApp"}
# Unix socket paths are limited to 108 bytes; Dovecot appends names such as "login/imap-urlauth".
_MAX_BASE_DIR = 70


class DovecotError(RuntimeError):
    pass


@dataclass(frozen=True)
class MailPorts:
    imaps: int
    pop3s: int
    imap: int  # plain, STARTTLS offered
    pop3: int  # plain, STLS offered

    def as_json(self) -> dict[str, int]:
        return {"imaps_port": self.imaps, "pop3s_port": self.pop3s, "imap_port": self.imap, "pop3_port": self.pop3}


@dataclass
class Dovecot:
    """One Dovecot instance: its files under ``root``, its sockets under a short ``base_dir``."""

    root: Path
    tls: TlsFiles
    introspection_base: str  # the emulator's plain-HTTP listener, e.g. http://127.0.0.1:8081
    shared_mailboxes: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    instance_name: str = field(default_factory=lambda: f"m365emu-{os.getpid()}-{secrets.token_hex(3)}")
    ports: MailPorts | None = None
    base_dir: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _process: subprocess.Popen[bytes] | None = None
    _private_root: Path | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def passwd_path(self) -> Path:
        return self.root / "passwd"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> MailPorts:
        if shutil.which(DOVECOT, path=_sbin_path()) is None:
            raise DovecotError(
                "Dovecot is not installed: run `bash scripts/apt-ensure.sh dovecot dovecot-imapd "
                "dovecot-pop3d` (make run and make test do)."
            )
        self._place_root()
        (self.root / "mail").mkdir(exist_ok=True)
        self.base_dir = self._choose_base_dir()
        self.passwd_path.touch(exist_ok=True)
        self.ports = MailPorts(*(_free_port(self.host) for _ in range(4)))
        self._write_config()
        self._chown_mail_root()
        with (self.root / "master.out").open("ab") as out:
            # Foreground (-F): the master is our child, so it is ours to stop and never outlives a clean exit.
            self._process = subprocess.Popen(
                [_binary(DOVECOT), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._wait_listening(timeout)
        log.info(
            "Dovecot %s: imaps %s, pop3s %s (plain with STARTTLS: imap %s, pop3 %s)",
            self.instance_name,
            self.ports.imaps,
            self.ports.pop3s,
            self.ports.imap,
            self.ports.pop3,
        )
        return self.ports

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # the master stops its children (shutdown_clients = yes)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for temporary in (self.base_dir, self._private_root):
            if temporary is not None and temporary.parent == Path(tempfile.gettempdir()):
                shutil.rmtree(temporary, ignore_errors=True)

    # --- mail -----------------------------------------------------------------------------------------

    def deliver(self, mailbox: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into a mailbox's folder (created when missing)."""
        self._doveadm(["mailbox", "create", "-u", mailbox, folder], check=False)
        self._doveadm(["save", "-u", mailbox, "-m", folder], stdin=raw)

    def create_folder(self, mailbox: str, folder: str, uidvalidity: int | None = None) -> None:
        """Create a folder; `uidvalidity` gives it that UIDVALIDITY (as two servers, or Exchange's folders, may
        well share one) instead of Dovecot's own."""
        self._doveadm(["mailbox", "create", "-u", mailbox, folder], check=False)
        if uidvalidity is not None:
            self._doveadm(["mailbox", "update", "-u", mailbox, "--uid-validity", str(uidvalidity), folder])

    def messages(self, mailbox: str) -> list[dict[str, Any]]:
        """Every message of a mailbox: folder, uid, flags and subject (for tests and the demo)."""
        out = self._doveadm(["-f", "tab", "fetch", "-u", mailbox, "mailbox uid flags hdr.subject", "all"], check=False)
        lines = out.decode(errors="replace").splitlines()
        result = []
        for line in lines[1:]:
            parts = line.split("\t")
            if len(parts) >= 4:
                result.append(
                    {"folder": parts[0], "uid": int(parts[1]), "flags": parts[2].split(), "subject": parts[3]}
                )
        return result

    def set_password(self, address: str, password: str) -> None:
        """Create or change a password account (the "custom server" case): user name = address."""
        if any(c in address + password for c in ":\n"):
            raise ValueError("addresses and passwords must not contain ':' or newlines")
        with self._lock:
            lines = [
                line
                for line in self.passwd_path.read_text().splitlines()
                if line and line.split(":", 1)[0] != address.lower()
            ]
            lines.append(f"{address.lower()}:{{PLAIN}}{password}")
            tmp = self.passwd_path.with_suffix(".tmp")
            tmp.write_text("\n".join(lines) + "\n")
            tmp.replace(self.passwd_path)

    # --- internals ------------------------------------------------------------------------------------

    def _place_root(self) -> None:
        """Started by root, Dovecot's processes run as the dovecot user, which cannot enter a private state dir
        (pytest's are 0700): the files then live in a world-traversable temp dir that ``root`` links to."""
        if os.geteuid() != 0:
            self.root.mkdir(parents=True, exist_ok=True)
            return
        if self.root.is_symlink() and self.root.resolve().name.startswith("m365dc-"):
            _remove(self.root.resolve())  # left behind by an emulator that was killed
        if self.root.is_symlink() or self.root.exists():
            _remove(self.root)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix="m365dc-"))
        private.chmod(0o755)
        self.root.symlink_to(private, target_is_directory=True)
        self._private_root = self.root = private

    def _choose_base_dir(self) -> Path:
        preferred = self.root / "run"
        if len(str(preferred.resolve())) <= _MAX_BASE_DIR:
            preferred.mkdir(exist_ok=True)
            return preferred
        return Path(tempfile.mkdtemp(prefix="m365dc-"))

    def _wait_listening(self, timeout: float) -> None:
        assert self.ports is not None and self._process is not None
        deadline = time.monotonic() + timeout
        for port in (self.ports.imaps, self.ports.pop3s, self.ports.imap, self.ports.pop3):
            while True:
                if self._process.poll() is not None:
                    raise DovecotError(
                        f"Dovecot exited with {self._process.returncode}: "
                        f"{(self.root / 'master.out').read_text(errors='replace')[-2000:]}"
                    )
                try:
                    with socket.create_connection((self.host, port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise DovecotError(f"Dovecot did not listen on {port}; see {self.log_path}") from None
                    time.sleep(0.05)

    def _run(self, command: list[str], stdin: bytes | None = None, check: bool = True) -> bytes:
        result = subprocess.run(command, input=stdin, capture_output=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise DovecotError(
                f"{' '.join(command[:4])}... failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout

    def _doveadm(self, args: list[str], stdin: bytes | None = None, check: bool = True) -> bytes:
        return self._run([_binary(DOVEADM), "-c", str(self.config_path), *args], stdin=stdin, check=check)

    def _mail_owner(self) -> tuple[str, str]:
        """Dovecot refuses root for mail access: run mail as the dovecot user when started by root."""
        if os.geteuid() == 0:
            return "dovecot", "dovenull"
        name = pwd.getpwuid(os.geteuid()).pw_name
        return name, name

    def _chown_mail_root(self) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("dovecot")
            os.chown(self.root / "mail", entry.pw_uid, entry.pw_gid)

    def _introspection_url(self, protocol: str, mailbox: str | None = None) -> str:
        url = f"{self.introspection_base.rstrip('/')}/introspect?protocol={protocol}"
        return url + (f"&mailbox={quote(mailbox)}" if mailbox else "")

    def _write_oauth2_ext(self, name: str, url: str) -> Path:
        path = self.root / f"oauth2-{name}.conf.ext"
        path.write_text(
            f"introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n"
            "username_format = %Lu\nactive_attribute = active\nactive_value = true\ntimeout_msecs = 10000\n"
        )
        return path

    def _oauth2_passdbs(self, protocol: str) -> str:
        blocks = []
        for index, mailbox in enumerate(self.shared_mailboxes):
            ext = self._write_oauth2_ext(f"{protocol}-shared{index}", self._introspection_url(protocol, mailbox))
            blocks.append(
                f"  passdb {{\n    driver = oauth2\n    mechanisms = xoauth2 oauthbearer\n"
                f"    username_filter = {mailbox.lower()}\n    args = {ext}\n  }}\n"
            )
        ext = self._write_oauth2_ext(protocol, self._introspection_url(protocol))
        blocks.append(
            f"  passdb {{\n    driver = oauth2\n    mechanisms = xoauth2 oauthbearer\n    args = {ext}\n  }}\n"
        )
        return "".join(blocks)

    def _write_config(self) -> None:
        assert self.ports is not None and self.base_dir is not None
        mail_user, login_user = self._mail_owner()
        password_passdb = (
            f"  passdb {{\n    driver = passwd-file\n    mechanisms = plain login\n"
            f"    args = scheme=PLAIN username_format=%Lu {self.passwd_path}\n  }}\n"
        )
        config = f"""# Written by m365_emulator.dovecot for one emulator run; do not edit.
instance_name = {self.instance_name}
base_dir = {self.base_dir}
state_dir = {self.root / "state"}
log_path = {self.log_path}
protocols = imap pop3
listen = {self.host}
shutdown_clients = yes
default_internal_user = {mail_user}
default_login_user = {login_user}
first_valid_uid = 1
ssl = yes
ssl_cert = <{self.tls.cert_path}
ssl_key = <{self.tls.key_path}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_failure_delay = 0
auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Lu
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
imap_capability = +MOVE
{password_passdb}userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={self.root / "mail"}/%Lu allow_all_users=yes
}}
protocol imap {{
  login_greeting = The Microsoft Exchange IMAP4 service is ready.
{self._oauth2_passdbs("imap")}}}
protocol pop3 {{
  login_greeting = The Microsoft Exchange POP3 service is ready.
{self._oauth2_passdbs("pop3")}}}
service imap-login {{
  inet_listener imap {{
    port = {self.ports.imap}
  }}
  inet_listener imaps {{
    port = {self.ports.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.ports.pop3}
  }}
  inet_listener pop3s {{
    port = {self.ports.pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        self.config_path.write_text(config)


def mailbox_introspection(
    claims: dict[str, Any] | None, *, protocol: str, mailbox: str | None, can_open: Any
) -> dict[str, Any]:
    """The introspection answer Dovecot's oauth2 passdb gets for an XOAUTH2 sign-in.

    Exchange accepts an access token for IMAP or POP only when its audience is Outlook, it carries the protocol's
    delegated scope (or the app role for app-only tokens), and the mailbox is the user's own or one they can open.
    ``can_open(claims, mailbox)`` answers the last question.
    """
    if claims is None or protocol not in PROTOCOL_SCOPES:
        return {"active": False}
    if str(claims.get("aud", "")).rstrip("/") not in OUTLOOK_AUDIENCES:
        return {"active": False, "reason": "the token's audience is not Outlook"}
    scopes = str(claims.get("scp", "")).split()
    roles = claims.get("roles") or []
    if PROTOCOL_SCOPES[protocol] not in scopes and APP_ROLES[protocol] not in roles:
        return {"active": False, "reason": f"the token lacks {PROTOCOL_SCOPES[protocol]}"}
    username = mailbox or str(claims.get("upn") or "")
    if mailbox and not can_open(claims, mailbox):
        return {"active": False, "reason": f"{claims.get('upn')} cannot open {mailbox}"}
    return {"active": True, "username": username.lower(), "scope": " ".join(scopes), "aud": claims.get("aud")}


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])


def _binary(name: str) -> str:
    return shutil.which(name, path=_sbin_path()) or name


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the emulator process dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --- the running instance, for the other in-process servers -------------------------------------------------

_running: Dovecot | None = None


def set_running(instance: Dovecot | None) -> None:
    global _running
    _running = instance


def running() -> Dovecot:
    if _running is None:
        raise DovecotError("Dovecot is not running in this emulator process")
    return _running


def deliver(mailbox: str, raw: bytes) -> None:
    """Deliver a message to the INBOX of one of the emulator's mailboxes (called by the SMTP server)."""
    running().deliver(mailbox.strip().lower(), raw)


# --- wiring into the emulator process ----------------------------------------------------------------------


def start_for_emulator(state: Any, tls: TlsFiles, state_dir: Path, http_url: str, host: str) -> Dovecot | None:
    """Start Dovecot for this emulator run; None (logged) when Dovecot is not installed."""
    mailboxes = [m.address for m in getattr(state.seed, "mailboxes", []) if getattr(m, "send_as", None)]
    instance = Dovecot(
        root=state_dir / "dovecot",
        tls=tls,
        introspection_base=http_url,
        shared_mailboxes=mailboxes,
        host="127.0.0.1" if host in ("0.0.0.0", "") else host,  # noqa: S104 - a display mapping, not a bind
    )
    try:
        instance.start()
    except DovecotError as exc:
        log.error("IMAP and POP3 are unavailable: %s", exc)
        instance.stop()
        return None
    _seed_passwords(instance, state)
    if hasattr(state, "on_reset"):
        state.on_reset.append(lambda: _reset(instance, state))
    set_running(instance)
    return instance


def stop_running() -> None:
    if _running is not None:
        _running.stop()
        set_running(None)


def _seed_passwords(instance: Dovecot, state: Any) -> None:
    instance.passwd_path.write_text("")
    for mailbox in getattr(state.seed, "mailboxes", []):
        if getattr(mailbox, "smtp_password", None):
            instance.set_password(mailbox.address, mailbox.smtp_password)


def _reset(instance: Dovecot, state: Any) -> None:
    """A control reset empties every mailbox and forgets password accounts added since start."""
    for home in (instance.root / "mail").iterdir():
        shutil.rmtree(home, ignore_errors=True)
    _seed_passwords(instance, state)


def can_open(state: Any, claims: dict[str, Any], mailbox: str) -> bool:
    """A user opens their own mailbox, and shared mailboxes that list them (``send_as`` in the seed)."""
    upn = str(claims.get("upn") or "").lower()
    address = mailbox.strip().lower()
    if address == upn:
        return True
    for user in state.users.values():
        if user.upn == upn and user.mail.lower() == address:
            return True
    return any(
        m.address == address and upn in m.send_as and m.directory == claims.get("tid")
        for m in getattr(state.seed, "mailboxes", [])
    )


def introspection(state: Any, token: str, *, protocol: str, mailbox: str | None) -> dict[str, Any]:
    claims = state.access_token_claims(token) if token else None
    return mailbox_introspection(
        claims, protocol=protocol, mailbox=mailbox, can_open=lambda c, m: can_open(state, c, m)
    )


# --- control API: put mail in a mailbox, read it back, manage password accounts -------------------------------


async def _control_body(request: Request) -> dict[str, Any]:
    payload: dict[str, Any] = dict(request.query_params)
    if request.method == "POST" and await request.body():
        payload.update(await request.json())
    return payload


def _control_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def control_put_message(request: Request) -> Response:
    """POST /_control/mailboxes/messages {mailbox, raw (base64) | text, folder}: deliver a message."""
    payload = await _control_body(request)
    mailbox, folder = str(payload.get("mailbox") or ""), str(payload.get("folder") or "INBOX")
    if not mailbox or not (payload.get("raw") or payload.get("text")):
        return _control_error("mailbox and raw (base64) or text are required")
    raw = base64.b64decode(payload["raw"]) if payload.get("raw") else str(payload["text"]).encode()
    try:
        await run_in_threadpool(running().deliver, mailbox.lower(), raw, folder)
    except DovecotError as exc:
        return _control_error(str(exc), 503)
    return JSONResponse({"ok": True})


async def control_list_messages(request: Request) -> Response:
    """GET /_control/mailboxes/messages?mailbox=...: folder, uid, flags and subject of every message."""
    mailbox = request.query_params.get("mailbox", "").lower()
    if not mailbox:
        return _control_error("mailbox is required")
    try:
        return JSONResponse(await run_in_threadpool(running().messages, mailbox))
    except DovecotError as exc:
        return _control_error(str(exc), 503)


async def control_create_folder(request: Request) -> Response:
    """POST /_control/mailboxes/folders {mailbox, folder, uidvalidity (optional)}."""
    payload = await _control_body(request)
    if not payload.get("mailbox") or not payload.get("folder"):
        return _control_error("mailbox and folder are required")
    try:
        uidvalidity = int(payload["uidvalidity"]) if payload.get("uidvalidity") is not None else None
    except (TypeError, ValueError):
        return _control_error("uidvalidity must be a positive integer")
    mailbox, folder = str(payload["mailbox"]).lower(), str(payload["folder"])
    try:
        await run_in_threadpool(running().create_folder, mailbox, folder, uidvalidity)
    except DovecotError as exc:
        return _control_error(str(exc), 503)
    return JSONResponse({"ok": True})


async def control_set_password(request: Request) -> Response:
    """POST /_control/mailboxes/passwords {address, password}: an account of a "custom" IMAP/POP3 server."""
    payload = await _control_body(request)
    if not payload.get("address") or not payload.get("password"):
        return _control_error("address and password are required")
    try:
        running().set_password(str(payload["address"]), str(payload["password"]))
    except ValueError as exc:
        return _control_error(str(exc))
    return JSONResponse({"ok": True})


routes = [
    Route("/_control/mailboxes/messages", control_put_message, methods=["POST"]),
    Route("/_control/mailboxes/messages", control_list_messages, methods=["GET"]),
    Route("/_control/mailboxes/folders", control_create_folder, methods=["POST"]),
    Route("/_control/mailboxes/passwords", control_set_password, methods=["POST"]),
]
