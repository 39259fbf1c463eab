"""PromptLedger's domain: projects, keys, prompts, versions, labels, example sets.

Versions (of prompts and of example sets) are immutable once written: editing
anything creates a new version through the service layer.
"""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

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
PICO = Decimal(10) ** 12


class Project(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    protect_production_by_default = models.BooleanField(
        default=True,
        help_text="New prompts start with production protected (their 'production' label moves "
        "only to a version whose latest eval run passed).",
    )
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
    asynchronous = models.BooleanField(
        default=False,
        help_text="Its calls can wait minutes to hours, so batch or flex pricing can apply.",
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
    variables = models.JSONField(
        default=dict, blank=True, help_text="JSON Schema of the variables."
    )
    model_config = models.JSONField(default=dict, blank=True)
    # Jinja whitespace options, for templates written for them (chat templates are)
    trim_blocks = models.BooleanField(default=False)
    lstrip_blocks = models.BooleanField(default=False)
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
            models.UniqueConstraint(
                fields=["prompt", "number"], name="uniq_version_number_per_prompt"
            )
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

    @property
    def template_options(self) -> dict:
        return {"trim_blocks": self.trim_blocks, "lstrip_blocks": self.lstrip_blocks}


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


# --- prices ------------------------------------------------------------------


class ModelPriceQuerySet(models.QuerySet):
    def in_force(self, *, project: Project, model: str, at=None) -> ModelPrice | None:
        """The price of `model` in force at `at` (now by default): the latest one
        whose effective date is not after it."""
        at = at or timezone.now()
        return (
            self.filter(project=project, model=model, effective_from__lte=at)
            .order_by("-effective_from")
            .first()
        )


class ModelPrice(models.Model):
    """One model's list prices per 1M tokens for a project, from a date on.

    A price change is a new row with a later `effective_from`; past usage keeps
    the cost it was given at ingestion.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prices")
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=50, blank=True)
    effective_from = models.DateTimeField()
    input_per_1m = models.DecimalField(max_digits=14, decimal_places=6)
    cached_input_per_1m = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    output_per_1m = models.DecimalField(max_digits=14, decimal_places=6)
    ft_input_per_1m = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    ft_cached_input_per_1m = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    ft_output_per_1m = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    training_per_1m = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    source = models.TextField(blank=True)
    # Cache writes: the default (5-minute on Anthropic, the only one on OpenAI's
    # newest family) and Anthropic's 1-hour write. None: writes cost plain input.
    cache_write_per_1m = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    cache_write_1h_per_1m = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True
    )
    min_cacheable_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Shortest prefix the provider caches (OpenAI: 1,024)."
    )
    # Multipliers on every token price for asynchronous traffic; None: not offered.
    batch_multiplier = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    flex_multiplier = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    # Fine-tuning lifecycle: None means no known end.
    training_available_until = models.DateField(
        null=True, blank=True, help_text="First day without new training jobs (training is open before it)."
    )
    ft_hosting_per_month = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Fixed monthly cost of serving the tuned model (a dedicated endpoint).",
    )
    shutdown_date = models.DateField(
        null=True, blank=True, help_text="First day the model (and fine-tunes on it) no longer serves."
    )
    source_date = models.DateField(null=True, blank=True, help_text="As-of date of the source.")
    lifecycle_source = models.TextField(
        blank=True, help_text="Where the training cut-off and shutdown dates come from."
    )

    objects = ModelPriceQuerySet.as_manager()

    class Meta:
        ordering = ["project", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "model", "effective_from"], name="uniq_price_per_model_and_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"


# --- evals -------------------------------------------------------------------


class Provider(models.Model):
    """An OpenAI-compatible Chat Completions endpoint (OpenAI, vLLM, Ollama, Together…).

    The API key is never stored: `api_key_env` names the environment variable
    of the worker that holds it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=100, validators=[slug_validator])
    base_url = models.URLField(max_length=500, help_text="e.g. https://api.openai.com/v1")
    model = models.CharField(
        max_length=200, help_text="Used when a version's model_config names none."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Z_][A-Z0-9_]*(KEY|TOKEN)$",
                "An environment variable name ending in KEY or TOKEN, e.g. OPENAI_API_KEY.",
            )
        ],
    )
    timeout_seconds = models.FloatField(default=30.0)
    max_retries = models.PositiveSmallIntegerField(default=3)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="uniq_provider_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model} at {self.base_url})"


