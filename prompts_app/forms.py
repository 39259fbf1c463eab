"""Admin forms: they parse what a person typed (JSON, comma-separated tags,
template text) into the shapes the services take. They hold no business
rules: the services validate, and their DomainError / RenderError come back
onto the form through `add_service_error`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from prompts_app.errors import DomainError
from prompts_app.lib import advisor
from prompts_app.models import (
    AdvisorSettings,
    ApiKey,
    ExampleSetVersion,
    Label,
    Project,
    Prompt,
    Provider,
    Webhook,
)
from prompts_app.services import validation

CODE_ATTRS = {"class": "pl-code vLargeTextField", "spellcheck": "false"}


def as_json_text(value: Any) -> str:
    """The way JSON values are written into the admin's textareas."""
    if value is None:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)


def normalize_newlines(text: str) -> str:
    # Browsers submit textareas with CRLF line ends; prompts are stored with LF so
    # diffs, hashes and renders do not change just because a browser saved them.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def code_textarea(rows: int = 4) -> forms.Textarea:
    return forms.Textarea(attrs={**CODE_ATTRS, "rows": rows})


def parse_json_text(text: str, not_json: str) -> Any:
    """JSON typed into a textarea, with the API's checks (depth, NUL, lone
    surrogates, infinite numbers): each failure a ValidationError on the field."""
    try:
        return validation.json_loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{not_json}: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except ValueError as exc:
        raise ValidationError(f"{not_json}: {exc}.") from None
    except DomainError as exc:
        raise ValidationError(exc.message) from None


class TemplateTextField(forms.CharField):
    """Template source exactly as typed (no stripping), with LF line ends."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strip", False)
        kwargs.setdefault("widget", code_textarea(16))
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_newlines(value) if value else value


class JSONTextField(forms.CharField):
    """JSON typed into a monospace textarea. Empty means None.

    Initial values are given as text (see `as_json_text`), so what the page shows
    is exactly what is compared when deciding whether a field changed.
    """

    def __init__(self, *, types: tuple[type, ...] = (), type_label: str = "", **kwargs):
        self.types = types
        self.type_label = type_label
        kwargs.setdefault("widget", code_textarea(4))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str) or value is None:
            return value
        return as_json_text(value)

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        parsed = parse_json_text(text, "This is not valid JSON")
        if self.types and not isinstance(parsed, self.types):
            raise ValidationError(f"This must be {self.type_label}.")
        return parsed

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != self.to_python(initial)
        except ValidationError:
            return True


class TagsField(forms.CharField):
    """Tags as comma-separated text ↔ a list of strings."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. support, billing.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        return [tag.strip() for tag in (text or "").split(",") if tag.strip()]

    def has_changed(self, initial, data):
        return self.to_python(data) != self.to_python(self.prepare_value(initial))


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


class ExampleSetVersionChoiceField(forms.ModelChoiceField):
    def __init__(self, *, queryset, with_project: bool = False, **kwargs):
        self.with_project = with_project
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "— no examples —")
        kwargs.setdefault("label", "Example set version")
        super().__init__(queryset=queryset.select_related("example_set__project"), **kwargs)

    def label_from_instance(self, obj: ExampleSetVersion) -> str:
        name = f"{obj.example_set.name} v{obj.number}"
        if self.with_project:
            name = f"{obj.example_set.project.name}/{name}"
        return f"{name} — {obj.message}" if obj.message else name


def example_set_versions(project: Project | None = None):
    queryset = ExampleSetVersion.objects.order_by(
        "example_set__project__name", "example_set__name", "-number"
    )
    if project is not None:
        queryset = queryset.filter(example_set__project=project)
    return queryset


# --- mapping service errors onto forms --------------------------------------

_FIELD_HEAD = re.compile(r"^([A-Za-z_]+)")


def render_error_text(exc) -> str:
    """A RenderError as one sentence, with its line and column when it has them."""
    message = getattr(exc, "message", None) or str(exc)
    details = getattr(exc, "details", None) or {}
    if not isinstance(details, dict):
        return message
    where = []
    line = details.get("line", details.get("lineno"))
    column = details.get("column", details.get("col", details.get("colno")))
    if line is not None and f"line {line}" not in message:
        where.append(f"line {line}")
    if column is not None and f"column {column}" not in message:
        where.append(f"column {column}")
    return f"{message} ({', '.join(where)})" if where else message


