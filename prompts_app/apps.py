from django.apps import AppConfig


class PromptsAppConfig(AppConfig):
    name = "prompts_app"
    verbose_name = "PromptLedger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.celery import ensure_filesystem_broker_folders
        from prompts_app.api import schema  # noqa: F401 - registers the OpenAPI auth scheme

        ensure_filesystem_broker_folders()