class EvalSuite(models.Model):
    prompt = models.OneToOneField(Prompt, on_delete=models.CASCADE, related_name="eval_suite")
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Without a provider only the static checks run.",
    )
    repeats = models.PositiveSmallIntegerField(
        default=1, help_text="Times each case runs against the model, to measure consistency."
    )

    def __str__(self) -> str:
        return f"eval suite of {self.prompt}"


class EvalCase(models.Model):
    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="cases")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    variables = models.JSONField(default=dict, blank=True)
    expected_output = models.TextField(blank=True)
    assertions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["suite", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["suite", "name"], name="uniq_case_name_per_suite")
        ]

    def __str__(self) -> str:
        return self.name

    def as_snapshot(self) -> dict:
        return {
            "name": self.name,
            "variables": self.variables,
            "expected_output": self.expected_output,
            "assertions": self.assertions,
        }


class EvalRun(models.Model):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    # Finished, but nothing was graded: every case rendered and the suite has no
    # model provider (static checks only), or the suite has no cases at all.
    # Neither counts as passed for a protected production.
    RENDERED = "rendered"
    NO_CASES = "no_cases"
    STATUS_CHOICES = [
        (QUEUED, "queued"),
        (RUNNING, "running"),
        (PASSED, "passed"),
        (FAILED, "failed"),
        (ERROR, "error"),
        (RENDERED, "rendered, not graded"),
        (NO_CASES, "no cases"),
    ]
    TERMINAL = (PASSED, FAILED, ERROR, RENDERED, NO_CASES)
    TRIGGER_AUTO = "auto"
    TRIGGER_MANUAL = "manual"

    prompt_version = models.ForeignKey(
        PromptVersion, on_delete=models.CASCADE, related_name="eval_runs"
    )
    trigger = models.CharField(max_length=10, default=TRIGGER_AUTO)
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=QUEUED, db_index=True)
    # The suite as it was when the run was made, so results always match their cases.
    cases = models.JSONField(default=list)
    provider = models.JSONField(null=True, blank=True)
    # Set when the suite ran on another model than the version's own: evidence
    # for a strategy that changes the model. Blank: the version's own model.
    candidate_model = models.CharField(max_length=200, blank=True, db_index=True)
    repeats = models.PositiveSmallIntegerField(default=1)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt_version"],
                condition=models.Q(trigger="auto"),
                name="one_auto_eval_run_per_version",
            )
        ]

    def __str__(self) -> str:
        return f"eval run {self.pk} of {self.prompt_version} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def expected_result_count(self) -> int:
        return len(self.cases) * self.repeats if self.provider else 0


class EvalCaseResult(models.Model):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"

    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case_name = models.CharField(max_length=100)
    repeat_index = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10)
    output = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=10, null=True, blank=True)
    assertions = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "case_name", "repeat_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "case_name", "repeat_index"], name="uniq_result_per_case_repeat"
            )
        ]


# --- ledger ------------------------------------------------------------------


class UsageEvent(models.Model):
    """One LLM call reported by a client. `event_id` is made by the client, so a
    retried batch never counts a call twice."""

    STATUS_OK = "ok"
    STATUS_ERROR = "error"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="usage_events")
    event_id = models.CharField(max_length=100)
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="usage_events")
    version_number = models.PositiveIntegerField()
    label = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200)
    input_tokens = models.PositiveIntegerField()
    # input_tokens counts every input token; of them, cached_input_tokens were
    # cache reads and cache_write_input_tokens were cache writes (the rest uncached).
    cached_input_tokens = models.PositiveIntegerField(default=0)
    cache_write_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField()
    # Of output_tokens, those the model spent reasoning (billed as output).
    reasoning_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, default=STATUS_OK)
    occurred_at = models.DateTimeField()
    # Money as an exact integer of 1e-12 dollars: prices have 6 decimals per 1M
    # tokens, so every call's cost is a whole number of picodollars, and sums stay
    # exact on every database (SQLite keeps decimals as floats).
    cost_pico = models.BigIntegerField(null=True, blank=True)
    priced = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "event_id"], name="uniq_usage_event_id_per_project"
            )
        ]
        indexes = [models.Index(fields=["prompt", "occurred_at"], name="usage_prompt_time")]

    @property
    def cost(self) -> Decimal | None:
        return None if self.cost_pico is None else Decimal(self.cost_pico) / PICO


