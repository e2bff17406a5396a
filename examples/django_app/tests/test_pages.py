"""HTML pages, uploads, static files and the HTTP security posture."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from notes.models import Note, Upload


@pytest.mark.django_db
def test_note_page_writes_and_reads_the_database(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No notes yet." in response.content

    response = client.post("/", {"text": "hello from the test"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert Note.objects.filter(text="hello from the test").count() == 1

    response = client.get("/")
    assert b"hello from the test" in response.content


@pytest.mark.django_db
def test_note_form_validation(client):
    response = client.post("/", {"text": ""})
    assert response.status_code == 200
    assert Note.objects.count() == 0


@pytest.mark.django_db
def test_note_post_requires_csrf_token():
    browser = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
    assert browser.post("/", {"text": "forged"}, HTTP_REFERER="https://testserver/").status_code == 403

    page = browser.get("/")
    token = page.cookies["csrftoken"].value
    response = browser.post(
        "/",
        {"text": "with token", "csrfmiddlewaretoken": token},
        HTTP_REFERER="https://testserver/",
    )
    assert response.status_code == 302
    assert Note.objects.filter(text="with token").exists()


@pytest.mark.django_db
@pytest.mark.urls("tests.urls")
def test_upload_lands_in_media_root_and_its_url_works(client):
    assert client.get("/upload/").status_code == 200
    payload = b"uploaded bytes \x00\x01\x02"
    upload = SimpleUploadedFile("report.txt", payload, content_type="text/plain")

    response = client.post("/upload/", {"file": upload})
    assert response.status_code == 302
    obj = Upload.objects.get()
    assert response["Location"] == f"/upload/{obj.pk}/"

    stored = Path(settings.MEDIA_ROOT) / obj.file.name
    assert stored.is_file()
    assert stored.read_bytes() == payload
    assert Path(settings.MEDIA_ROOT) in stored.resolve().parents
    assert not str(stored.resolve()).startswith(str(Path(settings.STATIC_ROOT).resolve()))

    detail = client.get(response["Location"])
    assert detail.status_code == 200
    match = re.search(rb'id="file-url" href="([^"]+)"', detail.content)
    assert match, detail.content
    url = match.group(1).decode()
    assert url.startswith("/media/uploads/")
    assert url == obj.file.url

    served = client.get(url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == payload


@pytest.mark.django_db
def test_upload_without_file_is_rejected(client):
    response = client.post("/upload/", {})
    assert response.status_code == 200
    assert Upload.objects.count() == 0


@pytest.mark.django_db
def test_security_headers_over_https(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(http_client):
    response = http_client.get("/upload/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/upload/"


@pytest.mark.django_db
def test_unknown_host_is_rejected(client):
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400


@pytest.mark.django_db
def test_static_files_are_hashed_and_served_by_whitenoise(client, collected_static):
    page = client.get("/")
    match = re.search(rb'href="(/static/notes/site\.[0-9a-f]{12}\.css)"', page.content)
    assert match, page.content
    assert (collected_static / "staticfiles.json").is_file()

    response = client.get(match.group(1).decode())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "immutable" in response["Cache-Control"]
    assert b"font-family" in b"".join(response.streaming_content)
