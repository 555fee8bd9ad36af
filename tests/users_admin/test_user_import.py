"""Import users from CSV and .xlsx: preview row by row, apply in the background, idempotent, resumable, safe."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from accounts import services as accounts_services
from accounts.choices import Role, UserSource
from accounts.models import Alias, User
from audit.models import AuditEvent
from tests.factories import UserFactory
from users_admin import imports
from users_admin.choices import ImportPhase, ImportStatus, RowAction
from users_admin.imports import import_work
from users_admin.models import UserImport, UserImportRow

# The statement a step sends when the users table grew: the columns the lookups' plans read, and the aliases.
ANALYZE_USERS = (
    'ANALYZE (SKIP_LOCKED) "accounts_user" ("tenant_id", "email", "directory_tenant_id", "directory_object_id", '
    '"card", "full_name_lower", "cost_center_id", "is_active", "role", "source"), "accounts_alias"'
)


pytestmark = pytest.mark.django_db

FORMULA = "=cmd|' /C calc'!A0"
HEADER = ["Email", "Name", "Role", "Aliases", "Card", "PIN"]
ROWS = [
    ["megan@alpha.example", "Megan Bowen", "user", "megan;mbowen", "100201", "4711"],
    ["alex@alpha.example", FORMULA, "", "alexw", "100202", ""],
    ["diego@alpha.example", "Diego", "admin", "", "", ""],
    ["user@alpha.example", "Pat Updated", "", "", "", ""],  # user_a: an update (the empty card keeps C-1)
    ["not-an-email", "Somebody", "user", "", "", ""],
    ["MEGAN@alpha.example", "Megan again", "", "", "", ""],
    ["grady@alpha.example", "Grady", "manager", "", "", ""],
    ["adele@alpha.example", "Adele", "", "", "", ""],  # synced
    ["taken@alpha.example", "Taken", "", "", "C-1", ""],  # user_a's card
]
GOOD = {"megan@alpha.example", "alex@alpha.example", "diego@alpha.example"}


def csv_bytes(rows=ROWS, header=HEADER) -> bytes:
    lines = [",".join(f'"{c}"' if ("," in c or '"' in c or "'" in c) else c for c in row) for row in [header, *rows]]
    return ("\n".join(lines) + "\n").encode()


def xlsx_bytes(rows=ROWS, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append([int(c) if c.isdigit() and len(c) > 4 else c for c in row])  # cards typed as numbers
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula, as a spreadsheet stores a quoted one
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def world(tenant_a, user_a):
    user_a.card = "C-1"
    user_a.save()
    UserFactory(tenant=tenant_a, email="adele@alpha.example", source=UserSource.SYNCED, directory_object_id="o1")
    return tenant_a


def upload(client, name: str, content: bytes, **extra):
    return client.post(
        reverse("users_admin:import_upload"), {"file": SimpleUploadedFile(name, content), **extra}, follow=False
    )


def preview(client, name, content) -> UserImport:
    response = upload(client, name, content)
    assert response.status_code == 302, response.content.decode()[:2000]
    user_import = UserImport.objects.get(pk=int(response.url.rstrip("/").split("/")[-1]))
    assert user_import.status == ImportStatus.CHECKING
    return import_work(import_id=user_import.pk)


def apply(client, user_import) -> UserImport:
    assert client.post(reverse("users_admin:import_apply", args=[user_import.pk])).status_code == 302
    return import_work(import_id=user_import.pk)


def outcomes(user_import, phase) -> dict[int, tuple[str, str]]:
    return {r.number: (r.action, r.detail) for r in UserImportRow.objects.filter(user_import=user_import, phase=phase)}


@pytest.mark.parametrize(("name", "make"), [("users.csv", csv_bytes), ("users.xlsx", xlsx_bytes)])
def test_preview_then_apply_good_and_bad_rows_twice(admin_a_client, admin_a, world, user_a, name, make):
    before = set(User.objects.values_list("email", "full_name", "card"))
    checked = preview(admin_a_client, name, make())
    assert set(User.objects.values_list("email", "full_name", "card")) == before  # a preview writes no user
    rows = outcomes(checked, ImportPhase.PREVIEW)
    assert {n: a for n, (a, _) in rows.items()} == {
        2: "create", 3: "create", 4: "create", 5: "update",
        6: "refused", 7: "refused", 8: "refused", 9: "refused", 10: "refused",
    }  # fmt: skip
    assert rows[5][1] == "name"
    assert "Invalid email" in rows[6][1]
    assert "row 2 has the same email" in rows[7][1]
    assert "'manager' does not exist" in rows[8][1]
    assert "synchronized user" in rows[9][1]
    assert "card belongs to another user (user@alpha.example)" in rows[10][1]
    assert checked.preview_counts == {"create": 3, "update": 1, "refused": 5}

    page = admin_a_client.get(reverse("users_admin:import_detail", args=[checked.pk])).content.decode()
    assert "Invalid email" in page and "Ready to import" in page

    done = apply(admin_a_client, checked)
    assert done.status == ImportStatus.DONE and done.counts == {"create": 3, "update": 1, "refused": 5}
    megan = User.objects.get(email="megan@alpha.example")
    assert (megan.tenant, megan.source, megan.role, megan.card) == (world, UserSource.LOCAL, Role.USER, "100201")
    assert megan.check_pin("4711") and not megan.has_usable_password()
    assert sorted(megan.sign_in_aliases.values_list("name", flat=True)) == ["mbowen", "megan"]
    assert User.objects.get(email="diego@alpha.example").role == Role.ADMIN
    user_a.refresh_from_db()
    assert (user_a.full_name, user_a.card) == ("Pat Updated", "C-1")
    assert AuditEvent.objects.filter(action="user.created", details__import=done.pk).count() == 3
    assert AuditEvent.objects.filter(action="user_import.done", actor=admin_a).count() == 1

    after_first = set(User.objects.values_list("email", "full_name", "card", "role", "pin_hash"))
    again = apply(admin_a_client, preview(admin_a_client, name, make()))
    assert again.preview_counts == {"unchanged": 4, "refused": 5} and again.counts == again.preview_counts
    assert set(User.objects.values_list("email", "full_name", "card", "role", "pin_hash")) == after_first
    assert Alias.objects.filter(user__email="megan@alpha.example").count() == 2


def test_the_uploaded_file_with_its_pins_is_removed_once_the_import_is_over(admin_a_client, world):
    """The file holds PINs in clear: kept while the preview waits to be applied, removed when applied or failed."""
    checked = preview(admin_a_client, "users.csv", csv_bytes())
    stored = checked.file.name
    assert checked.file.storage.exists(stored)
    done = apply(admin_a_client, checked)
    assert done.status == ImportStatus.DONE
    assert not checked.file.storage.exists(stored) and not done.file
    failed = preview(admin_a_client, "bad.csv", b"Name\nNobody\n")
    assert failed.status == ImportStatus.FAILED and not failed.file


def test_a_formula_cell_is_stored_as_text_and_exported_safely(admin_a_client, world):
    apply(admin_a_client, preview(admin_a_client, "users.csv", csv_bytes()))
    assert User.objects.get(email="alex@alpha.example").full_name == FORMULA

    export = b"".join(admin_a_client.get(reverse("users_admin:users_export")).streaming_content).decode()
    line = next(line for line in export.splitlines() if line.startswith("alex@"))
    assert "'=cmd|" in line and ",=cmd" not in line and ',"=cmd' not in line

    evil = UserImport.objects.latest("pk")
    UserImportRow.objects.filter(user_import=evil, number=2).update(email="=HYPERLINK(1)", detail="+1")
    result = admin_a_client.get(reverse("users_admin:import_result", args=[evil.pk, "apply"]))
    text = b"".join(result.streaming_content).decode()
    assert "'=HYPERLINK(1)" in text and "'+1" in text


def test_an_upload_over_the_limit_stops_while_it_arrives(admin_a_client, tenant_a, settings):
    settings.USER_IMPORT_MAX_BYTES = 1000
    body = csv_bytes(rows=[[f"u{n}@alpha.example", "Name", "", "", "", ""] for n in range(200)])
    assert len(body) > 1000
    response = upload(admin_a_client, "big.csv", body)  # declared size within the framing allowance: the handler
    assert response.status_code == 413 and "larger than" in response.content.decode()
    huge = upload(admin_a_client, "huge.csv", b"Email\n" + b"x@alpha.example\n" * 10_000)  # refused by its length
    assert huge.status_code == 413
    assert not UserImport.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("users.xlsx", b"not a zip", "not an Excel workbook"),
        ("users.csv", b"Name,Card\nPat,1\n", "at least Email"),
        ("users.csv", "Email\nzoë@alpha.example\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_fails_with_the_reason(admin_a_client, tenant_a, name, content, error):
    failed = preview(admin_a_client, name, content)
    assert failed.status == ImportStatus.FAILED and error in failed.error


def test_other_file_types_are_refused_at_upload(admin_a_client, tenant_a):
    response = upload(admin_a_client, "users.pdf", b"%PDF")
    assert response.status_code == 200 and "Upload a .csv or an .xlsx" in response.content.decode()


class Killed(BaseException):
    """A worker killed mid-import: no handler of the service runs."""


def test_a_worker_killed_mid_import_resumes_without_duplicates(admin_a_client, world, monkeypatch):
    monkeypatch.setattr(imports, "BATCH", 2)
    checked = preview(admin_a_client, "users.csv", csv_bytes())
    admin_a_client.post(reverse("users_admin:import_apply", args=[checked.pk]))

    real_renew, calls = imports.work_renew, []

    def renew_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return real_renew(*args, **kwargs)

    monkeypatch.setattr(imports, "work_renew", renew_then_die)
    with pytest.raises(Killed):
        import_work(import_id=checked.pk)
    stuck = UserImport.objects.get(pk=checked.pk)
    assert stuck.status == ImportStatus.APPLYING and stuck.rows_done == 4
    assert import_work(import_id=checked.pk) is None  # still leased by the dead worker

    UserImport.objects.filter(pk=checked.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    done = import_work(import_id=checked.pk)
    assert done.status == ImportStatus.DONE and done.counts == {"create": 3, "update": 1, "refused": 5}
    assert UserImportRow.objects.filter(user_import=done, phase=ImportPhase.APPLY).count() == 9
    assert User.objects.filter(email__in=GOOD).count() == 3
    assert AuditEvent.objects.filter(action="user.created", details__import=done.pk).count() == 3


def test_an_import_that_fills_the_users_table_refreshes_its_statistics(admin_a_client, world, monkeypatch):
    """PostgreSQL plans a batch's lookups on the tables' statistics: an import that grows them analyzes them (here
    each batch of one row, from 1 created user, doubling) instead of waiting for autovacuum; a preview and an import
    that creates nobody do not."""
    monkeypatch.setattr(imports, "BATCH", 1)
    monkeypatch.setattr(accounts_services, "STATISTICS_FIRST", 1)

    def analyzed(phase) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            phase()
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]

    checked: list[UserImport] = []
    assert not analyzed(lambda: checked.append(preview(admin_a_client, "users.csv", csv_bytes())))
    # created users 0 to 1, 1 to 2 (each doubles), 2 to 3 (does not)
    assert analyzed(lambda: apply(admin_a_client, checked[0])) == 2 * [ANALYZE_USERS]
    assert not analyzed(lambda: apply(admin_a_client, preview(admin_a_client, "users.csv", csv_bytes())))


def test_imports_match_only_the_tenants_own_users(admin_a_client, world, tenant_b):
    theirs = UserFactory(tenant=tenant_b, email="megan@alpha.example", full_name="Bravo's Megan")
    apply(admin_a_client, preview(admin_a_client, "users.csv", csv_bytes()))
    theirs.refresh_from_db()
    assert theirs.full_name == "Bravo's Megan" and not theirs.sign_in_aliases.exists()
    assert User.objects.filter(email="megan@alpha.example").count() == 2


def test_invitations_go_to_new_users_when_asked(admin_a_client, world):
    from django.core import mail

    response = upload(admin_a_client, "users.csv", csv_bytes(), send_invitations="on")
    user_import = import_work(import_id=int(response.url.rstrip("/").split("/")[-1]))
    apply(admin_a_client, user_import)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(GOOD)


def test_the_sample_file_in_docs_imports(admin_a_client, tenant_a):
    from pathlib import Path

    sample = (Path(__file__).resolve().parents[2] / "docs" / "users-import-sample.csv").read_bytes()
    done = apply(admin_a_client, preview(admin_a_client, "users-import-sample.csv", sample))
    assert done.counts == {"create": 5, "refused": 3}
    assert RowAction.REFUSED in set(UserImportRow.objects.values_list("action", flat=True))


def test_the_status_follows_the_work_live_and_stops_when_final(admin_a_client, world):
    response = upload(admin_a_client, "users.csv", csv_bytes())
    pk = int(response.url.rstrip("/").split("/")[-1])
    status_url = reverse("users_admin:import_status", args=[pk])
    first = admin_a_client.get(status_url)
    assert first.status_code == 200 and "Checking the file" in first.content.decode()
    version = first.context["live"].version
    assert admin_a_client.get(status_url, {"v": version}).status_code == 204  # nothing changed

    import_work(import_id=pk)
    final = admin_a_client.get(status_url, {"v": version})
    assert final.status_code == 286 and "Ready to import" in final.content.decode()
    assert final["HX-Refresh"] == "true"  # the preview's rows appear with the whole page