class UsageRollup(models.Model):
    """Daily totals per prompt × version × model, kept exact by atomic upserts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="usage_rollups")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="usage_rollups")
    version_number = models.PositiveIntegerField()
    model = models.CharField(max_length=200)
    day = models.DateField()
    calls = models.PositiveBigIntegerField(default=0)
    error_calls = models.PositiveBigIntegerField(default=0)
    unpriced_calls = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    cached_input_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    latency_ms_total = models.PositiveBigIntegerField(default=0)
    cost_pico = models.BigIntegerField(
        default=0, help_text="Cost of the priced calls, in 1e-12 dollars."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "version_number", "model", "day"], name="uniq_rollup_key"
            )
        ]
        indexes = [models.Index(fields=["project", "day"], name="rollup_project_day")]


# --- advice and alerts --------------------------------------------------------


class AdvisorSettings(models.Model):
    """A project's fine-tuning thresholds and costs (defaults from DESIGN.md)."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="advisor_settings"
    )
    payback_horizon_months = models.DecimalField(max_digits=6, decimal_places=2, default=12)
    data_preparation_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    epochs = models.PositiveSmallIntegerField(default=3)
    residual_instruction_tokens = models.PositiveIntegerField(
        default=50, help_text="Tokens of the short instruction a tuned model still gets."
    )
    prefill_ms_per_token = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.2"),
        help_text="Prefill time per input token, for the latency saved.",
    )
    volume_floor_calls_per_month = models.PositiveIntegerField(default=50_000)
    min_approved_examples = models.PositiveIntegerField(default=500)
    max_versions_last_30_days = models.PositiveIntegerField(default=2)
    alert_emails = models.TextField(blank=True, help_text="Comma-separated addresses for alerts.")
    assumed_cache_hit_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.9"),
        help_text="Share of calls that hit a warm cache once the static text comes first.",
    )
    strategy_alert_min_saving = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("100"),
        help_text="Alert when a strategy saves at least this much per month (USD).",
    )
    cache_drop_alert_points = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.2"),
        help_text="Alert when a new version's cache hit ratio is this much lower (0.2 = 20 points).",
    )
    shutdown_warning_days = models.PositiveIntegerField(
        default=60, help_text="Alert when a production model shuts down within this many days."
    )

    class Meta:
        verbose_name_plural = "advisor settings"

    def __str__(self) -> str:
        return f"advisor settings of {self.project}"


class AdviceState(models.Model):
    """The last verdict per prompt, so an alert fires once per change."""

    prompt = models.OneToOneField(Prompt, on_delete=models.CASCADE, related_name="advice_state")
    verdict = models.CharField(max_length=20)
    figures = models.JSONField(default=dict)
    evaluated_at = models.DateTimeField(default=timezone.now)


class Alert(models.Model):
    KIND_FINE_TUNE = "fine_tune_pays_off"
    KIND_NO_LONGER = "fine_tune_no_longer_pays_off"
    KIND_STRATEGY_SAVING = "strategy_saves"
    KIND_CACHE_DROP = "cache_hit_ratio_dropped"
    KIND_SHUTDOWN_SOON = "model_shuts_down_soon"
    STATE_NEW = "new"
    STATE_ACKNOWLEDGED = "acknowledged"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=40)
    message = models.TextField()
    figures = models.JSONField(default=dict)
    state = models.CharField(max_length=20, default=STATE_NEW)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # A worker sending the email holds this lease; one that died lets it lapse.
    email_claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.prompt.name}"


class Webhook(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker POSTing this delivery holds this lease; one that died lets it lapse.
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "webhook"], name="uniq_delivery_per_alert_webhook"
            )
        ]
