"""Test-only URLconf: the project's URLs plus MEDIA_URL served from MEDIA_ROOT.

In a deployment the reverse proxy serves MEDIA_ROOT at /media/ (an Nginx
``alias``); this stands in for it so a test can follow an uploaded file's URL.
"""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from project.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    re_path(r"^media/(?P<path>.+)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
