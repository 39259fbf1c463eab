"""Forms of the library pages: a prompt and its next version, preview, promote,
diff, a project, an API key. They parse what a person typed into the shapes
the services take and hold no business rules: the services validate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from prompts_app.admin.base import (
    CODE_ATTRS,
    JSONTextField,
    TagsField,
    TemplateTextField,
    as_json_text,
    normalize_newlines,
    render_error_text,
)
from prompts_app.errors import DomainError
from prompts_app.models import (
    ApiKey,
    ExampleSetVersion,
    Label,
    Prompt,
)
from prompts_app.selectors.library import (
    example_set_version_choices,
    project_choices,
    project_names_unprotected_by_default,
)
from prompts_app.services import validation


class ExampleSetVersionChoiceField(forms.ModelChoiceField):
    """Pick an example-set version; `queryset` comes from
    selectors.library.example_set_version_choices (set and project joined)."""

    def __init__(self, *, queryset, with_project: bool = False, **kwargs):
        self.with_project = with_project
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "— no examples —")
        kwargs.setdefault("label", "Example set version")
        super().__init__(queryset=queryset, **kwargs)

    def label_from_instance(self, obj: ExampleSetVersion) -> str:
        name = f"{obj.example_set.name} v{obj.number}"
        if self.with_project:
            name = f"{obj.example_set.project.name}/{name}"
        return f"{name} — {obj.message}" if obj.message else name


# --- prompts -----------------------------------------------------------------

CHAT_ROLES = ("system", "user", "assistant")
_MESSAGE_KEY = re.compile(r"^(?P<name>.+)-(?P<index>\d+)-(?P<part>role|content)$")
_MESSAGE_FIELD = re.compile(r"^messages\[(\d+)\]")


class ChatMessagesWidget(forms.Widget):
    """Chat messages one by one: a role select and a multi-line textarea each,
    with add / remove / move buttons (prompts_app/prompt_editor.js), and a JSON
    toggle that edits the same list as raw JSON.

    The page posts `<name>-editor` ("rows" or "json"); in rows mode each
    message as `<name>-<i>-role` and `<name>-<i>-content` (the script numbers
    them in page order before submit), in JSON mode `<name>` as JSON text.
    Either way the field receives the list as JSON text, so the JSON field's
    parsing and change detection stay the same. A plain post of `<name>` alone
    (no rows) is taken as JSON text too.
    """

    template_name = "admin/prompts_app/prompt/_chat_editor.html"

    class Media:
        js = ["prompts_app/prompt_editor.js"]
        css = {"all": ["prompts_app/prompt_editor.css"]}

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.mode = "rows"
        self.row_errors: dict[int, list[str]] = {}

    def value_from_datadict(self, data, files, name):
        mode = data.get(f"{name}-editor")
        rows: dict[int, dict[str, str]] = {}
        for key in data:
            match = _MESSAGE_KEY.match(key)
            if match and match.group("name") == name:
                rows.setdefault(int(match.group("index")), {})[match.group("part")] = data.get(key)
        if mode == "json" or (mode != "rows" and not rows):
            self.mode = "json"
            return data.get(name)
        self.mode = "rows"
        messages = [
            {"role": rows[i].get("role") or "", "content": normalize_newlines(rows[i].get("content") or "")}
            for i in sorted(rows)
        ]
        return json.dumps(messages, ensure_ascii=False, indent=2)

    def value_omitted_from_data(self, data, files, name):
        return name not in data and f"{name}-editor" not in data

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        parsed = value
        if isinstance(value, str):
            try:
                parsed = json.loads(value) if value.strip() else []
            except ValueError:
                parsed = None
        rows = None
        if isinstance(parsed, list) and all(isinstance(m, dict) for m in parsed):
            rows = []
            for index, message in enumerate(parsed):
                role = message.get("role")
                role = role if isinstance(role, str) else ""
                content = message.get("content")
                content = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
                rows.append({
                    "role": role,
                    "roles": CHAT_ROLES if role in CHAT_ROLES else (*CHAT_ROLES, role),
                    "content": content,
                    "lines": max(3, min(20, content.count("\n") + 2)),
                    "errors": self.row_errors.get(index, []),
                })
        mode = self.mode if rows is not None else "json"
        json_text = value if isinstance(value, str) else as_json_text(value)
        context["editor"] = {"mode": mode, "rows": rows or [], "json": json_text or "", "roles": CHAT_ROLES}
        return context


class PromptBodyWidget(ChatMessagesWidget):
    """The add page's body, before the prompt has a kind: a template textarea for
    a text prompt and ChatMessagesWidget's editor for a chat prompt, one shown as
    the page's kind select says (prompt_editor.js). The other sits in a disabled
    fieldset, so only the one shown is posted and ChatMessagesWidget reads the post
    as ever: chat rows come back as JSON text, a lone `<name>` (the template, or a
    chat list typed as JSON) as it is.

    `kind` is the kind the page opens with (the posted one after an error)."""

    template_name = "admin/prompts_app/prompt/_body_editor.html"
    # A new chat prompt opens with an empty system message to fill in.
    CHAT_START = [{"role": "system", "content": ""}]

    def __init__(self, attrs=None, *, kind: str = Prompt.KIND_TEXT, kind_field: str = "kind"):
        super().__init__(attrs)
        self.kind = kind
        self.kind_field = kind_field

    def get_context(self, name, value, attrs):
        chat = self.kind == Prompt.KIND_CHAT
        chat_value = value if chat and value not in (None, "") else as_json_text(self.CHAT_START)
        context = super().get_context(name, chat_value, attrs)
        if not chat:
            context["editor"]["mode"] = "rows"  # what a switch to chat shows first
        widget = context["widget"]
        context["body"] = {
            "kind": Prompt.KIND_CHAT if chat else Prompt.KIND_TEXT,
            "kind_field": self.kind_field,
            "template": "" if chat or value is None else value,
            # The editor's JSON textarea gets its own id: the field's label points
            # at the template.
            "chat_widget": {**widget, "attrs": {**widget["attrs"], "id": f"{widget['attrs'].get('id')}_chat"}},
        }
        return context


def add_message_error(form: forms.BaseForm, exc: Exception) -> bool:
    """A service error about `messages[i]…` put on message i of the chat editor
    (rows mode), with a pointer to it on the field. False when it is not one."""
    field = getattr(exc, "field", None)
    if not field:
        details = getattr(exc, "details", None)
        field = details.get("where") if isinstance(details, dict) else None
    match = _MESSAGE_FIELD.match(str(field or ""))
    body = form.fields.get("body")
    if not match or body is None or not isinstance(body.widget, ChatMessagesWidget) or body.widget.mode != "rows":
        return False
    index = int(match.group(1))
    body.widget.row_errors.setdefault(index, []).append(render_error_text(exc))
    form.add_error("body", f"Message {index + 1} has an error: see the message below.")
    return True


def _body_field(kind: str, *, required: bool) -> forms.Field:
    if kind == Prompt.KIND_CHAT:
        return JSONTextField(
            types=(list,),
            type_label='a list of messages: [{"role": "system", "content": "…"}, …]',
            required=required,
            label="Messages",
            widget=ChatMessagesWidget(),
            help_text="Each message is a role and a Jinja template. Use “JSON” to edit the list as "
            'raw JSON: [{"role": "system" | "user" | "assistant", "content": "…"}, …].',
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

    # The latest version when this page was opened: a version saved meanwhile makes
    # the save a stale-base conflict (services.library.prompt_version_create).
    base_version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The version the content fields were filled from (production, or the one picked).
    start_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    METADATA_FIELDS = ("description", "tags", "protect_production")

    def __init__(self, *args, prompt: Prompt, start=None, custom_schema: dict | None = None, **kwargs):
        """`start`: the version the content fields start from (None: no version yet)."""
        self.prompt = prompt
        self.kind = prompt.kind
        self.start = start
        initial = {
            "description": prompt.description,
            "tags": list(prompt.tags or []),
            "protect_production": prompt.protect_production,
            "base_version": prompt.latest_version_number,
            "start_version": start.number if start is not None else None,
        }
        if start is not None:
            initial.update(
                body=as_json_text(start.messages) if self.kind == Prompt.KIND_CHAT else start.template,
                model_config=as_json_text(start.model_config) if start.model_config else "",
                variables_schema=as_json_text(custom_schema) if custom_schema else "",
                example_set_version=start.example_set_version_id,
                trim_blocks=start.trim_blocks,
                lstrip_blocks=start.lstrip_blocks,
            )
        initial.update(kwargs.pop("initial", None) or {})
        super().__init__(*args, initial=initial, **kwargs)
        self._add_version_fields(
            kind=self.kind,
            esv_queryset=example_set_version_choices(project=prompt.project),
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
        if self.start is None:
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

    project = forms.ModelChoiceField(queryset=project_choices())
    name = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '-', '_' or '.'; unique in the project.",
    )
    kind = forms.ChoiceField(
        choices=Prompt.KIND_CHOICES,
        initial=Prompt.KIND_TEXT,
        help_text="Text: one Jinja template. Chat: a list of messages, each a role and a template.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = TagsField()
    PROTECT_DEFAULT, PROTECT_ON, PROTECT_OFF = "", "on", "off"
    protect_production = forms.ChoiceField(
        required=False,
        label="Protect production",
        choices=[(PROTECT_DEFAULT, "The project's default"), (PROTECT_ON, "On"), (PROTECT_OFF, "Off")],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        off = project_names_unprotected_by_default()
        self.fields["protect_production"].help_text = (
            "When on, 'production' moves only to a version whose latest eval run passed, unless forced "
            "with a reason. The project's default is on"
            + (f", except in {', '.join(off)}." if off else ".")
        )
        self.kind = Prompt.KIND_TEXT
        self._add_version_fields(
            kind=Prompt.KIND_TEXT,
            esv_queryset=example_set_version_choices(),
            with_project=True,
            body_required=True,
        )
        # The kind is chosen on this page: the body shows the template or the chat
        # editor as the kind select says, starting from the kind posted or given.
        kind = self["kind"].value()
        self.fields["body"] = TemplateTextField(
            label="Template or messages",
            widget=PromptBodyWidget(kind=kind if kind in dict(Prompt.KIND_CHOICES) else Prompt.KIND_TEXT),
            help_text="Text prompts: a Jinja template, e.g. Hello {{ name }}. Chat prompts: each message "
            "is a role and a Jinja template; “JSON” edits the list as raw JSON, e.g. "
            '[{"role": "system", "content": "You help {{ company }}."}].',
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
            # None: prompt_create applies the project's protect_production_by_default.
            "protect_production": {self.PROTECT_ON: True, self.PROTECT_OFF: False}.get(
                data.get("protect_production") or self.PROTECT_DEFAULT
            ),
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
    create_label = forms.BooleanField(
        required=False,
        label="Create a new label",
        help_text="Tick to create a label this prompt does not have yet (so a typo is not "
        "silently saved as a new label).",
    )

    def __init__(
        self, *args, version_numbers: list[int], existing_labels: list[str] = (), **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(n, f"v{n}") for n in version_numbers]
        self.existing_labels = sorted(existing_labels)
        # the well-known names need no confirmation; 'latest' is refused by the service
        self.known_labels = set(existing_labels) | {Label.PRODUCTION, "staging", Label.LATEST}

    def clean(self):
        data = super().clean()
        label = data.get("label")
        if label and label not in self.known_labels and not data.get("create_label"):
            known = ", ".join(self.existing_labels) or "none yet"
            self.add_error(
                "label",
                f"This prompt has no label '{label}' (its labels: {known}). Check the "
                "spelling, or tick \"Create a new label\" to create it.",
            )
        return data


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
    project = forms.ModelChoiceField(queryset=project_choices())
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

