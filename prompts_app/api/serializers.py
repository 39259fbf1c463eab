"""Input and output serializers. Inputs only check shapes; the services hold the rules."""

from __future__ import annotations

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
    version = serializers.IntegerField(required=False, min_value=1)


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
    summary = serializers.DictField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class EvalRunDetailOutput(EvalRunOutput):
    results = EvalCaseResultOutput(many=True)


# --- ledger --------------------------------------------------------------------


class UsageBatchInput(StrictInputSerializer):
    # Each event is validated by the ledger service, which names the index and field.
    events = serializers.ListField(allow_empty=True)


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
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
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


class AdviceOutput(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["fine_tune", "prepare_data", "keep_prompting"])
    reasons = serializers.ListField(child=serializers.CharField())
    checks = serializers.DictField(child=serializers.BooleanField())
    figures = serializers.DictField(child=serializers.CharField(allow_null=True))
    units = serializers.DictField(child=serializers.CharField())
    inputs = serializers.DictField()
    payback_schedule = serializers.ListField(child=serializers.DictField())


class WhatIfInput(serializers.Serializer):
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
