"""Forms of the example-set editor: one row per example, or the whole set as JSON."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from prompts_app.admin.base import (
    CODE_ATTRS,
    JSONTextField,
    TagsField,
    as_json_text,
    code_textarea,
    normalize_newlines,
    parse_json_text,
)
from prompts_app.selectors.library import project_choices


class ExampleInputField(forms.CharField):
    """An example's input: a JSON object of variables, or a plain user message.

    Text that starts with '{' must be a JSON object; anything else is taken as
    the user message itself, so nobody has to quote a sentence as JSON.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", code_textarea(3))
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return as_json_text(value)
        return value

    def to_python(self, value):
        text = normalize_newlines(super().to_python(value) or "")
        if text.strip().startswith("{"):
            parsed = parse_json_text(text, "Starts with '{' but is not valid JSON")
            if isinstance(parsed, dict):
                return parsed
        return text

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != self.to_python(self.prepare_value(initial) or "")
        except ValidationError:
            return True




# --- example sets --------------------------------------------------------------


class ExampleRowForm(forms.Form):
    """One few-shot example, as a row of the example-set editor."""

    input = ExampleInputField(
        help_text="A JSON object of variables, or the user message as plain text."
    )
    output = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={**CODE_ATTRS, "rows": 3})
    )
    tags = TagsField(help_text="")
    approved = forms.BooleanField(required=False)

    def clean_output(self):
        return normalize_newlines(self.cleaned_data.get("output") or "")

    def example(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "input": data["input"],
            "output": data.get("output") or "",
            "tags": data.get("tags") or [],
            "approved": bool(data.get("approved")),
        }


# Each row posts five fields: 150 rows stay under Django's 1,000-field request limit.
# Bigger sets are edited as one JSON list.
ExampleRowFormSet = forms.formset_factory(
    ExampleRowForm, extra=2, can_delete=True, max_num=150, validate_max=True
)


class ExampleSetVersionForm(forms.Form):
    """Commit message (and, in JSON mode, the whole list) for a new example-set version."""

    examples_json = JSONTextField(
        types=(list,),
        type_label='a JSON list of {"input", "output", "tags", "approved"}',
        label="Examples (JSON)",
        widget=code_textarea(24),
        help_text='[{"input": {"name": "Ada"}, "output": "Hi Ada!", "tags": [], "approved": true}, …]',
    )
    message = forms.CharField(
        required=False,
        label="Commit message",
        widget=forms.TextInput(attrs={"class": "vLargeTextField", "size": 80}),
    )


EXAMPLE_ERROR_FIELDS = {"examples": "examples_json", "message": "message", "name": "name",
                        "description": "description", "project": "project"}


class ExampleSetAddForm(forms.Form):
    project = forms.ModelChoiceField(queryset=project_choices())
    name = forms.CharField(max_length=100, help_text="Lowercase letters, digits, '-', '_' or '.'.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    examples_json = JSONTextField(
        types=(list,),
        type_label='a JSON list of {"input", "output", "tags", "approved"}',
        label="First examples (JSON)",
        widget=code_textarea(12),
        help_text="Optional: when given, version 1 is created with them. "
        '[{"input": {"name": "Ada"}, "output": "Hi Ada!", "approved": true}, …]',
    )
    message = forms.CharField(required=False, label="Commit message",
                              widget=forms.TextInput(attrs={"class": "vLargeTextField", "size": 80}))


