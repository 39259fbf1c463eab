"""Input and output serializers. Inputs only check shapes; the services hold the rules."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from prompts_app.models import (
    EvalRun,
    Example,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    Prompt,
    PromptVersion,
)
from prompts_app.selectors.evals import CANDIDATE_STATUSES, candidate_status


class StrictInputSerializer(serializers.Serializer):
    """Rejects unknown keys, so a typo ('templte') is a 400, not a silent no-op."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"Unknown field. Allowed: {', '.join(self.fields)}."]}
                )
        return super().to_internal_value(data)


class AnyJSONField(serializers.JSONField):
    pass


class StrictBooleanField(serializers.BooleanField):
    """true or false only: 0, 1, "yes" and friends are refused, not coerced."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of coercing them."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- prompts ---------------------------------------------------------------


class PromptCreateInput(StrictInputSerializer):
    name = StrictCharField(max_length=100)
    kind = serializers.ChoiceField(
        choices=[Prompt.KIND_TEXT, Prompt.KIND_CHAT], default=Prompt.KIND_TEXT
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    tags = serializers.ListField(child=StrictCharField(max_length=50), required=False)
    protect_production = StrictBooleanField(
        required=False,
        help_text="Protect the 'production' label: it then moves only to a version whose "
        "latest eval run passed (graded by a model), unless forced with a reason. Left out: "
        "the project's default (on unless the project turned it off).",
    )


class PromptUpdateInput(StrictInputSerializer):
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    tags = serializers.ListField(child=StrictCharField(max_length=50), required=False)
    protect_production = StrictBooleanField(required=False)


class LabelBriefOutput(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")

    class Meta:
        model = Label
        fields = ["name", "version", "updated_at", "updated_by"]


class PromptOutput(serializers.ModelSerializer):
    latest_version = serializers.IntegerField(source="latest_version_number")
    labels = LabelBriefOutput(many=True, read_only=True)

    class Meta:
        model = Prompt
        fields = [
            "name",
            "kind",
            "description",
            "tags",
            "protect_production",
            "latest_version",
            "labels",
            "created_at",
        ]


# --- versions --------------------------------------------------------------


class MessageInput(StrictInputSerializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = StrictCharField(allow_blank=True, trim_whitespace=False)


class ExampleSetRefInput(StrictInputSerializer):
    name = StrictCharField(max_length=100)
    version = serializers.IntegerField(min_value=1)


class TemplateOptionsIO(StrictInputSerializer):
    """Jinja whitespace options of a version (both off by default)."""

    trim_blocks = StrictBooleanField(required=False, default=False)
    lstrip_blocks = StrictBooleanField(required=False, default=False)


class VersionCreateInput(StrictInputSerializer):
    template = StrictCharField(required=False, trim_whitespace=False, allow_blank=True)
    messages = MessageInput(many=True, required=False)
    variables = serializers.DictField(required=False)
    model_config = serializers.DictField(required=False)
    template_options = TemplateOptionsIO(required=False)
    example_set_version = ExampleSetRefInput(required=False, allow_null=True)
    message = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    based_on_version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The version number this edit started from (0 for a prompt with no "
        "versions yet). If the prompt has a newer version by now, nothing is stored and the "
        "answer is 409 `stale_base` with `details.based_on_version` and "
        "`details.latest_version`: fetch the latest, diff, re-apply your change and resend.",
    )


class ExampleSetRefOutput(serializers.Serializer):
    name = serializers.CharField(source="example_set.name")
    version = serializers.IntegerField(source="number")


class VersionOutput(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.name")
    kind = serializers.CharField(source="prompt.kind")
    example_set_version = ExampleSetRefOutput(allow_null=True)
    template_options = TemplateOptionsIO(read_only=True)
    labels = serializers.SerializerMethodField()

    class Meta:
        model = PromptVersion
        fields = [
            "prompt",
            "kind",
            "number",
            "template",
            "messages",
            "variables",
            "model_config",
            "template_options",
            "example_set_version",
            "message",
            "author",
            "created_at",
            "content_hash",
            "labels",
        ]

    def get_labels(self, obj) -> list[str]:
        return sorted(label.name for label in obj.labels.all())


# --- resolve / render --------------------------------------------------------


class ExampleRenderShape(serializers.Serializer):
    input = AnyJSONField()
    output = StrictCharField()


class ResolveOutput(serializers.Serializer):
    prompt = serializers.CharField()
    kind = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(allow_null=True)
    template = serializers.CharField(allow_null=True)
    messages = serializers.ListField(child=serializers.DictField(), allow_null=True)
    examples = ExampleRenderShape(many=True)
    example_set = serializers.DictField(allow_null=True)
    model_config = serializers.DictField()
    template_options = TemplateOptionsIO()
    variables = serializers.DictField()
    content_hash = serializers.CharField()
    created_at = serializers.CharField()


class RenderInput(StrictInputSerializer):
    label = StrictCharField(required=False, max_length=100)
    version = serializers.IntegerField(required=False, min_value=1)
    variables = serializers.DictField(required=False, default=dict)


class RenderOutput(serializers.Serializer):
    prompt = serializers.CharField(required=False)
    version = serializers.IntegerField(required=False)
    label = serializers.CharField(allow_null=True, required=False)
    kind = serializers.CharField()
    content_hash = serializers.CharField(required=False)
    text = serializers.CharField(allow_null=True)
    messages = serializers.ListField(child=serializers.DictField(), allow_null=True)
    token_count = serializers.IntegerField()
    variables = serializers.ListField(child=serializers.CharField(), required=False)


class ExampleInput(StrictInputSerializer):
    input = AnyJSONField()
    output = StrictCharField(allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(child=StrictCharField(max_length=50), required=False)
    approved = StrictBooleanField(required=False, default=False)


class DraftRenderInput(StrictInputSerializer):
    template = StrictCharField(required=False, trim_whitespace=False, allow_blank=True)
    messages = MessageInput(many=True, required=False)
    variables = serializers.DictField(required=False, default=dict)
    examples = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    template_options = TemplateOptionsIO(required=False)


# --- labels ------------------------------------------------------------------


class LabelMoveInput(StrictInputSerializer):
    version = serializers.IntegerField(min_value=1)
    reason = StrictCharField(required=False, allow_blank=True, max_length=10_000, default="")
    force = StrictBooleanField(required=False, default=False)


class LabelMoveOutput(serializers.ModelSerializer):
    from_version = serializers.IntegerField(
        source="from_version.number", allow_null=True, default=None
    )
    to_version = serializers.IntegerField(source="to_version.number")

    class Meta:
        model = LabelMove
        fields = ["label", "from_version", "to_version", "moved_by", "moved_at", "reason", "forced"]


class LabelOutput(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    history = serializers.SerializerMethodField()

    class Meta:
        model = Label
        fields = ["name", "version", "updated_at", "updated_by", "history"]

    def get_history(self, obj) -> list[dict]:
        moves = self.context.get("history", {}).get(obj.name, [])
        return LabelMoveOutput(moves, many=True).data


# "from" is a Python keyword, so this serializer is built from a dict of fields.
DiffOutput = type(
    "DiffOutput",
    (serializers.Serializer,),
    {
        "prompt": serializers.CharField(),
        "from": serializers.IntegerField(),
        "to": serializers.IntegerField(),
        "changed": serializers.ListField(child=serializers.CharField()),
        "sections": serializers.DictField(child=serializers.CharField(allow_blank=True)),
        "diff": serializers.CharField(allow_blank=True),
    },
)


# --- example sets ------------------------------------------------------------


class ExampleSetCreateInput(StrictInputSerializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)


class ExampleSetOutput(serializers.ModelSerializer):
    latest_version = serializers.IntegerField(source="latest_version_number")

    class Meta:
        model = ExampleSet
        fields = ["name", "description", "latest_version", "created_at"]


class ExampleSetVersionCreateInput(StrictInputSerializer):
    examples = ExampleInput(many=True)
    message = StrictCharField(required=False, allow_blank=True, max_length=10_000)


class ExampleOutput(serializers.ModelSerializer):
    class Meta:
        model = Example
        fields = ["position", "input", "output", "tags", "approved"]


class ExampleSetVersionOutput(serializers.ModelSerializer):
    example_set = serializers.CharField(source="example_set.name")
    examples = ExampleOutput(many=True)

    class Meta:
        model = ExampleSetVersion
        fields = [
            "example_set",
            "number",
            "message",
            "author",
            "created_at",
            "content_hash",
            "examples",
        ]


# --- evals -------------------------------------------------------------------


class EvalCaseIO(StrictInputSerializer):
    name = StrictCharField(max_length=100)
    variables = serializers.DictField(required=False, default=dict)
    expected_output = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    assertions = serializers.ListField(child=serializers.DictField(), required=False, default=list)


class EvalSuiteInput(StrictInputSerializer):
    provider = StrictCharField(required=False, allow_blank=True, max_length=100)
    repeats = serializers.IntegerField(required=False, min_value=1, max_value=20)
    cases = EvalCaseIO(many=True, required=False)


class EvalSuiteOutput(serializers.Serializer):
    prompt = serializers.CharField(source="prompt.name")
    provider = serializers.CharField(source="provider.name", allow_null=True, default=None)
    repeats = serializers.IntegerField()
    cases = serializers.SerializerMethodField()

    def get_cases(self, obj) -> list[dict]:
        if obj.pk is None:  # a suite never saved has no cases
            return []
        return [case.as_snapshot() for case in obj.cases.all()]


class EvalRunCreateInput(StrictInputSerializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The version to run. Default: the latest version; with candidate_model, the "
        "production version (the latest when nothing is in production).",
    )
    # Length and characters are the service's rules (400 naming candidate_model).
    candidate_model = StrictCharField(
        required=False,
        allow_blank=True,
        help_text="Run the suite on this model instead of the version's own (same provider "
        "endpoint): evidence for a strategy that changes the model. Refused (4xx) when empty, "
        "over 200 characters, the version's own model, or when the suite has no provider "
        "(409 no_provider) or no cases (409 no_cases). A candidate run never counts for the "
        "version's status or the production gate.",
    )


class EvalCaseResultOutput(serializers.Serializer):
    case_name = serializers.CharField()
    repeat_index = serializers.IntegerField()
    status = serializers.CharField()
    output = serializers.CharField()
    latency_ms = serializers.IntegerField(allow_null=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(
        max_digits=18, decimal_places=10, allow_null=True, coerce_to_string=True
    )
    assertions = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField()


class CandidateFiguresOutput(serializers.Serializer):
    pass_rate = serializers.CharField(
        allow_null=True, help_text="Share of graded calls that passed, 4 decimals (0.7500)."
    )
    format_adherence = serializers.CharField(
        allow_null=True,
        help_text="Share of graded answers passing their format assertions (is_json, "
        "json_schema, regex), 4 decimals; null when the suite has none.",
    )
    cost_per_call = serializers.CharField(
        allow_null=True,
        help_text="Mean USD cost of a call, exact decimal; null when the model has no price in "
        "force on the project's price sheet.",
    )
    graded_calls = serializers.IntegerField()


class CandidateBaselineOutput(CandidateFiguresOutput):
    run = serializers.IntegerField(help_text="The current model's run compared with.")
    version = serializers.IntegerField()
    model = serializers.CharField(allow_null=True)
    status = serializers.CharField()


class CandidateSummaryOutput(CandidateFiguresOutput):
    model = serializers.CharField(help_text="The candidate model.")
    version_model = serializers.CharField(allow_null=True, help_text="The version's own model.")
    grader_model = serializers.CharField(
        allow_null=True, help_text="Who grades rubric assertions: the version's own model."
    )
    priced = serializers.BooleanField()
    baseline = CandidateBaselineOutput(
        allow_null=True,
        help_text="The current model's latest graded run (passed or failed) on the same cases, "
        "of the same version, else of the production version; null when there is none.",
    )
    notes = serializers.ListField(child=serializers.CharField())


CANDIDATE_STATUS_HELP = (
    "ready (finished, passed, and pass rate and format adherence at least the current "
    "model's), failed, running, error, or no_baseline (passed, but the current model has no "
    "graded run on the same cases to compare with)."
)


class EvalRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    prompt = serializers.CharField(source="prompt_version.prompt.name")
    version = serializers.IntegerField(source="prompt_version.number")
    trigger = serializers.CharField()
    requested_by = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[value for value, _ in EvalRun.STATUS_CHOICES],
        help_text="queued, running; then passed (every case rendered and every model check "
        "passed), failed, error, rendered (every case rendered, but the suite has no model "
        "provider: nothing was graded) or no_cases (the suite is empty). Only passed lets a "
        "version become a protected production.",
    )
    repeats = serializers.IntegerField()
    provider = serializers.DictField(allow_null=True)
    candidate_model = serializers.CharField(
        help_text="The model the suite ran on instead of the version's own; empty for a run on "
        "the version's own model."
    )
    candidate_status = serializers.SerializerMethodField(help_text=CANDIDATE_STATUS_HELP)
    candidate = serializers.SerializerMethodField(
        help_text="A candidate run's figures beside the current model's (also in "
        "summary.candidate once finished); null for other runs and before the run finishes."
    )
    summary = serializers.DictField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(
        serializers.ChoiceField(
            choices=list(CANDIDATE_STATUSES), allow_null=True
        )
    )
    def get_candidate_status(self, obj) -> str | None:
        return candidate_status(obj) if obj.candidate_model else None

    @extend_schema_field(CandidateSummaryOutput(allow_null=True))
    def get_candidate(self, obj) -> dict | None:
        return (obj.summary or {}).get("candidate") if obj.candidate_model else None


class EvalRunDetailOutput(EvalRunOutput):
    results = EvalCaseResultOutput(many=True)


class CandidateEvidenceOutput(serializers.Serializer):
    # A CharField: the same choices as a run's candidate_status, and an enum named
    # "status" would collide with the run statuses' in the schema.
    status = serializers.CharField(help_text=CANDIDATE_STATUS_HELP)
    run_id = serializers.IntegerField()
    version = serializers.IntegerField()
    pass_rate = serializers.CharField(allow_null=True)
    format_adherence = serializers.CharField(allow_null=True)
    cost_per_call = serializers.CharField(allow_null=True, help_text="USD, exact decimal.")
    baseline_run_id = serializers.IntegerField(allow_null=True)
    baseline_model = serializers.CharField(allow_null=True)
    baseline_pass_rate = serializers.CharField(allow_null=True)
    baseline_format_adherence = serializers.CharField(allow_null=True)
    baseline_cost_per_call = serializers.CharField(allow_null=True, help_text="USD, exact decimal.")
    finished_at = serializers.DateTimeField(allow_null=True)


class CandidateEvidenceListOutput(serializers.Serializer):
    version = serializers.IntegerField(
        allow_null=True,
        source="version.number",
        default=None,
        help_text="The version candidates are measured on: production's, else the latest.",
    )
    model = serializers.CharField(allow_null=True, help_text="That version's own model.")
    candidates = serializers.DictField(
        child=CandidateEvidenceOutput(),
        source="evidence",
        help_text="Per candidate model, its latest run's evidence. A model that is absent has "
        "never been run on this version: untested.",
    )


# --- ledger --------------------------------------------------------------------


class UsageBatchInput(StrictInputSerializer):
    # Each event is validated by the ledger service, which names the index and field.
    events = serializers.ListField(
        allow_empty=True,
        help_text="Up to 1,000 events: event_id, prompt, version or label, model, input_tokens "
        "(every input token), cached_input_tokens (of them, cache reads), cache_write_input_tokens "
        "(of them, cache writes), output_tokens, reasoning_tokens (of output, reasoning), "
        "latency_ms, status, timestamp.",
    )


class UsageRejectionOutput(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class UsageConflictOutput(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()


class UsageBatchOutput(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(
        help_text="Event ids already stored (or earlier in the batch) with the same data."
    )
    conflicts = UsageConflictOutput(
        many=True,
        help_text="Event ids already stored (or earlier in the batch) with different data: "
        "not counted; the first version stands.",
    )
    unpriced = serializers.IntegerField()
    rejected = UsageRejectionOutput(many=True)


class LedgerRowOutput(serializers.Serializer):
    calls = serializers.IntegerField()
    error_calls = serializers.IntegerField()
    unpriced_calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField(
        help_text="Every input token, cache reads and writes included."
    )
    cached_input_tokens = serializers.IntegerField(help_text="Of input_tokens, cache reads.")
    cache_write_input_tokens = serializers.IntegerField(help_text="Of input_tokens, cache writes.")
    output_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField(
        help_text="Of output_tokens, reasoning (billed as output)."
    )
    cache_hit_ratio = serializers.CharField(
        allow_null=True,
        help_text="cached_input_tokens / input_tokens, 4 decimals (0.9000 = 90%); null without input.",
    )
    cache_write_ratio = serializers.CharField(
        allow_null=True,
        help_text="cache_write_input_tokens / input_tokens, 4 decimals; null without input.",
    )
    cost = serializers.CharField(help_text="USD, exact decimal")
    avg_latency_ms = serializers.CharField(allow_null=True)


LedgerOutput = type(
    "LedgerOutput",
    (serializers.Serializer,),
    {
        "prompt": serializers.CharField(required=False),
        "project": serializers.CharField(required=False),
        "days": serializers.IntegerField(),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "group_by": serializers.CharField(required=False),
        "currency": serializers.CharField(),
        "rows": serializers.ListField(child=serializers.DictField()),
        "totals": LedgerRowOutput(),
    },
)


# --- advice, alerts, fine-tuning export ----------------------------------------------


def _what_if_decimal(help_text: str = "", **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=30, decimal_places=6, required=False, help_text=help_text, **kwargs
    )


class StrategyOutput(serializers.Serializer):
    """One strategy of `lib.strategies.compare`: money as exact decimal strings."""

    key = serializers.CharField(help_text="keep, cache_prefix, prune_examples, "
                                "downshift:<model>, fine_tune:<provider>:<model>, batch, flex")
    kind = serializers.ChoiceField(
        choices=["keep", "cache_prefix", "prune_examples", "downshift", "fine_tune", "batch", "flex"]
    )
    title = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    cost_per_call = serializers.CharField(help_text="USD per call, 10 decimals")
    monthly_cost = serializers.CharField(help_text="USD/month, hosting and retraining included")
    monthly_saving = serializers.CharField(help_text="USD/month against keep")
    one_time_cost = serializers.CharField(help_text="USD")
    fixed_monthly_cost = serializers.CharField(help_text="USD/month of hosting")
    retraining_monthly_cost = serializers.CharField(help_text="USD/month")
    payback_months = serializers.CharField(allow_null=True)
    net_saving_over_horizon = serializers.CharField(
        help_text="monthly_saving × horizon − one_time_cost, USD"
    )
    blockers = serializers.ListField(child=serializers.CharField())
    evidence = serializers.DictField(
        help_text="status: not_needed, untested, ready, failed, running, error or no_baseline; "
        "with the eval run's figures when there is one"
    )
    ready = serializers.BooleanField(
        help_text="No blockers, a positive saving, evidence not_needed or ready"
    )
    formula = serializers.ListField(child=serializers.CharField())
    assumptions = serializers.ListField(child=serializers.CharField())


class AdviceOutput(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["fine_tune", "prepare_data", "keep_prompting"])
    reasons = serializers.ListField(child=serializers.CharField())
    checks = serializers.DictField(
        child=serializers.BooleanField(),
        help_text="payback, volume, examples, stability; and lifecycle when a lifecycle date "
        "is given",
    )
    figures = serializers.DictField(child=serializers.CharField(allow_null=True))
    units = serializers.DictField(child=serializers.CharField())
    inputs = serializers.DictField()
    payback_schedule = serializers.ListField(child=serializers.DictField())
    strategies = StrategyOutput(
        many=True,
        required=False,
        help_text="Ranked: ready first (no change, then eval-proven), then the other "
        "unblocked ones, then the blocked; each group by net saving over the horizon.",
    )
    what_if_inputs = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="A body for POST /api/v1/advice/what-if that reproduces these figures "
        "(null when the model has no fine-tuning offer).",
    )
    as_of = serializers.DateField(required=False)
    lifecycle = serializers.DictField(required=False, allow_null=True)
    cache_prefix = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="prefix_tokens of total_tokens lead every call; breaking_variable cuts it.",
    )


class ModelOfferIO(serializers.Serializer):
    """A model offer (`lib.strategies.ModelOffer`): prices USD per 1M tokens; dates
    are first days without (new training jobs / serving)."""

    model = serializers.CharField()
    provider = serializers.CharField(required=False)
    input = _what_if_decimal()
    cached_input = _what_if_decimal(allow_null=True)
    cache_write = _what_if_decimal(allow_null=True)
    output = _what_if_decimal()
    batch_multiplier = _what_if_decimal(allow_null=True)
    flex_multiplier = _what_if_decimal(allow_null=True)
    min_cacheable_tokens = serializers.IntegerField(required=False, allow_null=True)
    shutdown_date = serializers.DateField(required=False, allow_null=True)
    training = _what_if_decimal("per 1M training tokens (× epochs)", allow_null=True)
    training_available_until = serializers.DateField(required=False, allow_null=True)
    ft_input = _what_if_decimal(allow_null=True)
    ft_cached_input = _what_if_decimal(allow_null=True)
    ft_output = _what_if_decimal(allow_null=True)
    ft_hosting_per_month = _what_if_decimal(allow_null=True)
    source = serializers.CharField(required=False)
    source_date = serializers.DateField(required=False, allow_null=True)


class EvidenceIO(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ready", "failed", "running", "error", "no_baseline"])
    run_id = serializers.IntegerField(required=False, allow_null=True)
    pass_rate = _what_if_decimal(allow_null=True)
    format_adherence = _what_if_decimal(allow_null=True)
    cost_per_call = _what_if_decimal(allow_null=True)
    baseline_run_id = serializers.IntegerField(required=False, allow_null=True)
    baseline_pass_rate = _what_if_decimal(allow_null=True)
    baseline_format_adherence = _what_if_decimal(allow_null=True)


class WhatIfInput(serializers.Serializer):
    """For the schema only: `lib.what_if.validate_what_if` reads the body and
    names the bad field."""

    calls_per_month = serializers.DecimalField(max_digits=30, decimal_places=6)
    avg_input_tokens = serializers.DecimalField(max_digits=30, decimal_places=6)
    avg_output_tokens = serializers.DecimalField(max_digits=30, decimal_places=6)
    tokens_removable = serializers.DecimalField(max_digits=30, decimal_places=6)
    input_price_per_1m = serializers.DecimalField(max_digits=30, decimal_places=6)
    output_price_per_1m = serializers.DecimalField(max_digits=30, decimal_places=6)
    ft_input_price_per_1m = serializers.DecimalField(
        max_digits=30, decimal_places=6, required=False
    )
    ft_output_price_per_1m = serializers.DecimalField(
        max_digits=30, decimal_places=6, required=False
    )
    cached_input_share = serializers.DecimalField(max_digits=7, decimal_places=6, required=False)
    cached_input_price_per_1m = serializers.DecimalField(
        max_digits=30, decimal_places=6, required=False
    )
    one_time_cost = serializers.DecimalField(max_digits=30, decimal_places=6)
    approved_examples = serializers.IntegerField(required=False)
    versions_last_30_days = serializers.IntegerField(required=False)
    payback_horizon_months = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False
    )
    prefill_ms_per_token = _what_if_decimal()
    volume_floor_calls_per_month = _what_if_decimal()
    min_approved_examples = serializers.IntegerField(required=False)
    max_versions_last_30_days = serializers.IntegerField(required=False)
    # issue 13: cache writes, hosting, lifecycle (absent: the behaviour before them)
    cache_write_share = _what_if_decimal("share of input tokens written to the cache, 0..1; "
                               "cached_input_share + cache_write_share <= 1")
    cache_write_price_per_1m = _what_if_decimal("default: input_price_per_1m")
    ft_cached_input_price_per_1m = _what_if_decimal("default: ft_input_price_per_1m")
    ft_fixed_cost_per_month = _what_if_decimal("hosting the tuned model, USD/month; default 0")
    as_of = serializers.DateField(
        required=False, help_text="YYYY-MM-DD; default today (UTC)"
    )
    training_available_until = serializers.DateField(
        required=False, help_text="first day without new training jobs (YYYY-MM-DD)"
    )
    model_shutdown_date = serializers.DateField(
        required=False, help_text="first day the tuned model no longer serves (YYYY-MM-DD)"
    )
    # strategy inputs (all optional)
    static_tokens = serializers.IntegerField(
        required=False, help_text="tokens the same on every call (template text + examples)"
    )
    cacheable_prefix_tokens = serializers.IntegerField(
        required=False, help_text="static tokens already before the first variable"
    )
    breaking_variable = serializers.CharField(
        required=False, allow_null=True, help_text="the first variable that cuts the prefix"
    )
    example_tokens = serializers.IntegerField(required=False)
    assumed_cache_hit_rate = _what_if_decimal("0..1, default 0.9")
    asynchronous = serializers.BooleanField(required=False)
    training_tokens = serializers.IntegerField(required=False, help_text="per epoch")
    epochs = serializers.IntegerField(required=False)
    data_preparation_cost = _what_if_decimal("USD, for candidates' fine-tunes")
    current_model = ModelOfferIO(
        required=False,
        help_text="The current model's offer; its prices and dates may replace the keys above "
        "(given in both, they must agree).",
    )
    candidates = ModelOfferIO(many=True, required=False)
    evidence = serializers.DictField(
        child=EvidenceIO(), required=False, help_text="model → its latest candidate eval run"
    )


class AlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    prompt = serializers.CharField(source="prompt.name")
    kind = serializers.CharField()
    message = serializers.CharField()
    figures = serializers.DictField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField()


class FinetuneStatsOutput(serializers.Serializer):
    prompt = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    model = serializers.CharField(allow_null=True)
    format = serializers.CharField()
    train = serializers.DictField()
    validation = serializers.DictField()
    epochs = serializers.IntegerField()
    training_tokens = serializers.IntegerField()
    training_price_per_1m = serializers.CharField(allow_null=True)
    estimated_training_cost = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
