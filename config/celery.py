"""The one Celery app: configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("promptledger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_filesystem_broker_folders() -> None:
    """The embedded default's broker is a set of folders: make sure they exist
    (called from the app's ready(), so web, worker and commands all have them)."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
            if isinstance(folder, str):
                os.makedirs(folder, exist_ok=True)
