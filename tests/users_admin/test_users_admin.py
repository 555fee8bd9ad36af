"""Administration > Users: list and search, add with an invitation, edit, deactivate, reactivate, reset password."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role, UserSource
from accounts.models import Alias, CostCenter, Group, GroupMembership, User
from audit.models import AuditEvent
from tests.factories import AdminFactory, UserFactory
from users_admin.models import Invitation

pytestmark = pytest.mark.django_db

USERS = reverse("users_admin:users")


def add(client, **fields):
    data = {"email": "pat@alpha.example", "full_name": "Pat Doe", "role": "user", "aliases": "", "card": ""}
    data.update(fields)
    return client.post(reverse("users_admin:user_add"), data)


def invitation_link(message) -> str:
    return re.search(r"https?://\S+/administration/users/invitation/\S+/", message.body).group(0)


def test_the_users_page_shows_source_state_aliases_groups_cost_center_and_card(admin_a_client, tenant_a, user_a):
    center = CostCenter.objects.create(tenant=tenant_a, name="Marketing")
    synced = UserFactory(
        tenant=tenant_a,
        email="adele@alpha.example",
        full_name="Adele Vance",
        source=UserSource.SYNCED,
        directory_tenant_id="dir-contoso",
        directory_object_id="oid-1",
        card="C-77",
        cost_center=center,
        is_active=False,
        deactivated_at=timezone.now(),
        deactivation_reason="Removed from the directory",
    )
    Alias.objects.create(user=synced, name="adele.vance")
    group = Group.objects.create(
        tenant=tenant_a, name="Sales", directory_tenant_id="dir-contoso", directory_object_id="g"
    )
    GroupMembership.objects.create(user=synced, group=group)

    page = admin_a_client.get(USERS).content.decode()
    row = page[page.index(f'id="user-{synced.pk}"') :].split("</tr>")[0]
    for shown in (
        "Adele Vance",
        "Synchronized from Entra ID",
        "dir-contoso",
        "Deactivated",
        "Removed from the directory",
        "adele.vance",
        "Sales",
        "Marketing",
        "C-77",
    ):
        assert shown in row, shown
    assert 'href="/administration/users/"' in page and 'aria-current="page"' in page  # the navigation's Users entry


def test_search_by_prefix_of_email_name_or_alias_in_any_case(admin_a_client, tenant_a):
    UserFactory(tenant=tenant_a, email="zoe@alpha.example", full_name="Zoe Quinn")
    UserFactory(tenant=tenant_a, email="bob@alpha.example", full_name="Robert Brown")
    Alias.objects.create(
        user=UserFactory(tenant=tenant_a, email="kim@alpha.example", full_name="Kim"), name="Printer.Kim"
    )

    def found(q):
        return {u.email for u in admin_a_client.get(USERS, {"q": q}).context["page"]}

    assert found("ZO") == {"zoe@alpha.example"}
    assert found("robert b") == {"bob@alpha.example"}
    assert found("printer.") == {"kim@alpha.example"}
    assert found("brown") == set()  # a prefix, not anywhere in the name
    assert found("%") == set() and found("_") == set()  # LIKE wildcards are literal


def test_the_list_pages_and_counts_queries_independent_of_size(admin_a_client, tenant_a, django_assert_max_num_queries):
    users = UserFactory.create_batch(60, tenant=tenant_a)
    for user in users[:10]:
        Alias.objects.create(user=user, name=f"alias-{user.pk}")
    with django_assert_max_num_queries(12):
        first = admin_a_client.get(USERS)
    page = first.context["page"]
    assert len(page) == 50 and first.context["count"] == 61 and page.newer is None
    second = admin_a_client.get(USERS, {"before": page.older}).context["page"]
    assert len(second) == 11 and second.older is None
    assert not {u.pk for u in page} & {u.pk for u in second}
    back = admin_a_client.get(USERS, {"after": second.newer}).context["page"]
    assert [u.pk for u in back] == [u.pk for u in page]
    ordered = [u.email for u in [*page, *second]]
    assert ordered == sorted(ordered)
    assert len(admin_a_client.get(USERS, {"before": "junk"}).context["page"]) == 50  # a bad cursor: the first page


def test_the_list_pages_keep_the_search(admin_a_client, tenant_a):
    UserFactory.create_batch(55, tenant=tenant_a, full_name="Pat Example")
    html = admin_a_client.get(USERS, {"q": "pat ex", "state": "active"}).content.decode()
    [next_url] = re.findall(r'href="(\?[^"]*)">Next<', html)
    assert next_url.startswith("?q=pat+ex&amp;state=active&amp;before=")
    second = admin_a_client.get(USERS + next_url.replace("&amp;", "&")).context["page"]
    assert len(second) == 5 and all(u.full_name == "Pat Example" for u in second)


def test_add_a_colleague_who_chooses_a_password_once_from_the_invitation(admin_a_client, admin_a, client, settings):
    settings.PORTAL_BASE_URL = "https://portal.roger.example"
    response = add(admin_a_client, role="admin", aliases="pat, PD", card="4711", pin="1234", invite="on")
    assert response.status_code == 302
    pat = User.objects.get(email="pat@alpha.example")
    assert (pat.tenant, pat.role, pat.source, pat.card) == (admin_a.tenant, Role.ADMIN, UserSource.LOCAL, "4711")
    assert sorted(pat.sign_in_aliases.values_list("name", flat=True)) == ["PD", "pat"]
    assert pat.check_pin("1234") and not pat.has_usable_password()
    assert {e.action for e in AuditEvent.objects.filter(target_id=str(pat.pk))} == {"user.created", "user.invited"}

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["pat@alpha.example"]
    link = invitation_link(mail.outbox[0])
    assert link.startswith("https://portal.roger.example/")  # from PORTAL_BASE_URL, not the request
    path = link.removeprefix("https://portal.roger.example")
    page = client.get(path)
    assert page.status_code == 200 and page["Referrer-Policy"] == "same-origin"
    assert client.post(path, {"password1": "short", "password2": "short"}).status_code == 200  # validators apply
    done = client.post(path, {"password1": "a Long enough pass 42", "password2": "a Long enough pass 42"})
    assert done.status_code == 302 and done.url == reverse("accounts:login")
    pat.refresh_from_db()
    assert pat.check_password("a Long enough pass 42")

    again = client.post(path, {"password1": "another Long pass 43", "password2": "another Long pass 43"})
    assert again.status_code == 404 and "cannot be used" in again.content.decode()
    pat.refresh_from_db()
    assert pat.check_password("a Long enough pass 42")


def test_an_invitation_expires_and_a_new_one_replaces_the_old(admin_a_client, admin_a, client):
    add(admin_a_client, invite="on")
    pat = User.objects.get(email="pat@alpha.example")
    first = invitation_link(mail.outbox[0]).split("testserver")[-1]
    first_path = first[first.index("/administration/") :]
    Invitation.objects.filter(user=pat).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(first_path).status_code == 404

    admin_a_client.post(reverse("users_admin:user_password_reset", args=[pat.pk]))  # no password yet: invites again
    second_path = invitation_link(mail.outbox[1])
    second_path = second_path[second_path.index("/administration/") :]
    other = admin_a_client.post(reverse("users_admin:user_password_reset", args=[pat.pk]))
    assert other.status_code == 302 and len(mail.outbox) == 3
    assert client.get(second_path).status_code == 404  # replaced by the third
    assert client.get(first_path).status_code == 404


def test_an_invitation_sent_to_a_mistyped_address_stops_working_when_the_email_is_corrected(
    admin_a_client, admin_a, client
):
    """The stranger at the mistyped address holds a link to choose the password of the corrected account: the
    correction must end it (as Django's password reset tokens end with an email change)."""
    add(admin_a_client, email="pat@alpha-typo.example", invite="on")
    pat = User.objects.get(email="pat@alpha-typo.example")
    stranger = invitation_link(mail.outbox[0])
    stranger = stranger[stranger.index("/administration/") :]
    edited = admin_a_client.post(
        reverse("users_admin:user_edit", args=[pat.pk]),
        {"email": "pat@alpha.example", "full_name": "Pat Doe", "role": "user", "aliases": "", "card": "", "pin": ""},
    )
    assert edited.status_code == 302
    assert client.get(stranger).status_code == 404
    taken = client.post(stranger, {"password1": "a Long enough pass 42", "password2": "a Long enough pass 42"})
    assert taken.status_code == 404
    pat.refresh_from_db()
    assert pat.email == "pat@alpha.example" and not pat.has_usable_password()


def test_the_invitation_token_is_not_written_to_the_request_log(admin_a_client, admin_a, client, caplog):
    """The token is the key to the account: the request log line keeps the page, not the token."""
    add(admin_a_client, invite="on")
    link = invitation_link(mail.outbox[0])
    path = link[link.index("/administration/") :]
    token = path.rstrip("/").rsplit("/", 1)[-1]
    with caplog.at_level("INFO", logger="operations.request"):
        assert client.get(path).status_code == 200
        client.post(path, {"password1": "a Long enough pass 42", "password2": "a Long enough pass 42"})
    lines = [r for r in caplog.records if r.name == "operations.request" and "/invitation/" in r.getMessage()]
    assert len(lines) == 2
    assert not any(token in r.getMessage() or token in str(getattr(r, "path", "")) for r in lines)


def test_add_refuses_an_email_card_or_alias_that_is_taken(admin_a_client, admin_a, tenant_a, user_a):
    user_a.card = "C-1"
    user_a.save()
    Alias.objects.create(user=user_a, name="taken")
    response = add(admin_a_client, email="USER@alpha.example", card="C-1", aliases="Taken")
    errors = response.context["form"].errors
    assert set(errors) == {"email", "card", "aliases"}
    assert User.objects.filter(tenant=tenant_a).count() == 2 and not mail.outbox  # admin_a and user_a


def test_edit_saves_and_audits_what_changed_as_the_pages_admin(admin_a_client, admin_a, user_a):
    response = admin_a_client.post(
        reverse("users_admin:user_edit", args=[user_a.pk]),
        {"email": user_a.email, "full_name": "Pat Renamed", "role": "admin", "aliases": "pr", "card": "9", "pin": ""},
    )
    assert response.status_code == 302
    user_a.refresh_from_db()
    assert (user_a.full_name, user_a.card, user_a.role) == ("Pat Renamed", "9", "admin")
    event = AuditEvent.objects.get(action="user.updated")
    assert set(event.details) == {"full_name", "aliases", "card"}
    role = AuditEvent.objects.get(action="user.role_changed")
    assert event.actor == role.actor == admin_a, "the page's user, from the request context"


def test_a_synced_users_directory_fields_are_read_only_and_say_so(admin_a_client, tenant_a):
    synced = UserFactory(tenant=tenant_a, email="adele@alpha.example", full_name="Adele", source=UserSource.SYNCED)
    url = reverse("users_admin:user_edit", args=[synced.pk])
    page = admin_a_client.get(url).content.decode()
    assert "change it there" in page and "Microsoft Entra ID" in page
    admin_a_client.post(
        url, {"email": "evil@alpha.example", "full_name": "Changed", "role": "admin", "aliases": "x", "card": "1"}
    )
    synced.refresh_from_db()
    assert (synced.email, synced.full_name, synced.card, synced.role) == ("adele@alpha.example", "Adele", "", "admin")
    assert not synced.sign_in_aliases.exists()


def test_deactivate_and_reactivate_from_the_page(admin_a_client, user_a, user_a_client):
    response = admin_a_client.post(reverse("users_admin:user_deactivate", args=[user_a.pk]), {"reason": "On leave"})
    assert response.status_code == 302
    user_a.refresh_from_db()
    assert not user_a.is_active and user_a.deactivation_reason == "On leave"
    assert user_a_client.get(reverse("dashboard")).status_code == 302  # signed out
    assert "On leave" in admin_a_client.get(USERS).content.decode()

    admin_a_client.post(reverse("users_admin:user_reactivate", args=[user_a.pk]))
    user_a.refresh_from_db()
    assert user_a.is_active


def test_the_last_admin_is_protected_on_the_page(admin_a_client, admin_a):
    response = admin_a_client.post(reverse("users_admin:user_deactivate", args=[admin_a.pk]), follow=True)
    assert "last active admin" in response.content.decode()
    response = admin_a_client.post(
        reverse("users_admin:user_edit", args=[admin_a.pk]),
        {"email": admin_a.email, "full_name": "", "role": "user", "aliases": "", "card": ""},
    )
    assert "last active admin" in str(response.context["form"].errors["role"])
    admin_a.refresh_from_db()
    assert admin_a.is_active and admin_a.role == Role.ADMIN


def test_an_admin_deactivating_themselves_is_signed_out(admin_a_client, admin_a, tenant_a):
    AdminFactory(tenant=tenant_a)
    response = admin_a_client.post(reverse("users_admin:user_deactivate", args=[admin_a.pk]))
    assert response.url == reverse("accounts:login")


def test_reset_password_sends_the_reset_email(admin_a_client, user_a, settings):
    settings.PORTAL_BASE_URL = "https://portal.roger.example"
    admin_a_client.post(reverse("users_admin:user_password_reset", args=[user_a.pk]))
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user_a.email]
    assert "https://portal.roger.example/accounts/reset/" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="user.password_reset_sent", target_id=str(user_a.pk)).exists()


