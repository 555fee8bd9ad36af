"""Graph's user and group resources: their property names, default property sets and JSON representations.

The data lives on ``m365_emulator.seed.User`` (shared with sign-in) and ``directory_store.Group``; this module is
the one place that knows which Graph property reads which attribute, and how a control-API change writes it.

References:
- user resource: https://learn.microsoft.com/graph/api/resources/user
- group resource: https://learn.microsoft.com/graph/api/resources/group
- List users (default properties): https://learn.microsoft.com/graph/api/user-list
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from m365_emulator.seed import EXTENSION_ATTRIBUTES, User

if TYPE_CHECKING:
    from m365_emulator.graph.directory_store import Group

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"


def _extension_attributes(user: User) -> dict[str, str | None]:
    values = user.extension_attributes or {}
    return {name: values.get(name) for name in EXTENSION_ATTRIBUTES}


def _employee_org_data(user: User) -> dict[str, str | None] | None:
    if user.cost_center is None and user.division is None:
        return None
    return {"costCenter": user.cost_center, "division": user.division}


USER_PROPERTIES: dict[str, Callable[[User], Any]] = {
    "id": lambda u: u.object_id,
    "accountEnabled": lambda u: u.enabled,
    "businessPhones": lambda u: list(u.business_phones),
    "city": lambda u: u.city,
    "companyName": lambda u: u.company_name,
    "country": lambda u: u.country,
    "createdDateTime": lambda u: u.created,
    "department": lambda u: u.department,
    "displayName": lambda u: u.display_name,
    "employeeId": lambda u: u.employee_id,
    "employeeOrgData": _employee_org_data,
    "givenName": lambda u: u.given_name,
    "jobTitle": lambda u: u.job_title,
    "mail": lambda u: u.mail or None,
    "mailNickname": lambda u: u.upn.partition("@")[0],
    "mobilePhone": lambda u: u.mobile_phone,
    "officeLocation": lambda u: u.office_location,
    "onPremisesExtensionAttributes": _extension_attributes,
    "preferredLanguage": lambda u: u.preferred_language,
    "surname": lambda u: u.surname,
    "userPrincipalName": lambda u: u.upn,
    "userType": lambda u: u.user_type,
}
# What /users and /users/delta return without $select (the user-list page's list, in its order).
USER_DEFAULT_SELECT: tuple[str, ...] = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

# Graph property -> User attribute, for the control API's writes (derived properties are not writable).
USER_WRITABLE: dict[str, str] = {
    "accountEnabled": "enabled",
    "businessPhones": "business_phones",
    "city": "city",
    "companyName": "company_name",
    "country": "country",
    "department": "department",
    "displayName": "display_name",
    "employeeId": "employee_id",
    "givenName": "given_name",
    "jobTitle": "job_title",
    "mail": "mail",
    "mobilePhone": "mobile_phone",
    "officeLocation": "office_location",
    "preferredLanguage": "preferred_language",
    "surname": "surname",
    "userPrincipalName": "upn",
    "userType": "user_type",
}


GROUP_PROPERTIES: dict[str, Callable[[Group], Any]] = {
    "id": lambda g: g.object_id,
    "createdDateTime": lambda g: g.created,
    "description": lambda g: g.description,
    "displayName": lambda g: g.display_name,
    "groupTypes": lambda g: list(g.group_types),
    "mail": lambda g: g.mail,
    "mailEnabled": lambda g: g.mail_enabled,
    "mailNickname": lambda g: g.mail_nickname,
    "securityEnabled": lambda g: g.security_enabled,
}
GROUP_DEFAULT_SELECT: tuple[str, ...] = (
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
)
GROUP_WRITABLE: dict[str, str] = {
    "description": "description",
    "displayName": "display_name",
    "mailEnabled": "mail_enabled",
    "mailNickname": "mail_nickname",
    "securityEnabled": "security_enabled",
    "groupTypes": "group_types",
}
# The relationship a groups delta tracks when it is selected (or when nothing is selected).
MEMBERS = "members"


def user_json(user: User, select: Sequence[str] | None, *, omit_unset: bool = False) -> dict[str, Any]:
    """A user as Graph shows it: the selected properties (the default set without ``$select``).

    Lists show an unset property as null; delta responses leave it out ("never set: not included").
    """
    return _project(user, USER_PROPERTIES, select or USER_DEFAULT_SELECT, omit_unset)


def group_json(group: Group, select: Sequence[str] | None, *, omit_unset: bool = False) -> dict[str, Any]:
    names = [name for name in (select or GROUP_DEFAULT_SELECT) if name != MEMBERS]
    return _project(group, GROUP_PROPERTIES, names, omit_unset)


def _project(item: Any, table: Mapping[str, Callable[[Any], Any]], names: Sequence[str], omit: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in names:
        getter = table.get(name)
        if getter is None:
            continue  # a property of the other type in a mixed $select (group members)
        value = getter(item)
        if value is None and omit:
            continue
        body[name] = value
    body.setdefault("id", table["id"](item))
    return body


def removed(object_id: str, reason: str) -> dict[str, Any]:
    """An object a delta round reports as gone: ``changed`` (soft-deleted, restorable) or ``deleted``."""
    return {"id": object_id, "@removed": {"reason": reason}}


def member_ref(object_id: str, odata_type: str, *, removed_reason: str | None = None) -> dict[str, Any]:
    """One entry of ``members@delta``."""
    ref: dict[str, Any] = {"@odata.type": odata_type, "id": object_id}
    if removed_reason:
        ref["@removed"] = {"reason": removed_reason}
    return ref
