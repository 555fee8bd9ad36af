"""Administration > Users: the list, add, edit, deactivate, reactivate, reset password, import and export.

Every object comes through a tenant-scoped selector: another tenant's user or import is a 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from accounts.errors import LastAdminError
from accounts.permissions import tenant_admin_required
from accounts.requests import TenantRequest
from accounts.services import user_deactivate, user_reactivate
from audit.services import audit_record
from ui.live import Live, live_response, version_of
from ui.pagination import keyset_page
from users_admin import selectors
from users_admin.choices import ImportPhase, ImportStatus, RowAction
from users_admin.forms import DeactivateForm, ImportForm, InvitationForm, UserForm
from users_admin.imports import import_apply, import_start, result_lines
from users_admin.models import UserImport
from users_admin.services import (
    UserFieldError,
    invitation_accept,
    invitation_find,
    password_reset_send,
    user_create,
    user_update,
)
from users_admin.spreadsheet import ImportFileError, csv_line
from users_admin.uploads import SizeLimitHandler

if TYPE_CHECKING:
    from accounts.models import User

PAGE_SIZE = 50
SEARCH_COUNT_CAP = 1000
PREVIEW_ROWS = 100


def _user(request: TenantRequest, pk: int) -> User:
    user = selectors.user_of_tenant(tenant=request.tenant, pk=pk)
    if user is None:
        raise Http404("No such user in this tenant.")
    return user


@tenant_admin_required
def user_list(request: TenantRequest) -> HttpResponse:
    query, state = request.GET.get("q", "")[:200], request.GET.get("state", "")
    users = selectors.users_search(tenant=request.tenant, query=query, state=state)
    count, capped = selectors.users_count(users, cap=SEARCH_COUNT_CAP if query else None)
    page = keyset_page(
        selectors.users_for_page(users), field="email", params=request.GET, per_page=PAGE_SIZE, descending=False
    )
    return render(
        request,
        "users_admin/user_list.html",
        {
            "page": page,
            "count": count,
            "capped": capped,
            "query": query,
            "state": state,
            "imports": selectors.imports_recent(tenant=request.tenant),
        },
    )


@tenant_admin_required
def user_add(request: TenantRequest) -> HttpResponse:
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                tenant=request.tenant,
                actor=request.user,
                values=form.values(),
                invite=form.cleaned_data.get("invite", False),
            )
        except UserFieldError as exc:
            for name, error in exc.errors.items():
                form.add_error(name if name in form.fields else None, error)
        else:
            invited = " and emailed an invitation to choose a password" if form.cleaned_data.get("invite") else ""
            messages.success(request, f"{user.email} was added{invited}.")
            return redirect("users_admin:users")
    return render(request, "users_admin/user_form.html", {"form": form, "subject": None})


@tenant_admin_required
def user_edit(request: TenantRequest, pk: int) -> HttpResponse:
    subject = _user(request, pk)
    form = UserForm(request.POST or None, user=subject)
    if request.method == "POST" and form.is_valid():
        try:
            changed = user_update(subject, values=form.values())
        except UserFieldError as exc:
            for name, error in exc.errors.items():
                form.add_error(name if name in form.fields else None, error)
        except LastAdminError as exc:
            form.add_error("role", str(exc))
        else:
            messages.success(request, f"{subject.email} was saved." if changed else "Nothing changed.")
            return redirect("users_admin:users")
    return render(
        request,
        "users_admin/user_form.html",
        {"form": form, "subject": subject, "deactivate_form": DeactivateForm()},
    )


@require_POST
@tenant_admin_required
def user_deactivate_view(request: TenantRequest, pk: int) -> HttpResponse:
    subject = _user(request, pk)
    form = DeactivateForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        user_deactivate(subject, actor=request.user, reason=reason or "Deactivated by an admin")
    except LastAdminError as exc:
        messages.error(request, str(exc))
        return redirect("users_admin:user_edit", pk=subject.pk)
    if subject.pk == request.user.pk:
        logout(request)
        return redirect("accounts:login")
    messages.success(request, f"{subject.email} is deactivated: signed out everywhere, their waiting jobs held.")
    return redirect("users_admin:users")


@require_POST
@tenant_admin_required
def user_reactivate_view(request: TenantRequest, pk: int) -> HttpResponse:
    subject = _user(request, pk)
    if user_reactivate(subject, actor=request.user):
        messages.success(request, f"{subject.email} is active again.")
    return redirect("users_admin:users")


@require_POST
@tenant_admin_required
def user_password_reset(request: TenantRequest, pk: int) -> HttpResponse:
    subject = _user(request, pk)
    if not subject.is_active:
        messages.error(request, "Reactivate the user first.")
        return redirect("users_admin:user_edit", pk=subject.pk)
    try:
        sent = password_reset_send(subject, actor=request.user)
    except UserFieldError as exc:
        messages.error(request, " ".join(exc.errors.values()))
    else:
        what = "a new invitation" if sent == "invitation" else "the password reset email"
        messages.success(request, f"{subject.email} was sent {what}.")
    return redirect("users_admin:user_edit", pk=subject.pk)


@tenant_admin_required
def user_export(request: TenantRequest) -> StreamingHttpResponse:
    """The tenant's users as CSV; cells that look like formulas are written as text (see cell_safe)."""
    tenant = request.tenant
    users = selectors.users_for_page(selectors.users_search(tenant=tenant, query=request.GET.get("q", "")))

    def lines() -> Iterator[str]:
        yield csv_line(["email", "name", "role", "source", "state", "aliases", "groups", "cost center", "card"])
        for user in users.iterator(chunk_size=2000):
            yield csv_line(
                [
                    user.email,
                    user.full_name,
                    user.role,
                    user.source,
                    user.state,
                    ";".join(a.name for a in user.sign_in_aliases.all()),
                    ";".join(g.name for g in user.groups.all()),
                    user.cost_center.name if user.cost_center else "",
                    user.card,
                ]
            )

    audit_record(tenant=tenant, action="user.exported")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="users-{tenant.name}.csv"'
    return response


