"""Forms of the fine-tuning advice pages: the what-if inputs, advisor settings, webhooks."""

from __future__ import annotations

import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from prompts_app.lib import advisor, what_if
from prompts_app.lib.formatting import round_places, to_decimal
from prompts_app.models import (
    AdvisorSettings,
    Webhook,
)

# --- fine-tuning advice: what-if, settings, webhooks ---------------------------------------

PER_1M = "USD per 1M tokens"

# Every key the what-if takes (advisor.WHAT_IF_KEYS), as a person reads it:
# (key, label, unit, help). The unit is also how the advice page writes the
# inputs the advice used.
WHAT_IF_FIELDS: list[tuple[str, str, str, str]] = [
    ("calls_per_month", "Calls per month", "calls/month", "Calls of this prompt in a 30-day month."),
    ("avg_input_tokens", "Input tokens per call", "tokens/call", ("Average, everything sent: prompt, examples, "
      "the user's text.")),
    ("avg_output_tokens", "Output tokens per call", "tokens/call", "Average tokens the model answers with."),
    ("tokens_removable", "Tokens removed by tuning", "tokens/call", ("Static prompt and few-shot tokens a tuned "
      "model no longer needs, net of the short instruction it still gets.")),
    ("input_price_per_1m", "Input price", PER_1M, "The base model's input price."),
    ("output_price_per_1m", "Output price", PER_1M, "The base model's output price."),
    ("ft_input_price_per_1m", "Fine-tuned input price", PER_1M, ("Often higher than the base model's. "
      "Empty: the input price.")),
    ("ft_output_price_per_1m", "Fine-tuned output price", PER_1M, "Empty: the output price."),
    ("cached_input_share", "Cached input share", "share (0–1)", ("Share of input tokens served from the "
      "provider's prompt cache today, e.g. 0.4 for 40%. Empty: 0.")),
    ("cached_input_price_per_1m", "Cached input price", PER_1M, "Empty: the input price (no discount)."),
    ("cache_write_share", "Cache write share", "share (0–1)", ("Share of input tokens written to the prompt "
      "cache today (a cache miss on a cacheable prefix). Empty: 0.")),
    ("cache_write_price_per_1m", "Cache write price", PER_1M, ("Some providers bill cache writes above the "
      "input price. Empty: the input price.")),
    ("ft_cached_input_price_per_1m", "Fine-tuned cached input price", PER_1M, ("The tuned model's price for "
      "cache reads. Empty: the fine-tuned input price.")),
    ("one_time_cost", "One-time cost", "USD", ("Training (tokens × epochs × training price) plus data "
      "preparation.")),
    ("ft_fixed_cost_per_month", "Tuned model hosting", "USD/month", ("A fixed monthly fee for serving the tuned "
      "model (a dedicated deployment). Empty: 0.")),
    ("approved_examples", "Approved examples", "examples", "The fine-tuning dataset. Empty: 0."),
    ("versions_last_30_days", "New versions, last 30 days", "versions", ("How often the prompt changed lately. "
      "Empty: 0.")),
    ("payback_horizon_months", "Payback horizon", "months", "Fine-tuning must pay back within this. Empty: 12."),
    ("prefill_ms_per_token", "Prefill time per token", "ms/token", ("For the latency saved. Empty: 0 (not "
      "shown).")),
    ("volume_floor_calls_per_month", "Volume floor", "calls/month", ("Under this volume tuning rarely pays "
      "off. Empty: 50,000.")),
    ("min_approved_examples", "Minimum approved examples", "examples", "For LoRA-class tuning. Empty: 500."),
    ("max_versions_last_30_days", "Maximum new versions in 30 days", "versions", ("More than this and the "
      "prompt is still changing. Empty: 2.")),
    ("as_of", "As of", "date", "The day the advice is for: payback and lifecycle dates count from it. Empty: today."),
    ("training_available_until", "Training available until", "date", ("The first day the provider takes no new "
      "fine-tuning jobs. Empty: no date known.")),
    ("model_shutdown_date", "Model shuts down on", "date", ("The first day the model (and a model tuned from "
      "it) no longer serves. Empty: no date known.")),
]
ADVISOR_INPUT_UNITS = {key: unit for key, _, unit, _ in WHAT_IF_FIELDS} | {
    "warn_below_examples": "examples",
    "full_tuning_examples": "examples",
    "eval_pass_rate": "share (0–1)",
}
ADVISOR_INPUT_LABELS = {key: label for key, label, _, _ in WHAT_IF_FIELDS} | {
    "warn_below_examples": "Warn below",
    "full_tuning_examples": "Examples for full tuning",
    "eval_pass_rate": "Latest eval pass rate",
}
WHAT_IF_FIELDSETS = [
    ("Volume and tokens", ["calls_per_month", "avg_input_tokens", "avg_output_tokens", "tokens_removable"]),
    ("Prices", ["input_price_per_1m", "output_price_per_1m", "ft_input_price_per_1m", "ft_output_price_per_1m",
                "ft_cached_input_price_per_1m"]),
    ("Prompt cache", ["cached_input_share", "cached_input_price_per_1m", "cache_write_share",
                      "cache_write_price_per_1m"]),
    ("Cost and readiness", ["one_time_cost", "ft_fixed_cost_per_month", "approved_examples",
                            "versions_last_30_days", "payback_horizon_months"]),
    ("Dates", ["as_of", "training_available_until", "model_shutdown_date"]),
    ("Thresholds", ["prefill_ms_per_token", "volume_floor_calls_per_month", "min_approved_examples",
                    "max_versions_last_30_days"]),
]
_DIGIT_GROUPING = re.compile(r"(?<=\d)[,_ ](?=\d{3}\b)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def what_if_text(value) -> str:
    """An input as the what-if form shows it: an ISO date as it is; a number with
    no trailing zeros and at most 6 decimals (a month scaled from fewer days can
    carry a long fraction); "" for none."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    number = to_decimal(value)
    if number is None:
        return ""
    if number.as_tuple().exponent < -6:
        number = round_places(number, 6)
    return format(number.normalize(), "f")


# The model offer's fields that are also advisor keys (what_if.validate_what_if
# takes either, and refuses the two when they disagree). The form's own fields
# carry them, so the carried current_model drops them: a changed field is never
# contradicted by the offer.
_OFFER_KEYS_IN_FIELDS = tuple(offer_key for offer_key, _ in what_if._SHARED_OFFER_KEYS)


class WhatIfForm(forms.Form):
    """The advisor's what-if inputs, as typed, and (hidden, as JSON) the strategy
    inputs a prompt's advice carries (`what_if_inputs`: static and example tokens,
    training tokens, the current model's offer, the candidates, the evidence).
    The advisor validates them (what_if.validate_what_if); this form only
    tidies the text: thousands separators and a leading $ go, an empty optional
    field takes its default, and a field left as the advice filled it in posts the
    advice's exact value (the form shows at most 6 decimals), so an unchanged
    what-if gives the advice's figures."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label, unit, help_text in WHAT_IF_FIELDS:
            if unit == "date":
                widget = forms.DateInput(attrs={"type": "date", "class": "pl-date"})
            else:
                widget = forms.TextInput(attrs={"inputmode": "decimal", "size": 16, "autocomplete": "off",
                                                "class": "pl-number"})
            self.fields[key] = forms.CharField(
                label=label if unit == "date" else f"{label} ({'0–1' if unit.startswith('share') else unit})",
                required=key in advisor.WHAT_IF_REQUIRED_KEYS,
                help_text=help_text,
                max_length=60,
                widget=widget,
            )
        self.fields["carried"] = forms.CharField(required=False, widget=forms.HiddenInput)

    @classmethod
    def initial_from(cls, what_if_inputs: dict | None) -> dict[str, str]:
        """The form's initial data from an advice's `what_if_inputs` (or its `inputs`)."""
        inputs = what_if_inputs or {}
        initial = {key: what_if_text(inputs.get(key)) for key, *_ in WHAT_IF_FIELDS
                   if inputs.get(key) is not None}
        if inputs:
            initial["carried"] = json.dumps(inputs, separators=(",", ":"))
        return initial

    def clean_carried(self) -> dict:
        text = (self.cleaned_data.get("carried") or "").strip()
        if not text:
            return {}
        try:
            carried = json.loads(text)
        except ValueError:
            carried = None
        if not isinstance(carried, dict):
            raise ValidationError("The prompt's strategy inputs did not come back intact: reload the page.")
        return carried

    @staticmethod
    def tidy(text: str) -> str:
        text = text.strip()
        text = text[1:].strip() if text.startswith("$") else text
        return _DIGIT_GROUPING.sub("", text)

    def raw_inputs(self) -> dict:
        """The filled-in fields and the carried strategy inputs, for what_if.validate_what_if."""
        carried = self.cleaned_data.get("carried") or {}
        found: dict = {key: value for key, value in carried.items() if key in what_if.STRATEGY_KEYS}
        if isinstance(found.get("current_model"), dict):
            found["current_model"] = {key: value for key, value in found["current_model"].items()
                                      if key not in _OFFER_KEYS_IN_FIELDS}
        for key, *_ in WHAT_IF_FIELDS:
            value = self.cleaned_data.get(key)
            if not value or not value.strip():
                continue
            text = self.tidy(value)
            exact = carried.get(key)
            found[key] = exact if exact is not None and what_if_text(exact) == text else text
        return found

    def add_advisor_errors(self, errors: dict[str, str]) -> None:
        """The advisor's problems (field → message) on the fields they name."""
        for key, message in errors.items():
            text = message[:1].upper() + message[1:] + "."
            if key in self.fields:
                self.add_error(key, text)
            else:
                self.add_error(None, f"{key}: {text}")


class AdvisorSettingsForm(forms.ModelForm):
    class Meta:
        model = AdvisorSettings
        fields = ["project", "payback_horizon_months", "data_preparation_cost", "epochs",
                  "residual_instruction_tokens", "prefill_ms_per_token", "volume_floor_calls_per_month",
                  "min_approved_examples", "max_versions_last_30_days", "alert_emails"]
        labels = {
            "payback_horizon_months": "Payback horizon (months)",
            "data_preparation_cost": "Data-preparation cost (USD)",
            "epochs": "Training epochs",
            "residual_instruction_tokens": "Residual instruction (tokens)",
            "prefill_ms_per_token": "Prefill time (ms per token)",
            "volume_floor_calls_per_month": "Volume floor (calls per month)",
            "min_approved_examples": "Minimum approved examples",
            "max_versions_last_30_days": "Maximum new versions in 30 days",
            "alert_emails": "Alert emails",
        }
        help_texts = {
            "payback_horizon_months": "fine_tune needs the one-time cost to pay back within this many months "
            "(default 12).",
            "data_preparation_cost": "Added to the training cost of every tuning run: the people-time to "
            "collect, label and review examples.",
            "epochs": "Passes over the training data; training cost = training tokens × epochs × training price.",
            "residual_instruction_tokens": "The short instruction a tuned model still gets on every call: "
            "subtracted from the static tokens tuning removes (default 50).",
            "prefill_ms_per_token": "Time the model spends reading one input token, for the latency saved per "
            "call (default 0.2).",
            "volume_floor_calls_per_month": "Under this volume fine-tuning rarely pays off (default 50,000).",
            "min_approved_examples": "Approved examples needed for fine_tune; below it the verdict is at best "
            "prepare_data (default 500).",
            "max_versions_last_30_days": "More new versions than this in 30 days means the prompt is still "
            "changing: keep prompting (default 2).",
            "alert_emails": "Comma-separated addresses that get an email when a prompt's verdict turns to or "
            "away from fine_tune. Empty: no email.",
        }
        widgets = {"alert_emails": forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"})}

    def clean_alert_emails(self):
        addresses = [a.strip() for a in (self.cleaned_data.get("alert_emails") or "").replace("\n", ",")
                     .split(",") if a.strip()]
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(f"Not an email address: {', '.join(bad)}. Separate addresses with commas.")
        return ", ".join(addresses)


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = ["project", "url", "active"]
        labels = {"url": "URL"}
        help_texts = {
            "url": "Alerts of this project are POSTed here as JSON, with an Idempotency-Key header; failed "
            "deliveries are retried with backoff (up to 20 attempts).",
            "active": "Untick to stop sending new alerts here; past deliveries stay listed on each alert.",
        }
