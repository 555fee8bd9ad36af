"""The seed file: directories, users, app registrations, consents, the operator's app credentials, printers.

The JSON schema is documented in docs/emulator.md. Parsing is strict: an unknown directory or app reference
fails at start-up, not in the middle of a test.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from m365_emulator import roles

GROUP_MEMBERSHIP_CLAIMS = ("None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All")
# The optional id token claims the emulator knows (the manifest's optionalClaims.idToken names).
ID_TOKEN_OPTIONAL_CLAIMS = ("email", "xms_edov")
EXTENSION_ATTRIBUTES = tuple(f"extensionAttribute{n}" for n in range(1, 16))
OPERATOR_APP_NAMES = ("LOGIN", "USER_SYNC", "UNIVERSAL_PRINT", "ONEDRIVE", "LEGACY", "LEGACY_USER_SYNC")


class SeedError(ValueError):
    pass


@dataclass
class Directory:
    tenant_id: str
    display_name: str
    domains: list[str]
    smtp_auth_enabled: bool = True
    user_consent_allowed: bool = True
    personal: bool = False

    @property
    def primary_domain(self) -> str:
        return self.domains[0] if self.domains else self.tenant_id


@dataclass(slots=True)  # slots: a generated directory holds 100,000 of these
class User:
    object_id: str
    upn: str
    mail: str
    display_name: str
    password: str
    directory: str
    enabled: bool = True
    # Template ids of the directory roles assigned and active (they appear in `wids`); ``is_admin: true`` in a
    # seed is short for Global Administrator.
    directory_roles: list[str] = field(default_factory=list)
    # Roles only eligible in Privileged Identity Management: absent from tokens until activated.
    eligible_roles: list[str] = field(default_factory=list)
    # The directory profile Graph serves (m365_emulator/graph/directory.py maps these to Graph's property names).
    given_name: str | None = None
    surname: str | None = None
    department: str | None = None
    job_title: str | None = None
    employee_id: str | None = None
    company_name: str | None = None
    office_location: str | None = None
    city: str | None = None
    country: str | None = None
    mobile_phone: str | None = None
    business_phones: tuple[str, ...] = ()
    preferred_language: str | None = None
    user_type: str = "Member"  # or "Guest"
    cost_center: str | None = None  # employeeOrgData
    division: str | None = None  # employeeOrgData
    extension_attributes: dict[str, str] | None = None  # onPremisesExtensionAttributes, extensionAttribute1..15
    created: str | None = None  # createdDateTime

    @property
    def is_admin(self) -> bool:
        """May grant admin consent in the directory."""
        return bool(roles.CONSENTING_ADMINISTRATORS & set(self.directory_roles))

    @property
    def grants_graph_app_roles(self) -> bool:
        return bool(roles.GRAPH_APP_ROLE_CONSENTERS & set(self.directory_roles))

    @property
    def wids(self) -> list[str]:
        return [roles.MEMBER, *self.directory_roles]


@dataclass
class SeedGroup:
    """A group of a directory; ``members`` are UPNs or object ids of its users and groups."""

    object_id: str
    directory: str
    display_name: str
    description: str | None = None
    mail_nickname: str | None = None
    security_enabled: bool = True
    mail_enabled: bool = False
    group_types: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


@dataclass
class Secret:
    value: str
    expires: date


@dataclass
class ResourcePermissions:
    delegated: list[str] = field(default_factory=list)
    application: list[str] = field(default_factory=list)


@dataclass
class App:
    client_id: str
    display_name: str
    home_directory: str
    secrets: list[Secret] = field(default_factory=list)
    public_client: bool = False
    allow_public_client_flows: bool = False
    redirect_uris: list[str] = field(default_factory=list)
    sign_in_audience: str = "multi"
    permissions: dict[str, ResourcePermissions] = field(default_factory=dict)
    device_code_expires_in: int = 900
    device_code_interval: int = 5
    access_token_lifetime: int = 3599
    # The manifest's groupMembershipClaims: "DirectoryRole" or "All" put the user's roles in tokens (`wids`).
    group_membership_claims: str = "None"
    # The manifest's optionalClaims.idToken: "email" (also given by the `email` scope), "xms_edov" (whether the
    # email's domain is verified by the user's directory; only alongside `email`).
    id_token_optional_claims: list[str] = field(default_factory=list)

    @property
    def emits_directory_roles(self) -> bool:
        return self.group_membership_claims in roles.ROLE_CLAIM_SETTINGS

    @property
    def emits_email_verification(self) -> bool:
        return "xms_edov" in self.id_token_optional_claims

    @property
    def multi_tenant(self) -> bool:
        return self.sign_in_audience == "multi"


@dataclass
class SeedConsent:
    client_id: str
    directory: str
    user: str | None  # UPN, or None for an admin consent on behalf of every user
    scopes: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


@dataclass
class OperatorApp:
    client_id: str
    client_secret: str


@dataclass
class Mailbox:
    """A mailbox that is not a seeded user: a shared mailbox some users may send as, or an SMTP relay account.

    ``send_as`` lists the UPNs whose XOAUTH2 tokens may authenticate as this mailbox (``user=<address>``);
    ``smtp_password`` makes it an account of a "custom SMTP server" that signs in with AUTH LOGIN/PLAIN.
    """

    address: str
    directory: str
    display_name: str = ""
    send_as: list[str] = field(default_factory=list)
    smtp_password: str | None = None


@dataclass
class SenderDomain:
    """An outside mail domain as its DNS would describe it, for the verdicts Exchange stamps on inbound mail:
    ``spf`` lists the networks its SPF record permits (``-all`` for the rest), ``dmarc`` its DMARC policy
    (``none``, ``quarantine``, ``reject``) or None for no DMARC record. Unlisted domains have neither."""

    domain: str
    spf: list[str] = field(default_factory=list)
    dmarc: str | None = None


@dataclass
class SeedPrinterShare:
    """A printer share: what users see as the printer in Windows (``printerShare``)."""

    id: str
    display_name: str
    allow_all_users: bool = True


@dataclass
class SeedPrinter:
    """A Universal Print printer of a directory (``m365_emulator/graph/print_store.py`` serves it)."""

    id: str
    directory: str
    display_name: str
    manufacturer: str | None = None
    model: str | None = None
    # printerLocation: building, floor, roomName, city, countryOrRegion... (Graph's names)
    location: dict[str, Any] = field(default_factory=dict)
    # False: a virtual queue for pull printing (no device fetches its jobs)
    has_physical_device: bool = False
    is_accepting_jobs: bool = True
    registered: str | None = None  # registeredDateTime
    shares: list[SeedPrinterShare] = field(default_factory=list)


@dataclass
class SeedDriveItem:
    """A folder or a file of a user's OneDrive; a file's content is made when the emulator starts.

    A file is a small PDF (``pdf``: its lines of text, the first one the title), a text file (``text``) or ``size``
    deterministic pseudo-random bytes; an item with none of these is a folder.
    """

    path: str  # "/Documents/Quarterly report.pdf": folders on the way are created
    pdf: list[str] | None = None
    text: str | None = None
    size: int | None = None
    modified: str | None = None  # lastModifiedDateTime, e.g. "2024-03-01T09:30:00Z"

    @property
    def is_folder(self) -> bool:
        return self.pdf is None and self.text is None and self.size is None


@dataclass
class SeedDrive:
    """A user's OneDrive (m365_emulator/graph/onedrive_store.py); users without one get an empty drive."""

    owner: str  # UPN or object id of a seeded user
    items: list[SeedDriveItem] = field(default_factory=list)
    quota_bytes: int | None = None