# --- the invitation link (public: the token is the key) ----------------------------------------------------------


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    found = invitation_find(token)
    if found is None:
        response = render(request, "users_admin/invitation_invalid.html", status=404)
    else:
        form = InvitationForm(request.POST or None, user=found.user)
        if request.method == "POST" and form.is_valid():
            if invitation_accept(token, password=form.cleaned_data["password1"]) is not None:
                messages.success(request, "Your password is set: sign in with it.")
                return redirect("accounts:login")
            response = render(request, "users_admin/invitation_invalid.html", status=404)
        else:
            response = render(request, "users_admin/invitation.html", {"form": form, "invited": found.user})
    # The token is in the address: it never leaves in a Referer for another site ("no-referrer" would also make the
    # browser send "Origin: null" with the form, which the CSRF check refuses).
    response["Referrer-Policy"] = "same-origin"
    return response


# --- import ---------------------------------------------------------------------------------------------------


@csrf_exempt
@tenant_admin_required
def import_upload(request: TenantRequest) -> HttpResponseBase:
    """The upload stops at the size limit while it arrives: who asks is checked first, then the declared length
    before the body is read, then the bytes while they are read (SizeLimitHandler); the CSRF check follows (it
    reads the body)."""
    limit = settings.USER_IMPORT_MAX_BYTES
    handler = SizeLimitHandler(limit, request)
    if request.method == "POST":
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > limit + 64 * 1024:  # the form's other fields and the multipart framing
            return _too_large(request, status=413)
        request.upload_handlers = [handler, *request.upload_handlers]
    return _import_upload(request, handler)


@csrf_protect
def _import_upload(request: TenantRequest, handler: SizeLimitHandler) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if handler.exceeded:
        return _too_large(request, status=413)
    if request.method == "POST" and form.is_valid():
        try:
            started = import_start(
                tenant=request.tenant,
                actor=request.user,
                upload=form.cleaned_data["file"],
                send_invitations=form.cleaned_data["send_invitations"],
            )
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("users_admin:import_detail", pk=started.pk)
    return render(request, "users_admin/import_upload.html", {"form": form})


def _too_large(request: TenantRequest, *, status: int) -> HttpResponse:
    form = ImportForm()
    megabytes = settings.USER_IMPORT_MAX_BYTES // (1024 * 1024)
    form.errors["file"] = form.error_class([f"The file is larger than {megabytes} MB: split it and upload the parts."])
    return render(request, "users_admin/import_upload.html", {"form": form}, status=status)


def _import(request: TenantRequest, pk: int) -> UserImport:
    found = selectors.import_of_tenant(tenant=request.tenant, pk=pk)
    if found is None:
        raise Http404("No such import in this tenant.")
    return found


def _import_live(user_import: UserImport) -> Live:
    return Live(
        element_id="import-status",
        template="users_admin/partials/import_status.html",
        url=reverse("users_admin:import_status", args=[user_import.pk]),
        version=version_of(user_import.status, user_import.rows_done, user_import.counts, user_import.error),
        final=user_import.status not in ImportStatus.working(),
    )


def _import_context(user_import: UserImport) -> dict[str, object]:
    shown = selectors.import_rows(user_import=user_import, phase=ImportPhase.PREVIEW)
    refused = shown.filter(action=RowAction.REFUSED).order_by("number")[:PREVIEW_ROWS]
    return {
        "import": user_import,
        "live": _import_live(user_import),
        "preview_rows": list(shown.order_by("number")[:PREVIEW_ROWS]),
        "refused_rows": list(refused),
        "preview_rows_limit": PREVIEW_ROWS,
        "counts": [(RowAction(action), user_import.counts.get(action, 0)) for action in RowAction.values],
        "total": sum(user_import.preview_counts.values()),
    }


@tenant_admin_required
def import_detail(request: TenantRequest, pk: int) -> HttpResponse:
    user_import = _import(request, pk)
    return render(request, "users_admin/import_detail.html", _import_context(user_import))


@tenant_admin_required
def import_status(request: TenantRequest, pk: int) -> HttpResponse:
    user_import = _import(request, pk)
    response = live_response(request, _import_live(user_import), _import_context(user_import))
    if response.status_code != 204 and user_import.status not in ImportStatus.working():
        response["HX-Refresh"] = "true"  # the preview's rows or the result appear with the whole page
    return response


@require_POST
@tenant_admin_required
def import_apply_view(request: TenantRequest, pk: int) -> HttpResponse:
    user_import = _import(request, pk)
    if not import_apply(user_import, actor=request.user):
        messages.info(request, "This import is not waiting for a confirmation.")
    return redirect("users_admin:import_detail", pk=user_import.pk)


@tenant_admin_required
def import_result(request: TenantRequest, pk: int, phase: str) -> StreamingHttpResponse:
    user_import = _import(request, pk)
    if phase not in ImportPhase.values:
        raise Http404("No such result.")
    lines = (csv_line(cells) for cells in result_lines(user_import, phase))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="user-import-{user_import.pk}-{phase}.csv"'
    return response
