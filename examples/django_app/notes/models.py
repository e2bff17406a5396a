import uuid

from django.db import models


class Note(models.Model):
    """A line of text written through the home page form."""

    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.text


class TaskRun(models.Model):
    """One Celery round trip: created by the web process, completed by a worker."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def __str__(self) -> str:
        return str(self.id)


class Upload(models.Model):
    """A user-supplied file stored in the configured media storage."""

    file = models.FileField(upload_to="uploads/%Y/%m/")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file.name
