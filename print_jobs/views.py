from __future__ import annotations

from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.permissions import tenant_member_required
from print_jobs.selectors import print_job_list


@tenant_member_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = print_job_list(user=request.user)  # type: ignore[arg-type]
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    return render(request, "print_jobs/job_list.html", {"page": page})


@tenant_member_required
def job_document(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(print_job_list(user=request.user), pk=pk)  # type: ignore[arg-type]
    return FileResponse(job.document.open("rb"), as_attachment=True, filename=job.title, content_type=job.content_type)
