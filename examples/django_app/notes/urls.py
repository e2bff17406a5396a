from django.urls import path

from . import health, views

app_name = "notes"

urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("upload/<int:pk>/", views.upload_detail, name="upload_detail"),
    path("tasks/ping/", views.task_ping, name="task_ping"),
    path("tasks/<uuid:run_id>/", views.task_status, name="task_status"),
    # Normally answered by notes.middleware.HealthCheckMiddleware; routed here
    # too so reverse() works and the views still answer if it is removed.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
