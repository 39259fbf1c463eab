"""What every domain's admin shares: the base ModelAdmin classes, the helpers
for custom pages (URLs, permissions, the admin's own change-form page), and
the form fields and error mapping the domain forms build on.

The domain modules (library, example_sets, evals, ledger) import from here;
nothing here imports from them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from prompts_app.errors import DomainError
from prompts_app.models import EvalRun, EvalSuite, Prompt, PromptVersion
from prompts_app.services import validation

# --- base ModelAdmin classes ---------------------------------------------------


class BaseAdmin(admin.ModelAdmin):
    """Every admin of the app: the app's stylesheet on its pages."""

    class Media:
        css = {"all": ["prompts_app/admin.css", "prompts_app/evals.css"]}
        js = ["prompts_app/evals.js"]


class NoDeleteAdmin(BaseAdmin):
    # Versions and label history point at these rows (PROTECT): deleting them
    # would rewrite history, so the admin does not offer it.
    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    """History and immutable records: shown, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- URLs ------------------------------------------------------------------------


def admin_url(model_admin, name: str, *args) -> str:
    opts = model_admin.opts
    return reverse(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args)


def version_url(version: PromptVersion) -> str:
    return reverse("admin:prompts_app_promptversion_change", args=[version.pk])


def change_url_of(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def eval_run_url(run: EvalRun) -> str:
    return reverse("admin:prompts_app_evalrun_change", args=[run.pk])


def eval_runs_url(prompt: Prompt) -> str:
    return reverse("admin:prompts_app_evalrun_changelist") + f"?prompt_version__prompt__id__exact={prompt.pk}"


def eval_status_url(prompt_id: int) -> str:
    """The read-only JSON of a prompt's eval badges, which the admin pages poll."""
    return reverse("admin:prompts_app_evalrun_status") + f"?prompt={prompt_id}"


def eval_suite_url(prompt: Prompt) -> str:
    """The prompt's suite, or the page that makes one for it."""
    try:
        suite = prompt.eval_suite
    except EvalSuite.DoesNotExist:
        return reverse("admin:prompts_app_evalsuite_add") + f"?prompt={prompt.pk}"
    return reverse("admin:prompts_app_evalsuite_change", args=[suite.pk])


def advice_url(prompt: Prompt) -> str:
    return reverse("admin:prompts_app_prompt_advice", args=[prompt.pk])


# --- custom pages ----------------------------------------------------------------


def get_or_404(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        return None, model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    return obj, None


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def change_page_object(model_admin, request, object_id):
    """(obj, None, can_change) for a custom change page, or (None, redirect, False)
    when the row is gone. Viewing needs view rights; a POST needs change rights."""
    obj, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return None, missing, False
    can_change = model_admin.has_change_permission(request, obj)
    require(can_change if request.method == "POST" else model_admin.has_view_or_change_permission(request, obj))
    return obj, None, can_change


def bulk_action_message(*, verb: str, noun: str, newly: int, total: int) -> str:
    """'Revoked 2 keys. 1 was already revoked.'"""
    text = f"{verb} {newly} {noun}{'s' if newly != 1 else ''}."
    already = total - newly
    if already:
        text += f" {already} {'was' if already == 1 else 'were'} already {verb.lower()}."
    return text


def page_context(model_admin, request, *, title: str, obj=None, **extra) -> dict[str, Any]:
    """Context for a custom page that extends admin/base_site.html."""
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        "title": title,
        "subtitle": str(obj) if obj is not None else None,
        "original": obj,
        "has_view_permission": model_admin.has_view_permission(request, obj),
        "has_change_permission": model_admin.has_change_permission(request, obj),
        "media": model_admin.media,
        **extra,
    }


