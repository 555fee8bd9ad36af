"""A directory of any size, made quickly and always the same for the same seed number.

``directory_generate(store, tenant, users=100_000, groups=500, seed=1)`` adds users spread over departments (2 % of
them guests, 1 % disabled), a root group "Cost Centers" whose members are one group per cost center (each user is
a member of their department's cost-center group), and team groups of a few hundred members each. Strings that
repeat (names, departments, titles, the created date) are shared objects, so 100,000 users fit in tens of MB.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from m365_emulator.graph.directory_store import (
    CREATED,
    DEFAULT_PASSWORD,
    DirectoryError,
    DirectoryStore,
    Group,
    TenantDirectory,
)
from m365_emulator.graph.objects import GROUP_TYPE, USER_TYPE
from m365_emulator.seed import User

GIVEN_NAMES = (  # noqa: SIM905 - a word list reads better as one string
    "Ada Adele Alex Allan Amara Ana Anders Anya Aria Ben Bianca Carla Carlos Chen Chloe Christie Dana Daniel Debra "
    "Diego Elena Emil Emma Eva Farah Felix Fiona Grady Hana Hannah Henrietta Ian Ines Isaiah Ivan Jana Johanna Joni "
    "Jonas Julia Kai Karim Kenji Lara Lee Leila Lena Lidia Liam Lucas Luis Lynne Maja Marek Maria Megan Mei Miriam "
    "Nadia Nestor Nina Noah Olga Omar Oscar Patti Paula Pedro Pradeep Priya Rafael Rosa Sami Sara Sofia Tariq Tomas "
    "Uma Vera Victor Wei Yara Yusuf Zara Zoe"
).split()
SURNAMES = (  # noqa: SIM905
    "Adams Ahmed Alvarez Archie Bauer Berger Bowen Brown Chen Cline Costa Dahl Deyoung Dubois Eriksen Fernandez "
    "Fischer Garcia Graham Gu Gupta Hansen Holloway Ito Jansen Kaur Kim Kowalski Langer Larsen Lopez Lorenz Martin "
    "Meyer Moreau Mueller Murphy Nakamura Nguyen Novak Okafor Olsen Patel Perez Petrov Quinn Robbins Rossi Sato "
    "Schmidt Sherman Siciliani Silva Smith Tanaka Vance Weber Wilber Wilke Wong Yilmaz Zhang"
).split()
DEPARTMENTS = (
    ("Sales", ("Account Executive", "Sales Manager", "Sales Representative")),
    ("Marketing", ("Marketing Specialist", "Marketing Manager", "Content Writer")),
    ("Engineering", ("Software Engineer", "Engineering Manager", "QA Engineer")),
    ("Finance", ("Accountant", "Financial Analyst", "Controller")),
    ("Human Resources", ("HR Generalist", "Recruiter", "HR Manager")),
    ("Operations", ("Operations Analyst", "Logistics Coordinator", "Operations Manager")),
    ("Legal", ("Counsel", "Paralegal")),
    ("IT", ("Systems Administrator", "Help Desk Technician", "IT Manager")),
    ("Research", ("Researcher", "Lab Technician")),
    ("Manufacturing", ("Production Planner", "Line Supervisor", "Technician")),
)
CITIES = ("Seattle", "London", "Prague", "Berlin", "Madrid", "Toronto", "Sydney", "Tokyo")
CREATED_AT = "2023-01-02T09:00:00Z"
GUEST_SHARE, DISABLED_SHARE = 0.02, 0.01
MAX_COST_CENTERS = 10


@dataclass(frozen=True)
class Generated:
    users: int
    groups: int
    memberships: int
    first_user_id: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "users": self.users,
            "groups": self.groups,
            "memberships": self.memberships,
            "first_user_id": self.first_user_id,
        }


def directory_generate(
    store: DirectoryStore, tenant: TenantDirectory, *, users: int, groups: int, seed: int
) -> Generated:
    """Add ``users`` users and ``groups`` groups to ``tenant``, deterministically from ``seed``."""
    if users < 0 or groups < 0:
        raise DirectoryError("users and groups must not be negative")
    rng = random.Random(seed)
    domain = tenant.directory.primary_domain
    prefix = f"g{seed}"
    # The first object id this seed makes; if it exists, so would every other one.
    if _taken(store, _object_id(random.Random(seed))):
        raise DirectoryError(f"seed {seed} was already generated in this emulator; reset it or use another seed")
    with store.state.lock:
        cost_centers, teams = _groups(store, tenant, rng, groups, prefix)
        memberships = len(cost_centers)
        first: str | None = None
        for index in range(users):
            user = _user(rng, index, tenant.tenant_id, domain, prefix)
            first = first or user.object_id
            store.state.users[user.object_id] = user
            tenant.user_ids.append(user.object_id)
            tenant.record_user(user.object_id, CREATED)
            memberships += _join(tenant, user, rng, cost_centers, teams)
    return Generated(users, groups, memberships, first)


def _taken(store: DirectoryStore, object_id: str) -> bool:
    return object_id in store.state.users or any(
        object_id in t.groups or object_id in t.deleted_users for t in store.tenants.values()
    )


def _object_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _user(rng: random.Random, index: int, tenant_id: str, domain: str, prefix: str) -> User:
    object_id = _object_id(rng)
    given, surname = rng.choice(GIVEN_NAMES), rng.choice(SURNAMES)
    department, titles = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
    guest = rng.random() < GUEST_SHARE
    enabled = rng.random() >= DISABLED_SHARE
    local = f"{given}.{surname}.{prefix}.{index}".lower()
    if guest:
        # An invited account: its mail is elsewhere, its UPN is the invitation form in this directory.
        mail = f"{local}@partner.example"
        upn = f"{local}_partner.example#ext#@{domain}"
    else:
        upn = mail = f"{local}@{domain}"
    return User(
        object_id=object_id,
        upn=upn,
        mail=mail,
        display_name=f"{given} {surname}",
        password=DEFAULT_PASSWORD,
        directory=tenant_id,
        enabled=enabled,
        given_name=given,
        surname=surname,
        department=department,
        job_title=rng.choice(titles),
        employee_id=None if guest else f"{prefix}-{index:06d}",
        city=rng.choice(CITIES),
        user_type="Guest" if guest else "Member",
        cost_center=None if guest else department,
        created=CREATED_AT,
    )


def _groups(
    store: DirectoryStore, tenant: TenantDirectory, rng: random.Random, count: int, prefix: str
) -> tuple[dict[str, Group], list[Group]]:
    """The root cost-center group and its children (by department), then team groups for the rest."""
    if count == 0:
        return {}, []

    def new(name: str, description: str) -> Group:
        group = store._new_group(
            tenant, object_id=_object_id(rng), display_name=name, description=description, created=CREATED_AT
        )
        tenant.record_group(group.object_id, CREATED)
        return group

    if count == 1:
        return {}, [new(f"Team {prefix}-1", "Generated team")]
    root = new(f"Cost Centers ({prefix})", "Root of the cost-center groups")
    cost_centers: dict[str, Group] = {}
    for number, (department, _) in enumerate(DEPARTMENTS[: min(MAX_COST_CENTERS, count - 1)], start=1):
        child = new(f"CC {number:03d} {department} ({prefix})", f"Cost center of {department}")
        cost_centers[department] = child
        root.members.add(child.object_id)
        tenant.record_membership(root.object_id, child.object_id, GROUP_TYPE, added=True)
    teams = [new(f"Team {prefix}-{n}", "Generated team") for n in range(1, count - len(cost_centers))]
    return cost_centers, teams


def _join(
    tenant: TenantDirectory, user: User, rng: random.Random, cost_centers: dict[str, Group], teams: list[Group]
) -> int:
    joined = 0
    groups = []
    if user.department in cost_centers and user.user_type == "Member":
        groups.append(cost_centers[user.department])
    if teams:
        groups.append(teams[rng.randrange(len(teams))])
    for group in groups:
        group.members.add(user.object_id)
        tenant.record_membership(group.object_id, user.object_id, USER_TYPE, added=True)
        joined += 1
    return joined
