"""Example sets: the editor (one row per example, or the whole list as JSON)
that saves each change as a new version through
`services.library.example_set_version_create`; versions and their examples
are read-only. Adding a set with first examples combines two service calls in
one `transaction.atomic` of its own.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from prompts_app.admin.base import (
    NoDeleteAdmin,
    ReadOnlyAdmin,
    add_row_error,
    add_service_error,
    admin_url,
    after_save,
    as_json_text,
    change_page_object,
    change_url_of,
    editor_mode,
    posted_list,
    render_form_page,
    require,
)
from prompts_app.admin.display import (
    json_block,
    link,
)
from prompts_app.admin.forms import example_sets as f
from prompts_app.errors import DomainError
from prompts_app.models import (
    Example,
    ExampleSet,
    ExampleSetVersion,
)
from prompts_app.services import library

# --- example sets ----------------------------------------------------------------


@admin.register(ExampleSet)
class ExampleSetAdmin(NoDeleteAdmin):
    list_display = ["name", "project", "latest_display", "description", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def add_view(self, request, form_url="", extra_context=None):
        return example_set_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return example_set_change(self, request, object_id)

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"


class ExampleInline(admin.TabularInline):
    model = Example
    fields = ["number_display", "input_display", "output_display", "tags_display", "approved"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="#")
    def number_display(self, obj):
        return obj.position + 1

    @admin.display(description="tags")
    def tags_display(self, obj):
        return ", ".join(obj.tags or []) or "—"

    @admin.display(description="input")
    def input_display(self, obj):
        if isinstance(obj.input, str):
            return format_html('<pre class="pl-code-block">{}</pre>', obj.input)
        return json_block(obj.input)

    @admin.display(description="output")
    def output_display(self, obj):
        return format_html('<pre class="pl-code-block">{}</pre>', obj.output)


@admin.register(ExampleSetVersion)
class ExampleSetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project_display", "number", "author", "created_at", "message"]
    list_filter = ["example_set__project"]
    search_fields = ["example_set__name", "message", "author"]
    list_select_related = ["example_set__project"]
    fields = ["example_set_link", "number", "author", "created_at", "message", "content_hash"]
    readonly_fields = fields
    inlines = [ExampleInline]

    @admin.display(description="project", ordering="example_set__project__name")
    def project_display(self, obj):
        return obj.example_set.project

    @admin.display(description="example set")
    def example_set_link(self, obj):
        return link(change_url_of(obj.example_set), obj.example_set)




# --- example sets -----------------------------------------------------------------------

def _examples_of(version) -> list[dict[str, Any]]:
    if version is None:
        return []
    return [
        {"input": ex.input, "output": ex.output, "tags": list(ex.tags or []), "approved": ex.approved}
        for ex in version.examples.order_by("position")
    ]


def _row_initial(example: dict[str, Any]) -> dict[str, Any]:
    # One line of JSON reads better than an indented block in a small row textarea.
    value = example["input"]
    return {**example, "input": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}


def example_set_add(model_admin, request):
    require(model_admin.has_add_permission(request))
    form = f.ExampleSetAddForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                example_set = library.example_set_create(
                    project=data["project"], name=data["name"], description=data.get("description") or ""
                )
                if data.get("examples_json"):
                    library.example_set_version_create(
                        example_set=example_set, examples=data["examples_json"],
                        message=data.get("message") or "", author=request.user.get_username(),
                    )
        except DomainError as exc:
            add_service_error(form, exc, f.EXAMPLE_ERROR_FIELDS)
        else:
            model_admin.log_addition(request, example_set, [{"added": {}}])
            messages.success(request, f"Created example set {example_set}.")
            return HttpResponseRedirect(admin_url(model_admin, "change", example_set.pk))
    fieldsets = [(None, {"fields": ["project", "name", "description", "examples_json", "message"]})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add example set")


def example_set_change(model_admin, request, object_id):
    example_set, missing, can_change = change_page_object(model_admin, request, object_id)
    if missing:
        return missing
    versions = list(
        example_set.versions.annotate(
            example_count=Count("examples"),
            approved_count=Count("examples", filter=Q(examples__approved=True)),
        ).order_by("-number")
    )
    latest = versions[0] if versions else None
    current = _examples_of(latest)
    mode, rows_allowed = editor_mode(request, count=len(current), formset_class=f.ExampleRowFormSet)

    form = f.ExampleSetVersionForm(request.POST or None, initial={"examples_json": as_json_text(current)})
    formset = None
    if mode == "rows":
        formset = f.ExampleRowFormSet(
            request.POST or None, prefix="ex", initial=[_row_initial(e) for e in current]
        )
    if request.method == "POST":
        examples, positions = posted_list(form, formset, json_field="examples_json", noun="examples",
                                     row_value=f.ExampleRowForm.example)
        if examples is not None:
            if examples == current:
                messages.info(request, "No changes: no new version was created.")
                return after_save(model_admin, request, example_set)
            try:
                version = library.example_set_version_create(
                    example_set=example_set, examples=examples,
                    message=form.cleaned_data.get("message") or "", author=request.user.get_username(),
                )
            except DomainError as exc:
                add_row_error(form, formset, exc, positions, list_name="examples",
                              field_map=f.EXAMPLE_ERROR_FIELDS)
            else:
                summary = (f"{example_set}: created version {version.number} with "
                           f"{len(examples)} example{'s' if len(examples) != 1 else ''}.")
                model_admin.log_change(request, example_set, summary)
                messages.success(request, summary)
                return after_save(model_admin, request, example_set)

    fieldsets = [("New version", {"fields": ["message"] + (["examples_json"] if mode == "json" else [])})]
    change_url = admin_url(model_admin, "change", example_set.pk)
    extra = {
        "mode": mode,
        "formset": formset,
        "latest": latest,
        "example_count": len(current),
        "rows_url": change_url + "?mode=rows",
        "json_url": change_url + "?mode=json",
        "rows_allowed": rows_allowed,
        "version_rows": [
            {"version": v, "url": reverse("admin:prompts_app_examplesetversion_change", args=[v.pk]),
             "count": v.example_count, "approved": v.approved_count}
            for v in versions
        ],
    }
    title = f"Edit example set {example_set.name}" if can_change else f"View example set {example_set.name}"
    return render_form_page(
        model_admin, request, form=form, fieldsets=fieldsets, obj=example_set, title=title,
        formsets=[formset] if formset is not None else [], extra_context=extra,
    )
