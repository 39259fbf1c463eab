"""Example sets: the editor (one row per example, or the whole list as JSON)
that saves each change as a new version through
`services.library.example_set_version_create`, and the example browser
(EXAMPLES_PER_PAGE a page, searchable by input values or output text) whose per-row
approve toggle saves a new version through
`services.library.example_set_examples_approve`. Versions and their examples
are read-only; a version's page pages through its examples the same way.
Adding a set with first examples is one `services.library.example_set_create`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

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
    link,
)
from prompts_app.admin.forms import example_sets as f
from prompts_app.errors import DomainError
from prompts_app.models import (
    ExampleSet,
    ExampleSetVersion,
)
from prompts_app.selectors.library import example_list, example_set_version_list_counted
from prompts_app.services import library

EXAMPLES_PER_PAGE = 50

# --- example sets ----------------------------------------------------------------


@admin.register(ExampleSet)
class ExampleSetAdmin(NoDeleteAdmin):
    list_display = ["name", "project", "latest_display", "description", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def add_view(self, request, form_url="", extra_context=None):
        return example_set_add(self, request)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="%s_%s_approve" % info),
            *super().get_urls(),
        ]

    def approve_view(self, request, object_id):
        return example_approve_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return example_set_change(self, request, object_id)

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"


@admin.register(ExampleSetVersion)
class ExampleSetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project_display", "number", "author", "created_at", "message"]
    list_filter = ["example_set__project"]
    search_fields = ["example_set__name", "message", "author"]
    list_select_related = ["example_set__project"]
    fields = ["example_set_link", "number", "author", "created_at", "message", "content_hash"]
    readonly_fields = fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, unquote(object_id))
        extra = {}
        if version is not None:
            extra["browser"] = example_browser(request, version=version)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

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
        for ex in example_list(version=version)
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
            example_set = library.example_set_create(
                project=data["project"], name=data["name"], description=data.get("description") or "",
                examples=data.get("examples_json") or None,
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
    versions = list(example_set_version_list_counted(example_set=example_set))
    latest = versions[0] if versions else None
    current = _examples_of(latest)
    mode, rows_allowed = editor_mode(request, count=len(current), formset_class=f.ExampleRowFormSet)
    if mode == "json" and (request.POST.get("mode") or request.GET.get("mode")) != "json":
        mode = "browse"  # a large set opens in the paged browser, not as one giant JSON list

    form = f.ExampleSetVersionForm(request.POST or None, initial={"examples_json": as_json_text(current)})
    formset = None
    if mode == "rows":
        formset = f.ExampleRowFormSet(
            request.POST or None, prefix="ex", initial=[_row_initial(e) for e in current]
        )
    if request.method == "POST" and mode == "browse":
        return HttpResponseRedirect(admin_url(model_admin, "change", example_set.pk))
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
    extra = {}
    if mode == "browse":
        fieldsets = []
        extra = {"show_save": False, "show_save_and_continue": False}
    extra |= {
        "mode": mode,
        "browser": example_browser(
            request, version=latest,
            approve_url=admin_url(model_admin, "approve", example_set.pk) if can_change else None,
        ) if latest is not None else None,
        "formset": formset,
        "latest": latest,
        "example_count": len(current),
        "rows_url": change_url + "?mode=rows",
        "json_url": change_url + "?mode=json",
        "browse_url": change_url + "?mode=browse",
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


# --- the example browser: paged, searchable, approve per row -------------------------


def example_browser(request, *, version, approve_url: str | None = None) -> dict[str, Any]:
    """One page (EXAMPLES_PER_PAGE) of a version's examples matching the `q`
    search, for the browser section of the example-set and version pages.
    `approve_url` (the latest version, someone who may change it) adds the
    per-row approve toggle."""
    search = (request.GET.get("q") or "").strip()[:200]
    paginator = Paginator(example_list(version=version, search=search), EXAMPLES_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))

    def page_url(number):
        query = {key: value for key, value in (("mode", request.GET.get("mode")), ("q", search),
                                               ("page", number)) if value}
        return "?" + urlencode(query) + "#example-browser"

    return {
        "version": version,
        "search": search,
        "page": page,
        "total": paginator.count,
        "page_links": [
            {"number": n, "url": page_url(n), "current": n == page.number}
            for n in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
        ] if paginator.num_pages > 1 else [],
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else None,
        "next_url": page_url(page.next_page_number()) if page.has_next() else None,
        "mode": request.GET.get("mode") or "",
        "approve_url": approve_url,
        "rows": [
            {
                "example": example,
                "number": example.position + 1,
                "input_text": example.input if isinstance(example.input, str)
                else json.dumps(example.input, ensure_ascii=False),
                "tags": ", ".join(example.tags or []),
            }
            for example in page.object_list
        ],
    }


def example_approve_view(model_admin, request, object_id):
    """POST only: approve or unapprove one example of the latest version (a new
    version, through the service), then back to the same page of the browser."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    example_set, missing, _ = change_page_object(model_admin, request, object_id)
    if missing:
        return missing
    back = {key: request.POST.get(key) for key in ("mode", "q", "page") if request.POST.get(key)}
    target = admin_url(model_admin, "change", example_set.pk) + (
        "?" + urlencode(back) if back else "") + "#example-browser"
    try:
        position = int(request.POST.get("position", ""))
        base_version = int(request.POST.get("base_version", ""))
    except ValueError:
        messages.error(request, "Nothing was approved: the form lacked the example or the version.")
        return HttpResponseRedirect(target)
    approved = request.POST.get("approved") == "1"
    try:
        version = library.example_set_examples_approve(
            example_set=example_set, base_version=base_version, approvals={position: approved},
            author=request.user.get_username(),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(target)
    if version is None:
        messages.info(request, f"Example #{position + 1} was already {'approved' if approved else 'not approved'}: "
                               "no new version was created.")
    else:
        summary = f"{example_set}: created version {version.number} ({version.message})."
        model_admin.log_change(request, example_set, summary)
        messages.success(request, summary)
    return HttpResponseRedirect(target)