def add_service_error(form: forms.BaseForm, exc: Exception, field_map: dict[str, str | None]) -> None:
    """Put a DomainError or RenderError on the form field it names.

    `field_map` maps the service's field names (their head: 'model_config' for
    'model_config.temperature', 'messages' for 'messages[2].role') to form
    fields; anything unmapped becomes an error for the whole form.
    """
    field = getattr(exc, "field", None)
    if field is None:
        details = getattr(exc, "details", None)
        field = details.get("where") if isinstance(details, dict) else None
    target = None
    if field:
        field = str(field)
        target = field_map.get(field)
        if target is None:
            head = _FIELD_HEAD.match(field)
            target = field_map.get(head.group(1)) if head else None
    if target is not None and target not in form.fields:
        target = None
    form.add_error(target, render_error_text(exc))


# --- prompts -----------------------------------------------------------------


def _body_field(kind: str, *, required: bool) -> forms.Field:
    if kind == Prompt.KIND_CHAT:
        return JSONTextField(
            types=(list,),
            type_label='a list of messages: [{"role": "system", "content": "…"}, …]',
            required=required,
            label="Messages",
            widget=code_textarea(18),
            help_text='JSON list of {"role": "system" | "user" | "assistant", "content": "…"}; '
            "each content is a Jinja template.",
        )
    return TemplateTextField(
        required=required,
        label="Template",
        help_text="Jinja template. Variables look like {{ customer_name }}; few-shot examples "
        "are available as {{ examples }}.",
    )


class PromptVersionFieldsMixin:
    """The fields that make a new version (shared by the add and change forms)."""

    CONTENT_FIELDS = (
        "body",
        "model_config",
        "variables_schema",
        "example_set_version",
        "trim_blocks",
        "lstrip_blocks",
    )

    def _add_version_fields(self, *, kind: str, esv_queryset, with_project: bool, body_required: bool):
        self.fields["body"] = _body_field(kind, required=body_required)
        self.fields["model_config"] = JSONTextField(
            types=(dict,),
            type_label="a JSON object",
            label="Model config",
            help_text='Optional, e.g. {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 500}.',
        )
        self.fields["variables_schema"] = JSONTextField(
            types=(dict,),
            type_label="a JSON Schema object",
            label="Variables schema",
            help_text="Optional JSON Schema of the variables. Leave empty to infer it from the template.",
        )
        self.fields["example_set_version"] = ExampleSetVersionChoiceField(
            queryset=esv_queryset, with_project=with_project
        )
        self.fields["trim_blocks"] = forms.BooleanField(
            required=False,
            label="Trim blocks",
            help_text="Jinja's trim_blocks: drop the first newline after a {% block %} tag "
            "(chat templates from Hugging Face expect it).",
        )
        self.fields["lstrip_blocks"] = forms.BooleanField(
            required=False,
            label="Lstrip blocks",
            help_text="Jinja's lstrip_blocks: strip spaces and tabs before a {% block %} tag.",
        )
        self.fields["message"] = forms.CharField(
            required=False,
            label="Commit message",
            widget=forms.TextInput(attrs={"class": "vLargeTextField", "size": 80}),
            help_text="What changed and why; kept in the version history.",
        )

    def version_kwargs(self) -> dict[str, Any]:
        """The cleaned content as keyword arguments for services.prompt_version_create."""
        data = self.cleaned_data
        body = data.get("body")
        kwargs: dict[str, Any] = {
            "model_config": data.get("model_config") or {},
            "variables": data.get("variables_schema"),
            "example_set_version": data.get("example_set_version"),
            "message": data.get("message") or "",
            "template_options": {
                "trim_blocks": bool(data.get("trim_blocks")),
                "lstrip_blocks": bool(data.get("lstrip_blocks")),
            },
        }
        if self.kind == Prompt.KIND_CHAT:
            kwargs["messages"] = body
        else:
            kwargs["template"] = body
        return kwargs


VERSION_ERROR_FIELDS = {
    "template": "body",
    "messages": "body",
    "body": "body",
    "model_config": "model_config",
    "variables": "variables_schema",
    "example_set_version": "example_set_version",
    "message": "message",
    "description": "description",
    "tags": "tags",
    "name": "name",
    "kind": "kind",
    "project": "project",
}


