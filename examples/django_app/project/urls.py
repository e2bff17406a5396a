"""URL configuration.

Media files are not served by Django: with MEDIA_STORAGE=local the reverse
proxy serves MEDIA_ROOT at MEDIA_URL; with s3/gcs the storage hands out signed URLs.
"""

from django.urls import include, path

urlpatterns = [
    path("", include("notes.urls")),
]
