import uuid

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .forms import NoteForm, UploadForm
from .models import Note, TaskRun, Upload
from .tasks import record_ping


@ensure_csrf_cookie  # automation clients fetch "/" to obtain the csrftoken cookie
@require_http_methods(["GET", "HEAD", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            form.save()
            return redirect("notes:index")
    else:
        form = NoteForm()
    notes = Note.objects.all()[:50]
    return render(request, "notes/index.html", {"form": form, "notes": notes})


@require_http_methods(["GET", "HEAD", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            obj = form.save()
            return redirect("notes:upload_detail", pk=obj.pk)
    else:
        form = UploadForm()
    return render(request, "notes/upload.html", {"form": form})


@require_GET
def upload_detail(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(Upload, pk=pk)
    return render(request, "notes/upload_detail.html", {"upload": obj})


@require_POST
def task_ping(request: HttpRequest) -> JsonResponse:
    """Enqueue a task that marks a new TaskRun as done; answer with its id."""
    run = TaskRun.objects.create()
    run_id = str(run.id)
    # Only publish once the row is committed, so the worker can always see it.
    transaction.on_commit(lambda: record_ping.delay(run_id))
    return JsonResponse({"id": run_id}, status=202)


@never_cache
@require_GET
def task_status(request: HttpRequest, run_id: uuid.UUID) -> JsonResponse:
    run = get_object_or_404(TaskRun, pk=run_id)
    return JsonResponse({"id": str(run.id), "done": run.done})