class PromptChangeForm(PromptVersionFieldsMixin, forms.Form):
    """Edit a prompt: its metadata, and its content as the next version."""

    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = TagsField()
    protect_production = forms.BooleanField(
        required=False,
        help_text="When set, 'production' moves only to a version whose latest eval run passed, "
        "unless forced with a reason.",
    )
    preview_variables = JSONTextField(
        types=(dict,),
        type_label="a JSON object",
        label="Variables for the draft preview",
        help_text='Used by "Preview draft" only (nothing is saved), e.g. {"name": "Ada"}.',
    )

    # The version this page was opened on, to notice a version saved meanwhile.
    base_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    METADATA_FIELDS = ("description", "tags", "protect_production")

    def __init__(self, *args, prompt: Prompt, latest=None, custom_schema: dict | None = None, **kwargs):
        self.prompt = prompt
        self.kind = prompt.kind
        self.latest = latest
        initial = {
            "description": prompt.description,
            "tags": list(prompt.tags or []),
            "protect_production": prompt.protect_production,
        }
        if latest is not None:
            initial.update(
                body=as_json_text(latest.messages) if self.kind == Prompt.KIND_CHAT else latest.template,
                model_config=as_json_text(latest.model_config) if latest.model_config else "",
                variables_schema=as_json_text(custom_schema) if custom_schema else "",
                example_set_version=latest.example_set_version_id,
                trim_blocks=latest.trim_blocks,
                lstrip_blocks=latest.lstrip_blocks,
            )
        initial.update(kwargs.pop("initial", None) or {})
        super().__init__(*args, initial=initial, **kwargs)
        self._add_version_fields(
            kind=self.kind,
            esv_queryset=example_set_versions(prompt.project),
            with_project=False,
            body_required=False,
        )
        # Keep the page in reading order: content first, then metadata, then the preview box.
        self.order_fields(
            [
                "body",
                "message",
                "model_config",
                "example_set_version",
                "trim_blocks",
                "lstrip_blocks",
                "variables_schema",
            ]
        )

    def content_changed(self) -> bool:
        if self.latest is None:
            return self.cleaned_data.get("body") not in (None, "")
        return any(name in self.changed_data for name in self.CONTENT_FIELDS)

    def metadata_changed(self) -> dict[str, Any]:
        """Only the metadata fields a person changed, as prompt_update keyword arguments."""
        return {name: self.cleaned_data[name] for name in self.METADATA_FIELDS if name in self.changed_data}

    def draft_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for selectors.draft_render from the unsaved form content."""
        body = self.cleaned_data.get("body")
        esv = self.cleaned_data.get("example_set_version")
        return {
            "template": body if self.kind == Prompt.KIND_TEXT else None,
            "messages": body if self.kind == Prompt.KIND_CHAT else None,
            "variables": self.cleaned_data.get("preview_variables") or {},
            "examples": esv.as_render_examples() if esv is not None else [],
            "template_options": {
                "trim_blocks": bool(self.cleaned_data.get("trim_blocks")),
                "lstrip_blocks": bool(self.cleaned_data.get("lstrip_blocks")),
            },
        }


class PromptAddForm(PromptVersionFieldsMixin, forms.Form):
    """A new prompt and its first version."""

    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    name = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '-', '_' or '.'; unique in the project.",
    )
    kind = forms.ChoiceField(
        choices=Prompt.KIND_CHOICES,
        initial=Prompt.KIND_TEXT,
        help_text="Text: one Jinja template. Chat: a JSON list of messages.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = TagsField()
    protect_production = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = Prompt.KIND_TEXT
        self._add_version_fields(
            kind=Prompt.KIND_TEXT,
            esv_queryset=example_set_versions(),
            with_project=True,
            body_required=True,
        )
        body = self.fields["body"]
        body.label = "Template or messages"
        body.help_text = (
            "Text prompts: a Jinja template, e.g. Hello {{ name }}. Chat prompts: a JSON list "
            'of messages, e.g. [{"role": "system", "content": "You help {{ company }}."}].'
        )

    def clean(self):
        cleaned = super().clean()
        self.kind = cleaned.get("kind") or Prompt.KIND_TEXT
        body = cleaned.get("body")
        if self.kind == Prompt.KIND_CHAT and isinstance(body, str):
            try:
                cleaned["body"] = JSONTextField(
                    types=(list,), type_label="a JSON list of messages"
                ).clean(body)
            except ValidationError as exc:
                self.add_error("body", exc)
        return cleaned

    def prompt_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "project": data["project"],
            "name": data["name"],
            "kind": data["kind"],
            "description": data.get("description") or "",
            "tags": data.get("tags") or [],
            "protect_production": bool(data.get("protect_production")),
        }


# --- preview, promote, diff ----------------------------------------------------

_NON_STRING_TYPES = {"number", "integer", "boolean", "array", "object", "null"}


def _schema_types(prop: Any) -> set[str]:
    if not isinstance(prop, dict):
        return set()
    declared = prop.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return set()


def variable_field_initial(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class PreviewForm(forms.Form):
    """Variables for a preview render: one field per variable, or one JSON object."""

    version = forms.TypedChoiceField(coerce=int, label="Version")
    variables_json = JSONTextField(
        types=(dict,),
        type_label="a JSON object of variables",
        label="Variables as JSON",
        help_text="Optional. When given, used instead of the fields above.",
    )

    def __init__(self, *args, version_numbers: list[int], variable_names: list[str],
                 schema: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(n, f"v{n}") for n in version_numbers]
        self.schema = schema or {}
        self.variable_names = list(variable_names)
        properties = self.schema.get("properties", {}) if isinstance(self.schema, dict) else {}
        for name in self.variable_names:
            types = _schema_types(properties.get(name))
            hint = f"Type: {', '.join(sorted(types))} (write it as JSON)." if types & _NON_STRING_TYPES else ""
            self.fields[self.variable_field_name(name)] = forms.CharField(
                label=name,
                required=False,
                strip=False,
                widget=forms.Textarea(attrs={**CODE_ATTRS, "rows": 2}),
                help_text=hint,
            )
        self.order_fields(["version", *[self.variable_field_name(n) for n in self.variable_names], "variables_json"])

    @staticmethod
    def variable_field_name(name: str) -> str:
        return f"var__{name}"

    def variable_fields(self):
        return [self[self.variable_field_name(name)] for name in self.variable_names]

    def variables(self) -> dict[str, Any]:
        """The variables to render with. Empty fields are left out, so the renderer
        names them as missing instead of silently rendering an empty string."""
        if self.cleaned_data.get("variables_json") is not None:
            return self.cleaned_data["variables_json"]
        properties = self.schema.get("properties", {}) if isinstance(self.schema, dict) else {}
        result: dict[str, Any] = {}
        for name in self.variable_names:
            raw = self.cleaned_data.get(self.variable_field_name(name))
            if raw in (None, ""):
                continue
            raw = normalize_newlines(raw)
            types = _schema_types(properties.get(name))
            wants_json = bool(types & _NON_STRING_TYPES) and "string" not in types
            looks_json = not types and raw.lstrip()[:1] in ("[", "{")
            if wants_json or looks_json:
                try:
                    result[name] = validation.json_loads(raw, field=name)
                    continue
                except (ValueError, DomainError):
                    pass  # left as text: the schema check then says what type it wanted
            result[name] = raw
        return result


class PromoteForm(forms.Form):
    version = forms.TypedChoiceField(coerce=int, label="Version")
    label = forms.CharField(
        max_length=100,
        initial=Label.PRODUCTION,
        help_text="production, staging, or any name (lowercase letters, digits, '-', '_', '.').",
    )
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text="Why this version; kept in the label history. Required when forcing.",
    )
    force = forms.BooleanField(
        required=False,
        help_text="Move a protected production even though the version's evals did not pass.",
    )

    def __init__(self, *args, version_numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(n, f"v{n}") for n in version_numbers]


PROMOTE_ERROR_FIELDS = {"label": "label", "version": "version", "reason": "reason", "force": "force"}


class DiffForm(forms.Form):
    """Two versions to compare. The fields are named `from` and `to` (set in
    __init__, since `from` is a keyword) so diff URLs read ?from=1&to=2."""

    MODE_SIDE = "side"
    MODE_UNIFIED = "unified"

    mode = forms.ChoiceField(
        choices=[(MODE_SIDE, "Side by side"), (MODE_UNIFIED, "Unified")],
        initial=MODE_SIDE,
        required=False,
    )

    def __init__(self, *args, version_numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(n, f"v{n}") for n in version_numbers]
        self.fields["from"] = forms.TypedChoiceField(coerce=int, label="From", choices=choices)
        self.fields["to"] = forms.TypedChoiceField(coerce=int, label="To", choices=choices)
        self.order_fields(["from", "to", "mode"])


# --- projects and API keys ---------------------------------------------------------


class ProjectAddForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '-', '_' or '.'. Fixed once created.",
    )



class ApiKeyCreateForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    name = forms.CharField(
        max_length=100, required=False, help_text="What uses this key, e.g. 'support-bot prod'."
    )
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ApiKey.SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
        help_text="read: fetch and render prompts; write: create prompts, versions and labels; "
        "ingest: report token usage.",
    )


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
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
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

    provider = ProviderNameChoiceField(queryset=Provider.objects.none())
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
        self.fields["provider"].queryset = Provider.objects.filter(project=project).select_related("project")


class EvalSuiteAddForm(forms.Form):
    prompt = forms.ModelChoiceField(
        queryset=Prompt.objects.none(), help_text="Prompts that have no eval suite yet."
    )
    provider = ProviderNameChoiceField(queryset=Provider.objects.none(), with_project=True)
    repeats = forms.IntegerField(initial=1, help_text=REPEATS_HELP)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"].queryset = (
            Prompt.objects.filter(eval_suite__isnull=True)
            .select_related("project")
            .order_by("project__name", "name")
        )
        self.fields["provider"].queryset = (
            Provider.objects.select_related("project").order_by("project__name", "name")
        )

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
    ("cached_input_price_per_1m", "Cached input price", PER_1M, ("Empty: the input price (no discount). The "
      "tuned model's cached input is priced at its input price.")),
    ("one_time_cost", "One-time cost", "USD", ("Training (tokens × epochs × training price) plus data "
      "preparation.")),
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
]
ADVISOR_INPUT_UNITS = {key: unit for key, _, unit, _ in WHAT_IF_FIELDS} | {
    "ft_cached_input_price_per_1m": PER_1M,
    "warn_below_examples": "examples",
    "full_tuning_examples": "examples",
    "eval_pass_rate": "share (0–1)",
}
ADVISOR_INPUT_LABELS = {key: label for key, label, _, _ in WHAT_IF_FIELDS} | {
    "ft_cached_input_price_per_1m": "Fine-tuned cached input price",
    "warn_below_examples": "Warn below",
    "full_tuning_examples": "Examples for full tuning",
    "eval_pass_rate": "Latest eval pass rate",
}
WHAT_IF_FIELDSETS = [
    ("Volume and tokens", ["calls_per_month", "avg_input_tokens", "avg_output_tokens", "tokens_removable"]),
    ("Prices", ["input_price_per_1m", "output_price_per_1m", "ft_input_price_per_1m", "ft_output_price_per_1m",
                "cached_input_share", "cached_input_price_per_1m"]),
    ("Cost and readiness", ["one_time_cost", "approved_examples", "versions_last_30_days",
                            "payback_horizon_months"]),
    ("Thresholds", ["prefill_ms_per_token", "volume_floor_calls_per_month", "min_approved_examples",
                    "max_versions_last_30_days"]),
]
_DIGIT_GROUPING = re.compile(r"(?<=\d)[,_ ](?=\d{3}\b)")


class WhatIfForm(forms.Form):
    """The advisor's what-if inputs, as typed. The advisor validates them
    (advisor.validate_inputs); this form only tidies the text: thousands
    separators and a leading $ go, an empty optional field takes its default."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label, unit, help_text in WHAT_IF_FIELDS:
            self.fields[key] = forms.CharField(
                label=f"{label} ({'0–1' if unit.startswith('share') else unit})",
                required=key in advisor.WHAT_IF_REQUIRED_KEYS,
                help_text=help_text,
                max_length=60,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 16, "autocomplete": "off",
                                              "class": "pl-number"}),
            )

    @staticmethod
    def tidy(text: str) -> str:
        text = text.strip()
        text = text[1:].strip() if text.startswith("$") else text
        return _DIGIT_GROUPING.sub("", text)

    def raw_inputs(self) -> dict[str, str]:
        """The filled-in fields, for advisor.validate_inputs."""
        return {key: self.tidy(value) for key, value in self.cleaned_data.items() if value and value.strip()}

    def add_advisor_errors(self, exc: advisor.AdvisorInputError) -> None:
        for key, message in exc.errors.items():
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
