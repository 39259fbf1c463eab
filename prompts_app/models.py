"""PromptLedger's domain: projects, keys, prompts, versions, labels, example sets.

Versions (of prompts and of example sets) are immutable once written: editing
anything creates a new version through the service layer.
"""

from __future__ import annotations

import hashlib
import secrets

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from prompts_app.errors import ImmutableRecord

SLUG_RE = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
slug_validator = RegexValidator(
    SLUG_RE,
    "Use 1-100 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit "
    "(no spaces or slashes).",
)

API_KEY_PREFIX = "pl_"


class Project(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKeyQuerySet(models.QuerySet):
    def for_raw_key(self, raw_key: str) -> ApiKey | None:
        """The active key matching a raw bearer token, or None."""
        if not raw_key.startswith(API_KEY_PREFIX):
            return None
        return (
            self.select_related("project")
            .filter(hashed_key=ApiKey.hash_raw(raw_key), revoked_at__isnull=True)
            .first()
        )


class ApiKey(models.Model):
    """A per-project key. Only its SHA-256 is stored: the raw key is shown once."""

    SCOPES = ("read", "write", "ingest")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise a key.")
    hashed_key = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'}, {self.project})"

    @staticmethod
    def hash_raw(raw_key: str) -> str:
        # Keys are 256-bit random tokens, so a fast hash is enough (no guessing to slow down).
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @staticmethod
    def new_raw_key() -> str:
        return API_KEY_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class Prompt(models.Model):
    KIND_TEXT = "text"
    KIND_CHAT = "chat"
    KIND_CHOICES = [(KIND_TEXT, "Text"), (KIND_CHAT, "Chat")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=100, validators=[slug_validator])
    kind = models.CharField(max_length=10, choices=KIND_CHOICES, default=KIND_TEXT)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Highest version number handed out; bumped under a row lock so numbers stay gap-free.
    latest_version_number = models.PositiveIntegerField(default=0, editable=False)
    protect_production = models.BooleanField(
        default=False,
        help_text="When set, 'production' moves only to a version whose latest eval run passed, "
        "unless forced with a reason.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="uniq_prompt_name_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class PromptVersion(models.Model):
    """One immutable version of a prompt: text template or chat messages, plus config."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    template = models.TextField(blank=True)
    messages = models.JSONField(null=True, blank=True)
    variables = models.JSONField(default=dict, blank=True, help_text="JSON Schema of the variables.")
    model_config = models.JSONField(default=dict, blank=True)
    example_set_version = models.ForeignKey(
        "ExampleSetVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prompt_versions",
    )
    message = models.TextField(blank=True, help_text="Commit message.")
    author = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    content_hash = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="uniq_version_number_per_prompt")
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRecord("Prompt versions are immutable: create a new version instead.")
        super().save(*args, **kwargs)

    @property
    def body(self):
        """The template for text prompts, the message list for chat prompts."""
        return self.messages if self.prompt.kind == Prompt.KIND_CHAT else self.template


class Label(models.Model):
    """A movable pointer from a name (production, staging, …) to one version."""

    PRODUCTION = "production"
    LATEST = "latest"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100, validators=[slug_validator])
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="labels")
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["prompt", "name"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "name"], name="uniq_label_per_prompt")
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name} → v{self.version.number}"


class LabelMove(models.Model):
    """The history of every label move: who, when, from, to, why."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="label_moves")
    label = models.CharField(max_length=100)
    from_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="+")
    moved_by = models.CharField(max_length=150, blank=True)
    moved_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    forced = models.BooleanField(default=False)

    class Meta:
        ordering = ["-moved_at", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRecord("Label history is append-only.")
        super().save(*args, **kwargs)


class ExampleSet(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="example_sets")
    name = models.CharField(max_length=100, validators=[slug_validator])
    description = models.TextField(blank=True)
    latest_version_number = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="uniq_example_set_name_per_project"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class ExampleSetVersion(models.Model):
    example_set = models.ForeignKey(ExampleSet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    message = models.TextField(blank=True)
    author = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["example_set", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["example_set", "number"], name="uniq_version_number_per_example_set"
            )
        ]

    def __str__(self) -> str:
        return f"{self.example_set.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRecord("Example set versions are immutable: create a new version.")
        super().save(*args, **kwargs)

    def as_render_examples(self) -> list[dict]:
        """The examples in the shape the renderer takes."""
        return [{"input": ex.input, "output": ex.output} for ex in self.examples.all()]


class Example(models.Model):
    """One few-shot example, owned by one immutable example-set version."""

    example_set_version = models.ForeignKey(
        ExampleSetVersion, on_delete=models.CASCADE, related_name="examples"
    )
    position = models.PositiveIntegerField()
    input = models.JSONField(help_text="Variables (an object) or a user message (a string).")
    output = models.TextField(help_text="The ideal output.")
    tags = models.JSONField(default=list, blank=True)
    approved = models.BooleanField(default=False)

    class Meta:
        ordering = ["example_set_version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["example_set_version", "position"], name="uniq_example_position"
            )
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ImmutableRecord("Examples belong to an immutable version: create a new version.")
        super().save(*args, **kwargs)
