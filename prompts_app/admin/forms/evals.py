"""Forms of the eval-suite editor (one row per case, or JSON) and of providers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from prompts_app.admin.base import (
    CODE_ATTRS,
    JSONTextField,
    code_textarea,
    normalize_newlines,
)
from prompts_app.models import (
    Project,
    Provider,
)
from prompts_app.selectors.evals import eval_suite_prompt_choices, provider_choices

# --- eval suites and providers ---------------------------------------------------


class EvalCaseRowForm(forms.Form):
    """One eval case, as a row of the suite editor. JSON is parsed here; the
    assertions themselves are checked by evals.eval_suite_update."""

    name = forms.CharField(
        max_length=100, required=False, widget=forms.TextInput(attrs={"size": 16}),
        help_text="Unique in the suite; empty becomes case-N.",
    )
    variables = JSONTextField(
        types=(dict,), type_label='a JSON object of variables, e.g. {"name": "Ada"}', widget=code_textarea(3)
    )
    expected_output = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={**CODE_ATTRS, "rows": 3})
    )
    assertions = JSONTextField(
        types=(list,), type_label='a JSON list of assertions, e.g. [{"type": "contains", "value": "Ada"}]',
        widget=code_textarea(4),
    )

    def clean_expected_output(self):
        return normalize_newlines(self.cleaned_data.get("expected_output") or "")

    def case(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": (data.get("name") or "").strip(),
            "variables": data.get("variables") or {},
            "expected_output": data.get("expected_output") or "",
            "assertions": data.get("assertions") or [],
        }


# Each row posts five fields: 150 rows stay under Django's 1,000-field request
# limit. Bigger suites are edited as one JSON list.
EvalCaseRowFormSet = forms.formset_factory(
    EvalCaseRowForm, extra=2, can_delete=True, max_num=150, validate_max=True
)

ASSERTION_HELP = (
    'Assertions, each a JSON object: {"type": "contains", "value": "refund", "ignore_case": true} · '
    '"not_contains" (value) · "equals" (value, or the expected output) · "regex" (pattern) · '
    '"is_json" · "json_schema" (schema) · "max_tokens" (value) · '
    '"rubric" (rubric, min_score 1-5: graded by the model).'
)


class ProviderNameChoiceField(forms.ModelChoiceField):
    def __init__(self, *, with_project: bool = False, **kwargs):
        self.with_project = with_project
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "— none: static checks only —")
        kwargs.setdefault(
            "help_text",
            "The OpenAI-compatible endpoint the cases run against. Without one, only the static "
            "checks run (every case renders; tokens and cost per call).",
        )
        super().__init__(**kwargs)

    def label_from_instance(self, obj: Provider) -> str:
        name = f"{obj.project.name}/{obj.name}" if self.with_project else obj.name
        return f"{name} — {obj.model} at {obj.base_url}"


REPEATS_HELP = (
    "Times each case runs against the model, to measure consistency "
    "(pass rate, format adherence, distinct outputs)."
)


class EvalSuiteForm(forms.Form):
    """A suite's settings and, in JSON mode, its whole case list."""

    # The choices depend on the project: set in __init__.
    provider = ProviderNameChoiceField(queryset=None)
    # Bounds are the service's to check, so its message is the one shown.
    repeats = forms.IntegerField(help_text=REPEATS_HELP)
    cases_json = JSONTextField(
        types=(list,),
        type_label='a JSON list of {"name", "variables", "expected_output", "assertions"}',
        label="Cases (JSON)",
        widget=code_textarea(24),
        help_text='[{"name": "ada", "variables": {"name": "Ada"}, "expected_output": "Hello Ada", '
        '"assertions": [{"type": "contains", "value": "Ada"}]}, …]',
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = provider_choices(project=project)


class EvalSuiteAddForm(forms.Form):
    # Both read per form (set in __init__), not once at import.
    prompt = forms.ModelChoiceField(queryset=None, help_text="Prompts that have no eval suite yet.")
    provider = ProviderNameChoiceField(queryset=None, with_project=True)
    repeats = forms.IntegerField(initial=1, help_text=REPEATS_HELP)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].queryset = eval_suite_prompt_choices()
        self.fields["provider"].queryset = provider_choices()

    def clean(self):
        cleaned = super().clean()
        prompt, provider = cleaned.get("prompt"), cleaned.get("provider")
        # The service looks providers up by name within the prompt's project:
        # a same-named provider of another project must not be picked silently.
        if prompt is not None and provider is not None and provider.project_id != prompt.project_id:
            self.add_error(
                "provider",
                f"{provider.name} belongs to project {provider.project}; "
                f"choose one of {prompt.project}'s providers.",
            )
        return cleaned


EVAL_SUITE_ERROR_FIELDS = {"repeats": "repeats", "provider": "provider", "cases": "cases_json",
                           "prompt": "prompt"}


class ProviderForm(forms.ModelForm):
    class Meta:
        model = Provider
        fields = ["project", "name", "base_url", "model", "api_key_env", "timeout_seconds", "max_retries"]
        labels = {
            "base_url": "Base URL",
            "api_key_env": "API key environment variable",
            "timeout_seconds": "Timeout (seconds)",
            "max_retries": "Retries",
        }
        help_texts = {
            "name": "Lowercase letters, digits, '-', '_' or '.'; unique in the project. Suites pick it by name.",
            "base_url": "An OpenAI-compatible Chat Completions endpoint, up to the version part: "
            "https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), a vLLM or Together URL.",
            "model": "Sent as 'model' when a version's model config names none.",
            "api_key_env": "The NAME of the environment variable (on the Celery workers) that holds the "
            "key, ending in KEY or TOKEN, e.g. OPENAI_API_KEY. The key itself is never stored or shown "
            "here. Leave empty for endpoints without authentication.",
            "timeout_seconds": "Per request. A call that takes longer counts as an error.",
            "max_retries": "Retries on 429 and 5xx answers, with backoff.",
        }

    def clean_api_key_env(self):
        value = (self.cleaned_data.get("api_key_env") or "").strip()
        if value == "SECRET_KEY":
            # The settings never hand Django's own secret to a provider; say so
            # instead of letting the runs go out without a key.
            raise ValidationError("SECRET_KEY is Django's own secret and is never sent to a provider: "
                                  "name the variable that holds the provider's key.")
        return value

    def clean_timeout_seconds(self):
        value = self.cleaned_data.get("timeout_seconds")
        if value is not None and value <= 0:
            raise ValidationError("The timeout must be more than 0 seconds.")
        return value


