"""Start the emulator from tests and scripts, and drive it through its control API.

with start_emulator(Path("m365_emulator/seeds/test.json"), tmp_path) as emu:
    emu.control.approve_device_code(user_code, "admin@contoso.onmicrosoft.com")
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from m365_emulator.seed import load_seed

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = Path(__file__).resolve().parent / "seeds"


MAIL_PORT_KEYS = ("imaps_port", "pop3s_port", "imap_port", "pop3_port")


class EmulatorControlError(RuntimeError):
    pass


def trusting_session(ca_path: Path | str) -> requests.Session:
    """A requests session that trusts the emulator's CA and ignores REQUESTS_CA_BUNDLE (deps.md §6)."""
    session = requests.Session()
    session.verify = str(ca_path)
    session.trust_env = False
    return session


class EmulatorControl:
    """A small client of ``/_control/`` (see docs/emulator.md)."""

    def __init__(self, base_url: str, ca_path: Path | str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = trusting_session(ca_path)
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_control/{path}", json=payload, params=params, timeout=timeout or self.timeout
        )
        if response.status_code >= 400:
            raise EmulatorControlError(f"{method} /_control/{path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def pending_device_codes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "device-codes")
        return result

    def approve_device_code(self, user_code: str, upn: str) -> None:
        self._call("POST", "device-codes/approve", {"user_code": user_code, "upn": upn})

    def decline_device_code(self, user_code: str, upn: str | None = None) -> None:
        self._call("POST", "device-codes/decline", {"user_code": user_code, "upn": upn})

    def expire_device_code(self, user_code: str) -> None:
        self._call("POST", "device-codes/expire", {"user_code": user_code})

    def revoke_grant(self, upn: str, client_id: str) -> int:
        return int(self._call("POST", "grants/revoke", {"upn": upn, "client_id": client_id})["revoked"])

    def age_refresh_tokens(self, days: float, upn: str | None = None, client_id: str | None = None) -> int:
        payload = {"days": days, "upn": upn, "client_id": client_id}
        return int(self._call("POST", "refresh-tokens/age", payload)["aged"])

    def remove_consent(self, client_id: str, tenant_id: str) -> int:
        return int(self._call("POST", "consents/remove", {"client_id": client_id, "tenant_id": tenant_id})["removed"])

    def set_role_lag(self, seconds: float) -> None:
        """Newly consented app roles appear in app tokens only after `seconds` on the emulator clock."""
        self._call("POST", "consents/role-lag", {"seconds": seconds})

    def set_opaque_tokens(self, client_id: str, opaque: bool = True) -> None:
        """The app's app-only access tokens become opaque (not JWTs), as Microsoft may issue them."""
        self._call("POST", "tokens/opaque", {"client_id": client_id, "opaque": opaque})

    def set_id_token_optional_claims(self, client_id: str, claims: list[str]) -> None:
        """The app's manifest asks for these optional id token claims (``email``, ``xms_edov``) until a reset."""
        self._call("POST", "apps/optional-claims", {"client_id": client_id, "claims": claims})

    def expire_secret(self, client_id: str) -> None:
        self._call("POST", "secrets/expire", {"client_id": client_id})

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "clock/advance", {"seconds": seconds})

    def inject_fault(
        self,
        endpoint: str,
        status: int | None = None,
        retry_after: int | None = None,
        latency_ms: int | None = None,
        drop: bool = False,
        count: int = 1,
        skip: int = 0,
        lose_response: bool = False,
    ) -> None:
        """The next ``count`` requests of ``endpoint`` (after ``skip`` more) fail: a ``status`` (with
        ``Retry-After``), a dropped connection, or ``lose_response``: processed, then the connection drops."""
        self._call(
            "POST",
            "faults",
            {
                "endpoint": endpoint,
                "status": status,
                "retry_after": retry_after,
                "latency_ms": latency_ms,
                "drop": drop,
                "count": count,
                "skip": skip,
                "lose_response": lose_response,
            },
        )

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests_received(self, endpoint: str | None = None, take: bool = False) -> list[dict[str, Any]]:
        params = {"endpoint": endpoint or "", **({"take": "1"} if take else {})}
        result: list[dict[str, Any]] = self._call("GET", "requests", params=params)
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def consents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "consents")
        return result

    def set_smtp_auth(self, tenant_id: str, enabled: bool) -> None:
        self._call("POST", "directories/smtp-auth", {"tenant_id": tenant_id, "enabled": enabled})

    def smtp_messages(self, to: str | None = None, mailbox: str | None = None) -> list[dict[str, Any]]:
        """Messages the SMTP server accepted (oldest first), optionally for one recipient or sending mailbox."""
        params = {"to": to or "", "mailbox": mailbox or ""}
        result: list[dict[str, Any]] = self._call("GET", "smtp/messages", params=params)
        return result

    def clear_smtp_messages(self) -> None:
        self._call("DELETE", "smtp/messages")

    def smtp_events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The SMTP log: auth_ok, auth_failed, auth_disabled, send_as_denied, throttled, accepted."""
        result: list[dict[str, Any]] = self._call("GET", "smtp/events", params={"kind": kind or ""})
        return result

    def set_smtp_throttle(self, limit: int = 30, window_seconds: float = 60.0) -> None:
        """Exchange's 30 messages a minute per mailbox by default; tests shrink the window."""
        self._call("POST", "smtp/throttle", {"limit": limit, "window_seconds": window_seconds})

    def put_mail(self, mailbox: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message straight into a mailbox's folder (Dovecot), as if it had been mailed there."""
        self._call(
            "POST", "mailboxes/messages", {"mailbox": mailbox, "raw": base64.b64encode(raw).decode(), "folder": folder}
        )

    def mail_messages(self, mailbox: str) -> list[dict[str, Any]]:
        """The messages in a mailbox: folder, uid, flags, subject."""
        result: list[dict[str, Any]] = self._call("GET", "mailboxes/messages", params={"mailbox": mailbox})
        return result

    def create_mail_folder(self, mailbox: str, folder: str, uidvalidity: int | None = None) -> None:
        payload: dict[str, Any] = {"mailbox": mailbox, "folder": folder}
        if uidvalidity is not None:
            payload["uidvalidity"] = uidvalidity
        self._call("POST", "mailboxes/folders", payload)

    def set_mail_password(self, address: str, password: str) -> None:
        """An IMAP/POP3 account that signs in with a password (a "custom server" of Jobs via Email)."""
        self._call("POST", "mailboxes/passwords", {"address": address, "password": password})

    # --- OneDrive (docs/emulator.md "OneDrive") ------------------------------------------------------------------

    def onedrive_put_file(
        self,
        user: str,
        path: str,
        data: bytes | None = None,
        *,
        text: str | None = None,
        pdf: list[str] | None = None,
        size: int | None = None,
        seed: int = 1,
        conflict: str = "replace",
    ) -> dict[str, Any]:
        """A file at ``path`` in the user's drive: ``data``, ``text``, a PDF of ``pdf`` lines, or ``size``
        generated bytes (the same for the same ``seed``). Folders on the way are created. Answers the item's
        ``id``, ``path``, ``size``, ``sha256``, ``quickXorHash``..."""
        payload: dict[str, Any] = {"user": user, "path": path, "conflict": conflict, "seed": seed}
        if data is not None:
            payload["content_base64"] = base64.b64encode(data).decode()
        payload |= {key: value for key, value in (("text", text), ("pdf", pdf), ("size", size)) if value is not None}
        result: dict[str, Any] = self._call("POST", "onedrive/files", payload, timeout=max(self.timeout, 120))
        return result

    def onedrive_put_folder(self, user: str, path: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "onedrive/folders", {"user": user, "path": path})
        return result

    def onedrive_delete(self, user: str, path: str) -> dict[str, Any]:
        """Into the recycle bin, as if the user deleted it in OneDrive."""
        result: dict[str, Any] = self._call("POST", "onedrive/items/delete", {"user": user, "path": path})
        return result

    def onedrive_tree(self, user: str) -> dict[str, Any]:
        """``items`` (path, id, folder, size, sha256, quickXorHash...), ``recycle_bin``, ``upload_sessions``."""
        result: dict[str, Any] = self._call("GET", "onedrive/tree", params={"user": user})
        return result

    def onedrive_files(self, user: str) -> dict[str, dict[str, Any]]:
        """The user's files (not folders) by path."""
        return {item["path"]: item for item in self.onedrive_tree(user)["items"] if not item["folder"]}

    def onedrive_expire_upload_sessions(self, user: str | None = None) -> int:
        """Open upload sessions (of one user's drive, or all) expire now: their URLs answer 404."""
        return int(self._call("POST", "onedrive/upload-sessions/expire", {"user": user})["expired"])

    def onedrive_set_quota(self, user: str, quota_bytes: int) -> None:
        self._call("POST", "onedrive/quota", {"user": user, "quota_bytes": quota_bytes})

    # --- Graph's directory (docs/emulator.md "Graph") -------------------------------------------------------------

    def add_user(self, tenant_id: str, user_principal_name: str, **properties: Any) -> dict[str, Any]:
        """A new user; ``properties`` are Graph's names (displayName, department, accountEnabled, id, password...)."""
        payload = {"tenant_id": tenant_id, "userPrincipalName": user_principal_name, **properties}
        result: dict[str, Any] = self._call("POST", "graph/users", payload)
        return result

    def update_user(self, tenant_id: str, user: str, **properties: Any) -> dict[str, Any]:
        """Change a user (by id or UPN); the answer lists the Graph properties that ``changed``."""
        result: dict[str, Any] = self._call(
            "POST", "graph/users/update", {"tenant_id": tenant_id, "user": user, **properties}
        )
        return result

    def disable_user(self, tenant_id: str, user: str) -> dict[str, Any]:
        return self.update_user(tenant_id, user, accountEnabled=False)

    def delete_user(self, tenant_id: str, user: str, permanent: bool = False) -> str:
        """Soft-delete a user (restorable), or delete it for good; returns its object id."""
        payload = {"tenant_id": tenant_id, "user": user, "permanent": permanent}
        return str(self._call("POST", "graph/users/delete", payload)["id"])

    def restore_user(self, tenant_id: str, user: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "graph/users/restore", {"tenant_id": tenant_id, "user": user})
        return result

    def directory_users(self, tenant_id: str, limit: int = 1000) -> dict[str, Any]:
        """``count``, ``users`` (every property, up to ``limit``) and the soft-``deleted`` ones."""
        result: dict[str, Any] = self._call("GET", "graph/users", params={"tenant_id": tenant_id, "limit": limit})
        return result

    def add_group(
        self, tenant_id: str, display_name: str, members: list[str] | None = None, **properties: Any
    ) -> dict[str, Any]:
        """A new group; ``members`` are user ids or UPNs and group ids or names of the same directory."""
        payload = {"tenant_id": tenant_id, "displayName": display_name, "members": members or [], **properties}
        result: dict[str, Any] = self._call("POST", "graph/groups", payload)
        return result

    def update_group(self, tenant_id: str, group: str, **properties: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "graph/groups/update", {"tenant_id": tenant_id, "group": group, **properties}
        )
        return result

    def delete_group(self, tenant_id: str, group: str) -> str:
        return str(self._call("POST", "graph/groups/delete", {"tenant_id": tenant_id, "group": group})["id"])

    def add_members(self, tenant_id: str, group: str, members: list[str]) -> list[str]:
        payload = {"tenant_id": tenant_id, "group": group, "members": members}
        return list(self._call("POST", "graph/groups/members/add", payload)["added"])

    def remove_members(self, tenant_id: str, group: str, members: list[str]) -> list[str]:
        payload = {"tenant_id": tenant_id, "group": group, "members": members}
        return list(self._call("POST", "graph/groups/members/remove", payload)["removed"])

    def directory_groups(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "graph/groups", params={"tenant_id": tenant_id})
        return result

    def directory_group(self, tenant_id: str, group: str) -> dict[str, Any]:
        """A group with the ids of its ``members``."""
        result: dict[str, Any] = self._call("GET", "graph/group", params={"tenant_id": tenant_id, "group": group})
        return result

    def generate_directory(self, tenant_id: str, users: int, groups: int = 0, seed: int = 1) -> dict[str, Any]:
        """Add ``users`` users and ``groups`` groups, the same ones for the same ``seed`` (docs/emulator.md)."""
        payload = {"tenant_id": tenant_id, "users": users, "groups": groups, "seed": seed}
        result: dict[str, Any] = self._call("POST", "graph/generate", payload, timeout=max(self.timeout, 120))
        return result

    def set_graph_options(
        self,
        delta_page_size: int | None = None,
        delta_members_per_page: int | None = None,
        delta_token_lifetime: int | None = None,
    ) -> dict[str, int]:
        """How delta pages are cut (objects, membership links) and delta tokens' lifetime in seconds."""
        payload = {
            "delta_page_size": delta_page_size,
            "delta_members_per_page": delta_members_per_page,
            "delta_token_lifetime": delta_token_lifetime,
        }
        result: dict[str, int] = self._call("POST", "graph/options", payload)
        return result

    def expire_delta_tokens(self, tenant_id: str) -> None:
        """Every delta link issued so far in the directory answers 400 syncStateNotFound."""
        self._call("POST", "graph/delta/expire", {"tenant_id": tenant_id})

    def require_resync(self, tenant_id: str, count: int = 1) -> None:
        """The next ``count`` delta requests with a token answer 410 resyncRequired with a ``Location``."""
        self._call("POST", "graph/delta/resync", {"tenant_id": tenant_id, "count": count})

    def revoke_access_tokens(self, tenant_id: str, client_id: str | None = None) -> None:
        """Graph refuses (401) the access tokens issued so far in the directory, to one app or to all."""
        self._call("POST", "graph/tokens/revoke", {"tenant_id": tenant_id, "client_id": client_id})

    # --- Universal Print (m365_emulator/graph/print_control.py) ---------------------------------------------------

    def printers(self, tenant_id: str) -> list[dict[str, Any]]:
        """The directory's printers with their shares, trigger (and its app) and job count."""
        result: list[dict[str, Any]] = self._call("GET", "graph/print/printers", params={"tenant_id": tenant_id})
        return result

    def add_printer(
        self, tenant_id: str, display_name: str, share: str | None = "", **properties: Any
    ) -> dict[str, Any]:
        """A printer (``hasPhysicalDevice``, ``location``, ``id``...) with a share named ``share`` (default: the
        printer's name; None: no share)."""
        payload: dict[str, Any] = {"tenant_id": tenant_id, "displayName": display_name, **properties}
        payload["share"] = False if share is None else {"displayName": share or display_name}
        result: dict[str, Any] = self._call("POST", "graph/print/printers", payload)
        return result

    def update_printer(self, tenant_id: str, printer: str, **properties: Any) -> dict[str, Any]:
        payload = {"tenant_id": tenant_id, "printer": printer, **properties}
        result: dict[str, Any] = self._call("POST", "graph/print/printers/update", payload)
        return result

    def delete_printer(self, tenant_id: str, printer: str) -> None:
        self._call("POST", "graph/print/printers/delete", {"tenant_id": tenant_id, "printer": printer})

    def add_printer_share(self, tenant_id: str, printer: str, display_name: str) -> dict[str, Any]:
        payload = {"tenant_id": tenant_id, "printer": printer, "displayName": display_name}
        result: dict[str, Any] = self._call("POST", "graph/print/shares", payload)
        return result

    def submit_print_job(
        self,
        tenant_id: str,
        printer: str,
        user: str,
        document: bytes | None = None,
        name: str = "Document.pdf",
        content_type: str = "application/pdf",
        configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``user`` (UPN or id) prints ``document`` (a small PDF by default) to ``printer`` (id, name or share name).

        The job, with its ``tasks`` when the printer's trigger holds it for one.
        """
        payload: dict[str, Any] = {
            "tenant_id": tenant_id,
            "printer": printer,
            "user": user,
            "name": name,
            "content_type": content_type,
            "configuration": configuration,
        }
        if document is not None:
            payload["document"] = base64.b64encode(document).decode()
        result: dict[str, Any] = self._call("POST", "graph/print/jobs", payload, timeout=max(self.timeout, 60))
        return result

    def print_jobs(self, tenant_id: str, printer: str | None = None) -> list[dict[str, Any]]:
        params = {"tenant_id": tenant_id, **({"printer": printer} if printer else {})}
        result: list[dict[str, Any]] = self._call("GET", "graph/print/jobs", params=params)
        return result

    def print_job(self, tenant_id: str, printer: str, job_id: str) -> dict[str, Any]:
        params = {"tenant_id": tenant_id, "printer": printer, "job": job_id}
        result: dict[str, Any] = self._call("GET", "graph/print/job", params=params)
        return result

    def print_tasks(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "graph/print/tasks", params={"tenant_id": tenant_id})
        return result

    def print_triggers(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "graph/print/triggers", params={"tenant_id": tenant_id})
        return result

    def add_print_trigger(self, tenant_id: str, printer: str, app_id: str) -> dict[str, Any]:
        """A trigger of another app (its task definition is made if it has none) on ``printer``."""
        payload = {"tenant_id": tenant_id, "printer": printer, "app_id": app_id}
        result: dict[str, Any] = self._call("POST", "graph/print/triggers", payload)
        return result

    def print_task_definitions(self, tenant_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "graph/print/definitions", params={"tenant_id": tenant_id})
        return result


@dataclass
class EmulatorHandle:
    https_url: str
    http_url: str
    ca_path: Path
    state_dir: Path
    control: EmulatorControl
    pid: int
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 0  # submission with STARTTLS (Exchange's 587)
    smtps_port: int = 0  # implicit TLS (a custom server's "SSL" security)
    mx_port: int = 0  # inbound mail from anyone, without signing in (Exchange's MX, port 25)

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's base (``MICROSOFT_GRAPH_URL``): ``<https_url>/graph``, versions below it (``/v1.0``)."""
        return self.https_url + "/graph"

    @property
    def mail(self) -> dict[str, Any]:
        """Dovecot's IMAP and POP3: mail_host, imaps_port, pop3s_port and the plain (STARTTLS) imap_port, pop3_port."""
        info: dict[str, Any] = json.loads((self.state_dir / "emulator.json").read_text())
        return {key: info[key] for key in ("mail_host", *MAIL_PORT_KEYS) if key in info}

    def session(self) -> requests.Session:
        """A requests session that trusts the emulator's CA (pass it to MSAL as ``http_client=``)."""
        return trusting_session(self.ca_path)


def _wait_ready(process: subprocess.Popen[bytes], ready_file: Path, log_path: Path, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with {process.returncode}:\n{log_path.read_text()}")
        if ready_file.exists():
            info: dict[str, Any] = json.loads(ready_file.read_text())
            if info.get("pid") == process.pid:
                return info
        time.sleep(0.05)
    raise TimeoutError(f"the emulator did not write {ready_file} in time:\n{log_path.read_text()}")


def _handle(info: dict[str, Any], state_dir: Path, pid: int) -> EmulatorHandle:
    ca_path = Path(info["ca_path"])
    return EmulatorHandle(
        https_url=info["https_url"],
        http_url=info["http_url"],
        ca_path=ca_path,
        state_dir=state_dir,
        control=EmulatorControl(info["https_url"], ca_path),
        pid=pid,
        smtp_host=info.get("smtp_host", "127.0.0.1"),
        smtp_port=int(info.get("smtp_port", 0)),
        smtps_port=int(info.get("smtps_port", 0)),
        mx_port=int(info.get("mx_port", 0)),
    )


def handle_from_state_dir(state_dir: Path) -> EmulatorHandle:
    """The handle of an emulator already running on `state_dir` (started by `make run`, for example)."""
    state_dir = Path(state_dir).resolve()
    info: dict[str, Any] = json.loads((state_dir / "emulator.json").read_text())
    return _handle(info, state_dir, int(info["pid"]))


@contextmanager
def start_emulator(
    seed: Path, state_dir: Path, https_port: int = 0, http_port: int = 0, timeout: float = 30.0
) -> Iterator[EmulatorHandle]:
    """Run ``python -m m365_emulator`` as a subprocess until the block exits."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / "emulator.json"
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / "emulator.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [
        sys.executable,
        "-m",
        "m365_emulator",
        "--seed",
        str(Path(seed).resolve()),
        "--state-dir",
        str(state_dir),
        "--https-port",
        str(https_port),
        "--http-port",
        str(http_port),
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
    try:
        info = _wait_ready(process, ready_file, log_path, time.monotonic() + timeout)
        yield _handle(info, state_dir, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _network_of(host: str) -> str:
    """The one-address network of an emulator host (it listens on an IP address, 127.0.0.1 unless told)."""
    address = ipaddress.ip_address(host)
    return f"{address}/{address.max_prefixlen}"


def portal_environment(handle: EmulatorHandle, seed: Path) -> dict[str, str]:
    """Environment variables that point the portal at this emulator, with the seed's operator app credentials."""
    env = {
        "MICROSOFT_AUTHORITY_HOST": handle.https_url,
        "MICROSOFT_GRAPH_URL": handle.graph_url,
        "MICROSOFT_CA_BUNDLE": str(handle.ca_path),
    }
    if handle.smtp_port:
        env["MICROSOFT_SMTP_HOST"] = handle.smtp_host
        env["MICROSOFT_SMTP_PORT"] = str(handle.smtp_port)
        # The demo's "custom mail server" accounts (relay@contoso.com) are the emulator too: trust its CA for them.
        env["CUSTOM_MAIL_CA_BUNDLE"] = str(handle.ca_path)
    mail = handle.mail
    if mail.get("imaps_port"):  # Exchange's IMAP and POP3 are implicit TLS (993, 995)
        env["MICROSOFT_IMAP_HOST"] = env["MICROSOFT_POP_HOST"] = str(mail["mail_host"])
        env["MICROSOFT_IMAP_PORT"], env["MICROSOFT_POP_PORT"] = str(mail["imaps_port"]), str(mail["pop3s_port"])
    # Tenants' mail servers are refused on loopback; the operator allows the emulator's address by name.
    emulator_hosts = {handle.smtp_host, str(mail.get("mail_host", handle.smtp_host))}
    env["TENANT_MAIL_ALLOWED_NETWORKS"] = ",".join(sorted(_network_of(host) for host in emulator_hosts))
    for name, app in load_seed(seed).operator_apps.items():
        env[f"MICROSOFT_APP_{name}_CLIENT_ID"] = app.client_id
        env[f"MICROSOFT_APP_{name}_CLIENT_SECRET"] = app.client_secret
    return env
