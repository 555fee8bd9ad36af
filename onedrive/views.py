"""My Settings > Cloud Services, Print from OneDrive and Scan to OneDrive (on the Jobs page).

Every view works for the signed-in user only: their connection, their files, their prints and scans; another
user's or another tenant's object is a 404 (tenant- and user-scoped selectors).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import tenant_member_required
from integrations.selectors import user_connections
from microsoft import errors as microsoft_errors
from onedrive import selectors
from onedrive.errors import OneDriveError, ReconnectNeeded
from onedrive.forms import PreferenceForm, ScanFolderForm, ScanUploadForm
from onedrive.panels import jobs_panel_context
from onedrive.services import browsing, connection, printing, scanning
from print_jobs.registry import JOBS_CHANGED
from throttling.services import Throttled, try_again_in
from ui.live import live_response

if TYPE_CHECKING:
    from accounts.models import User

ITEM_ID = re.compile(r"[A-Za-z0-9!._-]{1,200}")


def _user(request: HttpRequest) -> User:
    return cast("User", request.user)


def _connection(user: User) -> selectors.Connection:
    found = selectors.onedrive_connection(user=user)
    if found is None:
        raise Http404("OneDrive is not enabled in this Roger tenant.")
    return found


@tenant_member_required
def cloud_services(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    preference = selectors.preference_of(user=user)
    form = PreferenceForm(request.POST or None, initial={"printed_action": preference.printed_action})
    if request.method == "POST":
        _connection(user)
        if form.is_valid():
            connection.preference_save(
                user=user, printed_action=form.cleaned_data["printed_action"], scan_folder=preference.scan_folder
            )
            messages.success(request, "Printed Job preference saved.")
            return redirect("onedrive:cloud_services")
    context = {
        "connections": [
            selectors.Connection(feature=found.feature, credential=found.credential)
            for found in user_connections(user=user)
        ],
        "onedrive": selectors.onedrive_connection(user=user),
        "preference": preference,
        "form": form,
    }
    return render(request, "onedrive/cloud_services.html", context)


@tenant_member_required
@require_POST
def disconnect(request: HttpRequest, feature_pk: int) -> HttpResponse:
    user = _user(request)
    found = next((c for c in user_connections(user=user) if c.feature.pk == feature_pk), None)
    if found is None:
        raise Http404("No such OneDrive.")
    if connection.connection_disconnect(user=user, feature=found.feature):
        messages.success(request, "OneDrive disconnected. Roger no longer reaches your files.")
    return redirect("onedrive:cloud_services")


@tenant_member_required
def scan_folder(request: HttpRequest) -> HttpResponse:
    """Choose the scan destination by browsing the user's folders."""
    user = _user(request)
    onedrive = _connection(user)
    if request.method == "POST":
        form = ScanFolderForm(request.POST)
        if form.is_valid():
            preference = selectors.preference_of(user=user)
            connection.preference_save(
                user=user, printed_action=preference.printed_action, scan_folder=form.cleaned_data["folder"]
            )
            messages.success(request, f"Scans now go to {form.cleaned_data['folder']} in your OneDrive.")
            return redirect("onedrive:cloud_services")
        messages.error(request, "; ".join(str(e) for e in form.errors.get("folder", ["Choose a folder."])))
    return _browse(request, onedrive, mode="folder")


@tenant_member_required
def browse(request: HttpRequest) -> HttpResponse:
    """Print from OneDrive: browse, search and choose files; each becomes a print job."""
    user = _user(request)
    onedrive = _connection(user)
    if request.method == "POST":
        return _print(request, user)
    return _browse(request, onedrive, mode="print")


def _browse(request: HttpRequest, onedrive: selectors.Connection, *, mode: str) -> HttpResponse:
    context: dict[str, object] = {"mode": mode, "onedrive": onedrive, "listing": None, "error": None}
    if onedrive.usable:
        try:
            context["listing"] = browsing.drive_listing(
                user=_user(request),
                feature=onedrive.feature,
                folder=request.GET.get("path", "/"),
                search=request.GET.get("q", "") if mode == "print" else "",
                next_link=request.GET.get("more") or None,
                folders_only=mode == "folder",
            )
        except ReconnectNeeded as exc:
            context["error"] = exc.message
            onedrive = selectors.onedrive_connection(user=_user(request)) or onedrive
            context["onedrive"] = onedrive
        except OneDriveError as exc:
            context["error"] = exc.message
        except microsoft_errors.ResourceNotFound:
            context["error"] = "That folder is not in your OneDrive (any more)."
        except microsoft_errors.MicrosoftError as exc:
            context["error"] = f"OneDrive did not answer: {exc.explanation} Try again in a moment."
    return render(request, "onedrive/browse.html", context)


def _print(request: HttpRequest, user: User) -> HttpResponse:
    ids = [i for i in request.POST.getlist("item") if ITEM_ID.fullmatch(i)]
    items = [(i, request.POST.get(f"name-{i}", "")) for i in ids]
    try:
        prints = printing.print_request_create(user=user, items=items)
    except Throttled as exc:
        messages.error(request, f"Too many print requests: try again in {try_again_in(exc.retry_after)}.")
        return redirect(request.get_full_path())
    except OneDriveError as exc:
        messages.error(request, exc.message)
        return redirect(request.get_full_path())
    count = len(prints)
    messages.success(request, f"{count} file{'s' if count != 1 else ''} from OneDrive on the way to your jobs.")
    return redirect("print_jobs:list")


@tenant_member_required
@require_POST
def scan_upload(request: HttpRequest) -> HttpResponse:
    """Stands in for a device's Scan to OneDrive: the uploaded document goes to the user's scan folder."""
    user = _user(request)
    _connection(user)
    form = ScanUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose the scanned document to send.")
        return redirect("print_jobs:list")
    document = form.cleaned_data["document"]
    try:
        delivery = scanning.scan_delivery_create(user=user, name=document.name, document=document)
    except Throttled as exc:
        messages.error(request, f"Too many scans: try again in {try_again_in(exc.retry_after)}.")
    except OneDriveError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{delivery.name} is on its way to {delivery.folder} in your OneDrive.")
    return redirect("print_jobs:list")


@tenant_member_required
@require_GET
def jobs_panel(request: HttpRequest) -> HttpResponse:
    """The OneDrive part of the Jobs page, refreshed while the background works on something of the user's."""
    context = jobs_panel_context(_user(request))
    if context is None:
        raise Http404("OneDrive is not enabled in this Roger tenant.")
    response = live_response(request, context["live"], {"panel": context})
    if response.status_code != 204:
        response["HX-Trigger"] = JOBS_CHANGED  # a finished download is a new job in the table below
    return response


@tenant_member_required
@require_POST
def print_retry(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if printing.print_retry(row=selectors.user_print_get(user=user, pk=pk)):
        messages.success(request, "Trying again.")
    return redirect("print_jobs:list")


@tenant_member_required
@require_POST
def scan_retry(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if scanning.scan_retry(delivery=selectors.user_scan_get(user=user, pk=pk)):
        messages.success(request, "Trying again.")
    return redirect("print_jobs:list")