def render_form_page(
    model_admin,
    request,
    *,
    form,
    fieldsets,
    obj=None,
    title: str,
    formsets=(),
    extra_context: dict | None = None,
):
    """Render a plain form in the admin's own change-form page (fieldsets, error
    notes, submit row), so service-backed pages look like every other admin page."""
    add = obj is None
    admin_form = helpers.AdminForm(form, list(fieldsets), {}, model_admin=model_admin)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": str(obj) if obj is not None else None,
        "adminform": admin_form,
        "object_id": obj.pk if obj is not None else None,
        "original": obj,
        "is_popup": False,
        "to_field": None,
        "media": model_admin.media + admin_form.media,
        "inline_admin_formsets": [],
        "errors": helpers.AdminErrorList(form, list(formsets)),
        "preserved_filters": model_admin.get_preserved_filters(request),
        "show_save_and_add_another": False,
        "show_save_as_new": False,
        "show_delete_link": False,
        **(extra_context or {}),
    }
    return model_admin.render_change_form(request, context, add=add, change=not add, obj=obj)


def after_save(model_admin, request, obj, anchor: str = "") -> HttpResponseRedirect:
    """Django's convention: "Save and continue editing" stays, "Save" goes to the list."""
    if "_continue" in request.POST:
        return HttpResponseRedirect(admin_url(model_admin, "change", obj.pk) + anchor)
    return HttpResponseRedirect(admin_url(model_admin, "changelist"))


def render_error_details(exc: Exception) -> dict[str, Any]:
    """An error from a render, as the preview panels show it."""
    details = getattr(exc, "details", None)
    return {
        "code": getattr(exc, "code", "invalid"),
        "message": render_error_text(exc),
        "details_json": (
            json.dumps(details, indent=2, ensure_ascii=False, default=str)
            if isinstance(details, dict) and details else None
        ),
    }



# --- form fields and service errors -------------------------------------------------

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



# --- row editors (example sets, eval suites) -------------------------------------------

MAX_ROWS = 100  # beyond this an editor opens as one JSON list


def editor_mode(request, *, count: int, formset_class) -> tuple[str, bool]:
    """"rows" or "json" for a list of `count` items, and whether rows are possible
    at all (the formset's max_num keeps a page under Django's field limit)."""
    rows_allowed = count + formset_class.extra <= formset_class.max_num
    mode = request.POST.get("mode") or request.GET.get("mode")
    if mode not in ("rows", "json"):
        mode = "rows" if count <= MAX_ROWS else "json"
    if mode == "rows" and not rows_allowed:
        mode = "json"
    return mode, rows_allowed


def posted_list(form, formset, *, json_field: str, noun: str, row_value) -> tuple[list | None, list[int]]:
    """The list a row editor posted, and the row position of each item (to put a
    service error on the row the person sees); None when the form is invalid.

    With no `formset` (JSON mode) the list is `form[json_field]`; otherwise it is
    `row_value(row)` of every row kept: not deleted, and not an untouched blank one.
    """
    if formset is None:
        if not form.is_valid():
            return None, []
        items = form.cleaned_data.get(json_field)
        if items is None:
            form.add_error(json_field, f"Give the {noun} as a JSON list ([] for none).")
            return None, []
        return items, list(range(len(items)))
    if not (form.is_valid() and formset.is_valid()):
        return None, []
    deleted = {id(row) for row in formset.deleted_forms}
    kept = [
        (index, row) for index, row in enumerate(formset.forms)
        if id(row) not in deleted and (index < formset.initial_form_count() or row.has_changed())
    ]
    return [row_value(row) for _, row in kept], [index for index, _ in kept]


def add_row_error(form, formset, exc: DomainError, positions: list[int], *, list_name: str,
                  field_map: dict[str, str | None]) -> None:
    """Put a service error about `<list_name>[i].field` on the row the person sees
    (`positions[i]`), or, in JSON mode, on the form through `field_map`."""
    match = re.match(rf"^{re.escape(list_name)}\[(\d+)\](?:\.(\w+))?", exc.field or "")
    if formset is not None and match and int(match.group(1)) < len(positions):
        row = formset.forms[positions[int(match.group(1))]]
        name = match.group(2)
        row.add_error(name if name in row.fields else None, exc.message)
        return
    if formset is not None:
        field_map = {key: value for key, value in field_map.items() if key != list_name}  # no JSON field on the page
    add_service_error(form, exc, field_map)
