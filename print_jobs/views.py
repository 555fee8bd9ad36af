from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import tenant_member_required
from print_jobs.registry import JOBS_PANELS
from print_jobs.selectors import print_job_get, print_job_rows
from print_jobs.services import print_job_release
from ui.pagination import keyset_page

if TYPE_CHECKING:
    from accounts.models import User


@tenant_member_required
def job_list(request: HttpRequest) -> HttpResponse:
    user = cast("User", request.user)
    page = keyset_page(print_job_rows(user=user), field="received_at", params=request.GET)
    return render(request, "print_jobs/job_list.html", {"page": page, "panels": JOBS_PANELS.shown(user)})


@tenant_member_required
def job_document(request: HttpRequest, pk: int) -> FileResponse:
    job = print_job_get(user=cast("User", request.user), pk=pk)
    return FileResponse(job.document.open("rb"), as_attachment=True, filename=job.title, content_type=job.content_type)


@tenant_member_required
@require_POST
def job_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Stands in for the printer until devices exist: the job is printed."""
    job = print_job_get(user=cast("User", request.user), pk=pk)
    if print_job_release(job=job, actor=cast("User", request.user)):
        messages.success(request, f"{job.title} released to the printer.")
    else:
        messages.info(request, f"{job.title} was already printed.")
    return redirect("print_jobs:list")