def test_plain_users_cannot_open_the_users_pages(user_a_client, user_a):
    assert user_a_client.get(USERS).status_code == 403
    assert user_a_client.get(reverse("users_admin:user_add")).status_code == 403
    assert user_a_client.get(reverse("users_admin:user_edit", args=[user_a.pk])).status_code == 403


def test_a_broad_search_finds_what_a_narrow_one_would(admin_a, admin_a_client, tenant_a, monkeypatch):
    from users_admin import selectors

    admin_a.full_name = "Alex Admin"  # the factory's random name may start with "s" or "sa" and be found too
    admin_a.save()
    for n in range(8):
        user = UserFactory(tenant=tenant_a, email=f"sam{n}@alpha.example", full_name=f"Person {n}")
        Alias.objects.create(user=user, name=f"seat-{n}")
    UserFactory(tenant=tenant_a, email="other@alpha.example", full_name="Sandra")

    def found(q):
        return [u.email for u in admin_a_client.get(USERS, {"q": q}).context["page"]]

    narrow = {q: found(q) for q in ("s", "sa", "seat-", "person 1", "san")}
    monkeypatch.setattr(selectors, "SPARSE_MATCHES", 2)  # every search above now takes the broad way
    assert {q: found(q) for q in narrow} == narrow
    assert len(narrow["s"]) == 9 and narrow["seat-"] == [f"sam{n}@alpha.example" for n in range(8)]


def test_a_broad_search_counts_up_to_a_bound(admin_a_client, tenant_a, monkeypatch):
    from users_admin import views

    UserFactory.create_batch(7, tenant=tenant_a, full_name="Same Name")
    monkeypatch.setattr(views, "SEARCH_COUNT_CAP", 5)
    response = admin_a_client.get(USERS, {"q": "same"})
    assert response.context["capped"] and response.context["count"] == 5
    assert "More than 5 users match" in response.content.decode()