@dataclass
class Seed:
    directories: list[Directory]
    users: list[User]
    apps: list[App]
    consents: list[SeedConsent]
    operator_apps: dict[str, OperatorApp]
    # SMTP send-as mailboxes and relay accounts; keyword-only so positional Seed(...) calls are unaffected.
    mailboxes: list[Mailbox] = field(default_factory=list, kw_only=True)
    groups: list[SeedGroup] = field(default_factory=list, kw_only=True)
    sender_domains: list[SenderDomain] = field(default_factory=list, kw_only=True)
    printers: list[SeedPrinter] = field(default_factory=list, kw_only=True)
    drives: list[SeedDrive] = field(default_factory=list, kw_only=True)


def load_seed(path: Path) -> Seed:
    return parse_seed(_read_with_base(Path(path)))


def _read_with_base(path: Path) -> dict[str, Any]:
    """Read a seed; ``"extends": "other.json"`` (relative to it) prepends the other seed's lists."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SeedError(f"cannot read seed {path}: {exc}") from exc
    base_name = raw.pop("extends", None)
    if not base_name:
        return raw
    base = _read_with_base(path.parent / base_name)
    lists = ("directories", "users", "apps", "consents", "mailboxes", "groups", "sender_domains", "printers", "drives")
    for key in lists:
        base[key] = [*base.get(key, []), *raw.get(key, [])]
    base["operator_apps"] = {**base.get("operator_apps", {}), **raw.get("operator_apps", {})}
    return base


def parse_seed(raw: dict[str, Any]) -> Seed:
    directories = [_directory(item) for item in raw.get("directories", [])]
    tenant_ids = {d.tenant_id for d in directories}
    users = [_user(item) for item in raw.get("users", [])]
    apps = [_app(item) for item in raw.get("apps", [])]
    consents = [_consent(item) for item in raw.get("consents", [])]
    seed = Seed(directories, users, apps, consents, _operator_apps(raw.get("operator_apps", {}), apps))
    seed.mailboxes = [_mailbox(item) for item in raw.get("mailboxes", [])]
    seed.groups = [_group(item) for item in raw.get("groups", [])]
    seed.sender_domains = [_sender_domain(item) for item in raw.get("sender_domains", [])]
    seed.printers = [_printer(item) for item in raw.get("printers", [])]
    seed.drives = [_drive(item) for item in raw.get("drives", [])]
    _check_references(seed, tenant_ids)
    return seed


def _directory(item: dict[str, Any]) -> Directory:
    return Directory(
        tenant_id=item["tenant_id"].lower(),
        display_name=item["display_name"],
        domains=[d.lower() for d in item.get("domains", [])],
        smtp_auth_enabled=bool(item.get("smtp_auth_enabled", True)),
        user_consent_allowed=bool(item.get("user_consent_allowed", True)),
        personal=bool(item.get("personal", False)),
    )


def _user(item: dict[str, Any]) -> User:
    return User(
        object_id=item["object_id"].lower(),
        upn=item["upn"].lower(),
        mail=item.get("mail", item["upn"]),
        display_name=item.get("display_name", item["upn"]),
        password=item["password"],
        directory=item["directory"].lower(),
        enabled=bool(item.get("enabled", True)),
        directory_roles=_role_ids(item),
        eligible_roles=[str(r).lower() for r in item.get("eligible_roles", [])],
        **_profile(item),
    )


_PROFILE_TEXT_FIELDS = (
    "given_name",
    "surname",
    "department",
    "job_title",
    "employee_id",
    "company_name",
    "office_location",
    "city",
    "country",
    "mobile_phone",
    "preferred_language",
    "cost_center",
    "division",
    "created",
)


def _profile(item: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = {name: item[name] for name in _PROFILE_TEXT_FIELDS if item.get(name) is not None}
    if "business_phones" in item:
        profile["business_phones"] = tuple(item["business_phones"])
    if "user_type" in item:
        if item["user_type"] not in ("Member", "Guest"):
            raise SeedError(f"user {item.get('upn')}: user_type must be 'Member' or 'Guest'")
        profile["user_type"] = item["user_type"]
    if item.get("extension_attributes"):
        attributes = {str(k): str(v) for k, v in item["extension_attributes"].items()}
        if unknown := [k for k in attributes if k not in EXTENSION_ATTRIBUTES]:
            raise SeedError(f"user {item.get('upn')}: unknown extension attributes {unknown}")
        profile["extension_attributes"] = attributes
    return profile


def _group(item: dict[str, Any]) -> SeedGroup:
    return SeedGroup(
        object_id=item["object_id"].lower(),
        directory=item["directory"].lower(),
        display_name=item["display_name"],
        description=item.get("description"),
        mail_nickname=item.get("mail_nickname"),
        security_enabled=bool(item.get("security_enabled", True)),
        mail_enabled=bool(item.get("mail_enabled", False)),
        group_types=list(item.get("group_types", [])),
        members=[str(member).lower() for member in item.get("members", [])],
    )


def _printer(item: dict[str, Any]) -> SeedPrinter:
    return SeedPrinter(
        id=item["id"].lower(),
        directory=item["directory"].lower(),
        display_name=item["display_name"],
        manufacturer=item.get("manufacturer"),
        model=item.get("model"),
        location=dict(item.get("location", {})),
        has_physical_device=bool(item.get("has_physical_device", False)),
        is_accepting_jobs=bool(item.get("is_accepting_jobs", True)),
        registered=item.get("registered"),
        shares=[
            SeedPrinterShare(
                id=share["id"].lower(),
                display_name=share["display_name"],
                allow_all_users=bool(share.get("allow_all_users", True)),
            )
            for share in item.get("shares", [])
        ],
    )


def _drive(item: dict[str, Any]) -> SeedDrive:
    items = []
    for entry in item.get("items", []):
        path = "/" + str(entry["path"]).strip("/")
        pdf = entry.get("pdf")
        items.append(
            SeedDriveItem(
                path=path,
                pdf=[str(line) for line in pdf] if pdf is not None else None,
                text=entry.get("text"),
                size=int(entry["size"]) if entry.get("size") is not None else None,
                modified=entry.get("modified"),
            )
        )
    quota = item.get("quota_bytes")
    return SeedDrive(owner=str(item["owner"]).lower(), items=items, quota_bytes=int(quota) if quota else None)


def _role_ids(item: dict[str, Any]) -> list[str]:
    assigned = [str(r).lower() for r in item.get("directory_roles", [])]
    if item.get("is_admin") and roles.GLOBAL_ADMINISTRATOR not in assigned:
        assigned.insert(0, roles.GLOBAL_ADMINISTRATOR)
    return assigned


def _app(item: dict[str, Any]) -> App:
    audience = item.get("sign_in_audience", "multi")
    if audience not in ("multi", "single"):
        raise SeedError(f"app {item.get('client_id')}: sign_in_audience must be 'multi' or 'single'")
    claims = item.get("group_membership_claims", "None")
    if claims not in GROUP_MEMBERSHIP_CLAIMS:
        raise SeedError(f"app {item.get('client_id')}: unknown group_membership_claims {claims!r}")
    optional = [str(name) for name in item.get("id_token_optional_claims", [])]
    if unknown := [name for name in optional if name not in ID_TOKEN_OPTIONAL_CLAIMS]:
        raise SeedError(f"app {item.get('client_id')}: unknown id_token_optional_claims {unknown}")
    return App(
        client_id=item["client_id"].lower(),
        display_name=item["display_name"],
        home_directory=item["home_directory"].lower(),
        secrets=[Secret(s["value"], date.fromisoformat(s["expires"])) for s in item.get("secrets", [])],
        public_client=bool(item.get("public_client", False)),
        allow_public_client_flows=bool(item.get("allow_public_client_flows", False)),
        redirect_uris=list(item.get("redirect_uris", [])),
        sign_in_audience=audience,
        permissions={
            resource: ResourcePermissions(list(p.get("delegated", [])), list(p.get("application", [])))
            for resource, p in item.get("permissions", {}).items()
        },
        device_code_expires_in=int(item.get("device_code_expires_in", 900)),
        device_code_interval=int(item.get("device_code_interval", 5)),
        access_token_lifetime=int(item.get("access_token_lifetime", 3599)),
        group_membership_claims=claims,
        id_token_optional_claims=optional,
    )


def _consent(item: dict[str, Any]) -> SeedConsent:
    user = item.get("user")
    return SeedConsent(
        client_id=item["client_id"].lower(),
        directory=item["directory"].lower(),
        user=None if user in (None, "*", "all") else str(user).lower(),
        scopes=list(item.get("scopes", [])),
        roles=list(item.get("roles", [])),
    )


def _mailbox(item: dict[str, Any]) -> Mailbox:
    return Mailbox(
        address=item["address"].lower(),
        directory=item["directory"].lower(),
        display_name=item.get("display_name", item["address"]),
        send_as=[str(upn).lower() for upn in item.get("send_as", [])],
        smtp_password=item.get("smtp_password"),
    )


def _sender_domain(item: dict[str, Any]) -> SenderDomain:
    policy = item.get("dmarc")
    if policy not in (None, "none", "quarantine", "reject"):
        raise SeedError(f"sender domain {item.get('domain')}: dmarc must be none, quarantine, reject or absent")
    try:
        networks = [str(ipaddress.ip_network(network, strict=False)) for network in item.get("spf", [])]
    except ValueError as exc:
        raise SeedError(f"sender domain {item.get('domain')}: {exc}") from exc
    return SenderDomain(domain=item["domain"].lower(), spf=networks, dmarc=policy)


def _operator_apps(raw: dict[str, Any], apps: list[App]) -> dict[str, OperatorApp]:
    known = {app.client_id for app in apps}
    result = {}
    for name, item in raw.items():
        if name not in OPERATOR_APP_NAMES:
            raise SeedError(f"operator_apps: unknown name {name!r}; expected one of {OPERATOR_APP_NAMES}")
        client_id = item["client_id"].lower()
        if client_id not in known:
            raise SeedError(f"operator_apps.{name}: no app with client_id {client_id}")
        result[name] = OperatorApp(client_id, item["client_secret"])
    return result


def _check_references(seed: Seed, tenant_ids: set[str]) -> None:
    for user in seed.users:
        if user.directory not in tenant_ids:
            raise SeedError(f"user {user.upn}: unknown directory {user.directory}")
    for app in seed.apps:
        if app.home_directory not in tenant_ids:
            raise SeedError(f"app {app.client_id}: unknown home_directory {app.home_directory}")
    app_ids = {app.client_id for app in seed.apps}
    upns = {user.upn for user in seed.users}
    for consent in seed.consents:
        if consent.client_id not in app_ids or consent.directory not in tenant_ids:
            raise SeedError(f"consent for {consent.client_id} in {consent.directory}: unknown app or directory")
        if consent.user is not None and consent.user not in upns:
            raise SeedError(f"consent for {consent.client_id}: unknown user {consent.user}")
    for mailbox in seed.mailboxes:
        if mailbox.directory not in tenant_ids:
            raise SeedError(f"mailbox {mailbox.address}: unknown directory {mailbox.directory}")
        if unknown := [upn for upn in mailbox.send_as if upn not in upns]:
            raise SeedError(f"mailbox {mailbox.address}: send_as names unknown users {unknown}")
    _check_groups(seed, tenant_ids)
    _check_printers(seed, tenant_ids)
    _check_drives(seed)


def _check_groups(seed: Seed, tenant_ids: set[str]) -> None:
    ids = Counter([u.object_id for u in seed.users] + [g.object_id for g in seed.groups])
    if duplicates := sorted(i for i, count in ids.items() if count > 1):
        raise SeedError(f"object ids used twice: {duplicates}")
    directory_of = {u.object_id: u.directory for u in seed.users} | {u.upn: u.directory for u in seed.users}
    directory_of |= {g.object_id: g.directory for g in seed.groups}
    for group in seed.groups:
        if group.directory not in tenant_ids:
            raise SeedError(f"group {group.display_name}: unknown directory {group.directory}")
        if strangers := [m for m in group.members if directory_of.get(m) != group.directory]:
            raise SeedError(f"group {group.display_name}: members not in its directory: {strangers}")


def _check_printers(seed: Seed, tenant_ids: set[str]) -> None:
    ids = Counter([p.id for p in seed.printers] + [s.id for p in seed.printers for s in p.shares])
    if duplicates := sorted(i for i, count in ids.items() if count > 1):
        raise SeedError(f"printer or share ids used twice: {duplicates}")
    for printer in seed.printers:
        if printer.directory not in tenant_ids:
            raise SeedError(f"printer {printer.display_name}: unknown directory {printer.directory}")


def _check_drives(seed: Seed) -> None:
    users = {u.upn for u in seed.users} | {u.object_id for u in seed.users}
    for drive in seed.drives:
        if drive.owner not in users:
            raise SeedError(f"drive of {drive.owner}: unknown user")
        for item in drive.items:
            if sum(x is not None for x in (item.pdf, item.text, item.size)) > 1:
                raise SeedError(f"drive of {drive.owner}: {item.path} has more than one kind of content")
