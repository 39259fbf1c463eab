"""The admin's custom pages: prompt edit (a new version per save), diff,
preview, promote; API-key creation; the example-set editor; the eval-suite
editor, the eval-run page and the eval sections of the version page; the
ledger and fine-tuning advice page, the what-if calculator and alert
acknowledgement.

Each view parses a form, calls one service or selector, and renders. The
business rules live in `services` / `selectors`; their DomainError and
RenderError come back as form errors, and a rejected save stores nothing.
ModelAdmins in `admin.py` wire these in through `get_urls()` / `change_view`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from promptledger import rendering
from promptledger.rendering import RenderError
from prompts_app import charts
from prompts_app import forms as f
from prompts_app.errors import DomainError, NotFound
from prompts_app.lib import advisor
from prompts_app.lib.advisor import Verdict
from prompts_app.models import (
    AdviceState,
    AdvisorSettings,
    Alert,
    EvalRun,
    EvalSuite,
    Label,
    Prompt,
    PromptVersion,
)
from prompts_app.selectors.evals import eval_run_latest, eval_run_list
from prompts_app.selectors.ledger import prompt_ledger
from prompts_app.selectors.library import (
    DIFF_SECTIONS,
    draft_render,
    label_history,
    label_list,
    prompt_version_diff,
    prompt_version_get,
    prompt_version_list,
    render_payload,
    resolve_payload,
)
from prompts_app.services import advice as advising
from prompts_app.services import alerts, evals, library

# --- shared helpers ----------------------------------------------------------


def admin_url(model_admin, name: str, *args) -> str:
    opts = model_admin.opts
    return reverse(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args)


def _version_url(version: PromptVersion) -> str:
    return reverse("admin:prompts_app_promptversion_change", args=[version.pk])


def _get_or_404(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        return None, model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    return obj, None


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _page_context(model_admin, request, *, title: str, obj=None, **extra) -> dict[str, Any]:
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


def _after_save(model_admin, request, obj, anchor: str = "") -> HttpResponseRedirect:
    """Django's convention: "Save and continue editing" stays, "Save" goes to the list."""
    if "_continue" in request.POST:
        return HttpResponseRedirect(admin_url(model_admin, "change", obj.pk) + anchor)
    return HttpResponseRedirect(admin_url(model_admin, "changelist"))


def render_error_details(exc: Exception) -> dict[str, Any]:
    """An error from a render, as the preview panels show it."""
    details = getattr(exc, "details", None)
    return {
        "code": getattr(exc, "code", "invalid"),
        "message": f.render_error_text(exc),
        "details_json": (
            json.dumps(details, indent=2, ensure_ascii=False, default=str)
            if isinstance(details, dict) and details else None
        ),
    }


def variable_names(kind: str, body: Any, schema: dict | None) -> list[str]:
    """The variables a person fills in for a preview: the ones the template uses,
    then any more the version's schema declares."""
    names: list[str] = []
    try:
        found = rendering.infer_variables(kind, body)
    except RenderError:
        found = []
    for name in list(found or []):
        if name not in names:
            names.append(name)
    properties = (schema or {}).get("properties", {}) if isinstance(schema, dict) else {}
    for name in properties if isinstance(properties, dict) else []:
        if name not in names:
            names.append(name)
    return names


def _version_body(prompt: Prompt, version: PromptVersion):
    return version.messages if prompt.kind == Prompt.KIND_CHAT else version.template


def _custom_schema(prompt: Prompt, version: PromptVersion | None) -> dict | None:
    """The version's variables schema when a person wrote it (it differs from what
    the template implies), so an admin edit keeps it instead of re-inferring."""
    if version is None or not version.variables:
        return None
    try:
        inferred = rendering.infer_schema(
            prompt.kind, _version_body(prompt, version), version.template_options
        )
    except (RenderError, DomainError):
        return version.variables
    return None if inferred == version.variables else version.variables


def _example_prefill(version: PromptVersion | None) -> dict[str, Any]:
    """The first example of the pinned example set, when its input is variables."""
    if version is None or version.example_set_version_id is None:
        return {}
    first = version.example_set_version.examples.order_by("position").first()
    if first is None or not isinstance(first.input, dict):
        return {}
    return first.input


def preview_form_for(prompt: Prompt, version: PromptVersion, version_numbers: list[int], data=None):
    names = variable_names(prompt.kind, _version_body(prompt, version), version.variables)
    example = _example_prefill(version)
    initial: dict[str, Any] = {"version": version.number}
    for name in names:
        if name in example:
            initial[f.PreviewForm.variable_field_name(name)] = f.variable_field_initial(example[name])
    return f.PreviewForm(
        data,
        initial=initial,
        version_numbers=version_numbers,
        variable_names=names,
        schema=version.variables,
    )


# --- prompts: add and change --------------------------------------------------

PROMPT_CONTENT_FIELDSET = (
    "Content — saving a change creates the next version",
    {"fields": ["base_version", "body", "message", "model_config", "example_set_version", "variables_schema"]},
)


def prompt_add(model_admin, request):
    _require(model_admin.has_add_permission(request))
    form = f.PromptAddForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                prompt = library.prompt_create(**form.prompt_kwargs())
                version = library.prompt_version_create(
                    prompt=prompt, author=request.user.get_username(), **form.version_kwargs()
                )
        except (DomainError, RenderError) as exc:
            f.add_service_error(form, exc, f.VERSION_ERROR_FIELDS)
        else:
            model_admin.log_addition(request, prompt, [{"added": {}}])
            messages.success(request, f"Created prompt {prompt} with version {version.number}.")
            return HttpResponseRedirect(admin_url(model_admin, "change", prompt.pk))
    fieldsets = [
        (None, {"fields": ["project", "name", "kind", "description", "tags", "protect_production"]}),
        ("First version", {"fields": ["body", "message", "model_config", "example_set_version",
                                      "variables_schema"]}),
    ]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add prompt")


def prompt_change(model_admin, request, object_id):
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    can_change = model_admin.has_change_permission(request, prompt)
    _require(can_change if request.method == "POST" else model_admin.has_view_or_change_permission(request, prompt))

    versions = list(prompt_version_list(prompt=prompt).prefetch_related("labels"))
    latest = versions[0] if versions else None
    form = f.PromptChangeForm(
        request.POST or None,
        prompt=prompt,
        latest=latest,
        custom_schema=_custom_schema(prompt, latest),
        initial={"base_version": prompt.latest_version_number},
    )
    names = (variable_names(prompt.kind, _version_body(prompt, latest), latest.variables)
             if latest is not None else [])
    if latest is not None:
        # Set before validation: bound fields copy the help text when first built.
        # Escaped, as the admin's fieldset template prints help text as HTML.
        form.fields["body"].help_text += (
            f" Variables in v{latest.number}: {escape(', '.join(names))}." if names
            else f" v{latest.number} uses no variables."
        )
    draft = None
    if request.method == "POST" and form.is_valid():
        if "_preview" in request.POST:
            try:
                draft = draft_render(**form.draft_kwargs())
            except (DomainError, RenderError) as exc:
                draft = {"error": render_error_details(exc)}
        else:
            saved = _prompt_save(model_admin, request, prompt, form)
            if saved is not None:
                return saved

    fieldsets = [
        PROMPT_CONTENT_FIELDSET,
        ("Details", {"fields": ["description", "tags", "protect_production"]}),
        ("Draft preview", {"fields": ["preview_variables"],
                           "description": 'Render the text above without saving it: fill the '
                                          'variables and press "Preview draft".'}),
    ]
    extra = prompt_page_context(model_admin, request, prompt, versions)
    extra.update(draft=draft, latest=latest, variables_found=names)
    title = f"Edit prompt {prompt.name}" if can_change else f"View prompt {prompt.name}"
    return render_form_page(
        model_admin, request, form=form, fieldsets=fieldsets, obj=prompt, title=title, extra_context=extra
    )


def _prompt_save(model_admin, request, prompt: Prompt, form: f.PromptChangeForm):
    """Save a valid change form: the next version if the content changed, then the
    metadata. Both in one transaction, so a rejected template stores nothing."""
    content_changed = form.content_changed()
    metadata = form.metadata_changed()
    if content_changed:
        base = form.cleaned_data.get("base_version")
        current = prompt.latest_version_number
        if base is not None and base != current:
            # Someone saved a version after this page was opened: saving now would
            # silently drop their change. Say so once; a second save goes through.
            form.data = form.data.copy()
            form.data["base_version"] = str(current)
            form.add_error(
                "body",
                f"Version {current} was saved after you opened this page (you started from "
                f"v{base}). Compare them in the diff page; press Save again to create "
                f"v{current + 1} from your text anyway.",
            )
            return None
    if not content_changed and not metadata:
        messages.info(request, "No changes: nothing was saved.")
        return _after_save(model_admin, request, prompt)
    try:
        with transaction.atomic():
            version = None
            if content_changed:
                version = library.prompt_version_create(
                    prompt=prompt, author=request.user.get_username(), **form.version_kwargs()
                )
            if metadata:
                library.prompt_update(prompt=prompt, **metadata)
    except (DomainError, RenderError) as exc:
        prompt.refresh_from_db()  # the rollback undid the row; drop what the services set in memory
        f.add_service_error(form, exc, f.VERSION_ERROR_FIELDS)
        return None
    parts = []
    if version is not None:
        parts.append(f"created version {version.number}")
    if metadata:
        parts.append("updated " + ", ".join(name.replace("_", " ") for name in metadata))
    summary = f"{prompt}: " + " and ".join(parts) + "."
    model_admin.log_change(request, prompt, summary)
    messages.success(request, summary)
    return _after_save(model_admin, request, prompt, anchor="#versions" if version else "")


def prompt_page_context(model_admin, request, prompt: Prompt, versions: list[PromptVersion]) -> dict:
    """The read-only sections under the prompt form: history, labels, preview."""
    numbers = [v.number for v in versions]
    runs = runs_by_version(prompt)
    rows = []
    for index, version in enumerate(versions):
        previous = versions[index + 1] if index + 1 < len(versions) else None
        latest_run, costed_run = runs.get(version.pk, (None, None))
        rows.append(
            {
                "version": version,
                "url": _version_url(version),
                "labels": sorted(label.name for label in version.labels.all()),
                "eval": eval_badge(latest_run),
                "cost": cost_per_call(static_of(costed_run)),
                "diff_url": (
                    admin_url(model_admin, "diff", prompt.pk) + f"?from={previous.number}&to={version.number}"
                    if previous else None
                ),
                "promote_url": admin_url(model_admin, "promote", prompt.pk) + f"?version={version.number}",
                "preview_url": admin_url(model_admin, "preview", prompt.pk) + f"?version={version.number}",
            }
        )
    context = {
        "version_rows": rows,
        "labels": list(label_list(prompt=prompt)),
        "label_moves": list(label_history(prompt=prompt)),
        "diff_url": admin_url(model_admin, "diff", prompt.pk),
        "preview_url": admin_url(model_admin, "preview", prompt.pk),
        "promote_url": admin_url(model_admin, "promote", prompt.pk),
        "can_promote": model_admin.has_change_permission(request, prompt),
        "suite_url": eval_suite_url(prompt),
        "runs_url": eval_runs_url(prompt),
        "advice_url": advice_url(prompt),
        "advice_badge": verdict_badge(getattr(AdviceState.objects.filter(prompt=prompt).first(), "verdict", None)),
    }
    if versions:
        context["preview_form"] = preview_form_for(prompt, versions[0], numbers)
    return context


# --- diff -----------------------------------------------------------------------

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def unified_rows(text: str) -> list[dict[str, str]]:
    """A unified diff as lines tagged for colouring."""
    rows = []
    for index, line in enumerate(text.split("\n")):
        if index < 2 and line.startswith(("--- ", "+++ ")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        rows.append({"kind": kind, "text": line})
    return rows


def side_by_side_rows(text: str) -> list[dict[str, Any]]:
    """A unified diff as side-by-side rows: removed lines face the lines that
    replaced them, with line numbers on both sides."""
    rows: list[dict[str, Any]] = []
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []
    old_no = new_no = 0

    def flush():
        for i in range(max(len(removed), len(added))):
            left = removed[i] if i < len(removed) else (None, None)
            right = added[i] if i < len(added) else (None, None)
            rows.append(
                {
                    "kind": "change",
                    "old_no": left[0], "old": left[1], "old_kind": "del" if left[1] is not None else "empty",
                    "new_no": right[0], "new": right[1], "new_kind": "add" if right[1] is not None else "empty",
                }
            )
        removed.clear()
        added.clear()

    for index, line in enumerate(text.split("\n")):
        if index < 2 and line.startswith(("--- ", "+++ ")):
            continue
        match = _HUNK.match(line)
        if match:
            flush()
            old_no, new_no = int(match.group(1)), int(match.group(2))
            # An empty side's hunk starts at 0 but the next line on it is still 1.
            old_no, new_no = max(old_no, 1), max(new_no, 1)
            rows.append({"kind": "hunk", "text": line})
        elif line.startswith("-"):
            removed.append((old_no, line[1:]))
            old_no += 1
        elif line.startswith("+"):
            added.append((new_no, line[1:]))
            new_no += 1
        else:
            flush()
            content = line[1:]
            rows.append({"kind": "ctx", "old_no": old_no, "old": content, "new_no": new_no, "new": content,
                         "old_kind": "ctx", "new_kind": "ctx"})
            old_no += 1
            new_no += 1
    flush()
    return rows


SECTION_TITLES = {
    "template": "Template",
    "messages": "Messages",
    "template_options": "Whitespace options",
    "examples": "Few-shot examples",
    "model_config": "Model config",
    "variables": "Variables schema",
}


def prompt_diff(model_admin, request, object_id):
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    _require(model_admin.has_view_or_change_permission(request, prompt))
    numbers = list(prompt_version_list(prompt=prompt).values_list("number", flat=True))
    change_url = admin_url(model_admin, "change", prompt.pk)
    if not numbers:
        messages.warning(request, f"{prompt} has no versions yet: nothing to compare.")
        return redirect(change_url)
    latest = numbers[0]
    data = {
        "from": request.GET.get("from") or str(numbers[1] if len(numbers) > 1 else latest),
        "to": request.GET.get("to") or str(latest),
        "mode": request.GET.get("mode") or f.DiffForm.MODE_SIDE,
    }
    form = f.DiffForm(data, version_numbers=numbers)
    diff = error = None
    sections = []
    if form.is_valid():
        try:
            diff = prompt_version_diff(
                prompt=prompt, from_number=form.cleaned_data["from"], to_number=form.cleaned_data["to"]
            )
        except DomainError as exc:
            error = exc.message
        else:
            mode = form.cleaned_data.get("mode") or f.DiffForm.MODE_SIDE
            for name, text in diff["sections"].items():
                if not text:
                    continue
                rows = side_by_side_rows(text) if mode == f.DiffForm.MODE_SIDE else unified_rows(text)
                sections.append({"name": name, "title": SECTION_TITLES.get(name, name), "rows": rows})
    versions = {}
    if diff is not None:
        for number in (diff["from"], diff["to"]):
            versions[number] = prompt_version_get(prompt=prompt, number=number)
    context = _page_context(
        model_admin, request, title=f"Diff of {prompt.name}", obj=prompt,
        form=form, diff=diff, error=error, sections=sections,
        from_version=versions.get(diff["from"]) if diff else None,
        to_version=versions.get(diff["to"]) if diff else None,
        unchanged=[SECTION_TITLES[n] for n in DIFF_SECTIONS
                   if diff and n not in diff["changed"] and _section_applies(prompt, n)],
        mode=form.cleaned_data.get("mode") if form.is_valid() else f.DiffForm.MODE_SIDE,
        change_url=change_url,
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/diff.html", context)


def _section_applies(prompt: Prompt, section: str) -> bool:
    if section == "template":
        return prompt.kind == Prompt.KIND_TEXT
    if section == "messages":
        return prompt.kind == Prompt.KIND_CHAT
    return True


# --- preview ---------------------------------------------------------------------


def prompt_preview(model_admin, request, object_id):
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # A preview renders and stores nothing, so viewing rights are enough.
    _require(model_admin.has_view_or_change_permission(request, prompt))
    versions = list(prompt_version_list(prompt=prompt))
    change_url = admin_url(model_admin, "change", prompt.pk)
    if not versions:
        messages.warning(request, f"{prompt} has no versions yet: write a template first.")
        return redirect(change_url)
    numbers = [v.number for v in versions]
    wanted = request.POST.get("version") or request.GET.get("version") or numbers[0]
    version = next((v for v in versions if str(v.number) == str(wanted)), versions[0])
    form = preview_form_for(prompt, version, numbers, data=request.POST or None)
    result = error = None
    if request.method == "POST" and form.is_valid():
        try:
            payload = resolve_payload(prompt=prompt, version=version, label=None)
            result = render_payload(payload, form.variables())
        except (DomainError, RenderError) as exc:
            error = render_error_details(exc)
    context = _page_context(
        model_admin, request, title=f"Preview {prompt.name} v{version.number}", obj=prompt,
        form=form, version=version, result=result, error=error, change_url=change_url,
        result_heading=f"Rendered v{version.number}",
        version_url=_version_url(version), preview_url=admin_url(model_admin, "preview", prompt.pk),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/preview.html", context)


# --- promote -------------------------------------------------------------------------


def prompt_promote(model_admin, request, object_id):
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    _require(model_admin.has_change_permission(request, prompt))
    versions = list(prompt_version_list(prompt=prompt))
    change_url = admin_url(model_admin, "change", prompt.pk)
    if not versions:
        messages.warning(request, f"{prompt} has no versions yet: nothing to promote.")
        return redirect(change_url)
    numbers = [v.number for v in versions]
    labels = list(label_list(prompt=prompt))
    form = f.PromoteForm(
        request.POST or None,
        initial={"version": request.GET.get("version") or numbers[0],
                 "label": request.GET.get("label") or "production"},
        version_numbers=numbers,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        before = next((label for label in labels if label.name == data["label"]), None)
        try:
            label = library.label_move(
                prompt=prompt,
                label=data["label"],
                version_number=data["version"],
                reason=data.get("reason") or "",
                actor=request.user.get_username(),
                force=bool(data.get("force")),
            )
        except DomainError as exc:
            # A gate refusal names the version, but it is about the whole move:
            # show it at the top of the form, where it is read first.
            f.add_service_error(form, exc, {"label": "label", "reason": "reason"})
        else:
            if before is not None and before.version_id == label.version_id:
                messages.info(request, f"'{label.name}' already points at v{label.version.number}: "
                                       "nothing moved.")
            else:
                summary = f"Moved '{label.name}' of {prompt} to v{label.version.number}"
                if before is not None:
                    summary += f" (was v{before.version.number})"
                model_admin.log_change(request, prompt, summary + ".")
                messages.success(request, summary + ".")
            return HttpResponseRedirect(change_url + "#labels")
    chosen = form.data.get("version") if form.is_bound else form.initial.get("version")
    version = next((v for v in versions if str(v.number) == str(chosen)), versions[0])
    context = _page_context(
        model_admin, request, title=f"Promote {prompt.name}", obj=prompt,
        form=form, labels=labels, label_moves=list(label_history(prompt=prompt)),
        version=version, version_url=_version_url(version), change_url=change_url,
        protected=prompt.protect_production,
        version_eval=eval_badge(eval_run_latest(version=version)),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/promote.html", context)


# --- projects and API keys ----------------------------------------------------------------


def project_add(model_admin, request):
    """Create a project through the service (which also seeds its price sheet)."""
    _require(model_admin.has_add_permission(request))
    form = f.ProjectAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project, created = library.project_get_or_create(name=form.cleaned_data["name"])
        except DomainError as exc:
            f.add_service_error(form, exc, {"project": "name", "name": "name"})
        else:
            if not created:
                form.add_error("name", f"A project named '{project.name}' already exists.")
            else:
                model_admin.log_addition(request, project, [{"added": {}}])
                messages.success(request, f"Created project {project}. Add a description below if you like.")
                return HttpResponseRedirect(admin_url(model_admin, "change", project.pk))
    fieldsets = [(None, {"fields": ["name"]})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add project",
                            extra_context={"show_save_and_continue": False})



def api_key_add(model_admin, request):
    """Create a key through the service and show its raw value once, in this
    response only: it is never stored, redirected through, or shown again."""
    _require(model_admin.has_add_permission(request))
    form = f.ApiKeyCreateForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = library.api_key_create(
                project=form.cleaned_data["project"],
                scopes=list(form.cleaned_data["scopes"]),
                name=form.cleaned_data.get("name") or "",
            )
        except DomainError as exc:
            f.add_service_error(form, exc, {"scopes": "scopes", "name": "name", "project": "project"})
        else:
            model_admin.log_addition(request, key, [{"added": {}}])
            messages.success(
                request,
                format_html(
                    "Created API key “{}” for {}. Copy it now — it is shown only once: "
                    '<code class="pl-secret">{}</code>',
                    key.name or key.prefix, key.project, raw,
                ),
            )
            context = _page_context(
                model_admin, request, title="API key created", obj=key, key=key, raw_key=raw,
                changelist_url=admin_url(model_admin, "changelist"),
                change_url=admin_url(model_admin, "change", key.pk),
            )
            response = TemplateResponse(request, "admin/prompts_app/apikey/created.html", context)
            response["Cache-Control"] = "no-store"
            return response
    fieldsets = [(None, {"fields": ["project", "name", "scopes"],
                         "description": "The key is generated for you and shown once after saving; "
                                        "only its hash is stored."})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add API key",
                            extra_context={"show_save_and_continue": False})


# --- example sets -----------------------------------------------------------------------

MAX_ROWS = 100  # beyond this the editor opens as one JSON list


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
    _require(model_admin.has_add_permission(request))
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
            f.add_service_error(form, exc, f.EXAMPLE_ERROR_FIELDS)
        else:
            model_admin.log_addition(request, example_set, [{"added": {}}])
            messages.success(request, f"Created example set {example_set}.")
            return HttpResponseRedirect(admin_url(model_admin, "change", example_set.pk))
    fieldsets = [(None, {"fields": ["project", "name", "description", "examples_json", "message"]})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add example set")


def example_set_change(model_admin, request, object_id):
    example_set, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    can_change = model_admin.has_change_permission(request, example_set)
    _require(can_change if request.method == "POST"
             else model_admin.has_view_or_change_permission(request, example_set))
    versions = list(
        example_set.versions.annotate(
            example_count=Count("examples"),
            approved_count=Count("examples", filter=Q(examples__approved=True)),
        ).order_by("-number")
    )
    latest = versions[0] if versions else None
    current = _examples_of(latest)
    mode = request.POST.get("mode") or request.GET.get("mode")
    if mode not in ("rows", "json"):
        mode = "rows" if len(current) <= MAX_ROWS else "json"
    if mode == "rows" and len(current) + f.ExampleRowFormSet.extra > f.ExampleRowFormSet.max_num:
        mode = "json"

    form = f.ExampleSetVersionForm(request.POST or None, initial={"examples_json": f.as_json_text(current)})
    formset = None
    if mode == "rows":
        formset = f.ExampleRowFormSet(
            request.POST or None, prefix="ex", initial=[_row_initial(e) for e in current]
        )
    if request.method == "POST":
        examples, positions = None, []
        if mode == "json":
            if form.is_valid():
                if form.cleaned_data.get("examples_json") is None:
                    form.add_error("examples_json", "Give the examples as a JSON list ([] for none).")
                else:
                    examples = form.cleaned_data["examples_json"]
                    positions = list(range(len(examples)))
        elif form.is_valid() and formset.is_valid():
            examples = []
            deleted = {id(row) for row in formset.deleted_forms}
            for index, row in enumerate(formset.forms):
                if not row.has_changed() and index >= formset.initial_form_count():
                    continue  # an untouched blank row
                if id(row) in deleted:
                    continue
                examples.append(row.example())
                positions.append(index)
        if examples is not None:
            if examples == current:
                messages.info(request, "No changes: no new version was created.")
                return _after_save(model_admin, request, example_set)
            try:
                version = library.example_set_version_create(
                    example_set=example_set, examples=examples,
                    message=form.cleaned_data.get("message") or "", author=request.user.get_username(),
                )
            except DomainError as exc:
                _example_error(form, formset, exc, positions)
            else:
                summary = (f"{example_set}: created version {version.number} with "
                           f"{len(examples)} example{'s' if len(examples) != 1 else ''}.")
                model_admin.log_change(request, example_set, summary)
                messages.success(request, summary)
                return _after_save(model_admin, request, example_set)

    fieldsets = [("New version", {"fields": ["message"] + (["examples_json"] if mode == "json" else [])})]
    change_url = admin_url(model_admin, "change", example_set.pk)
    extra = {
        "mode": mode,
        "formset": formset,
        "latest": latest,
        "example_count": len(current),
        "rows_url": change_url + "?mode=rows",
        "json_url": change_url + "?mode=json",
        "rows_allowed": len(current) + f.ExampleRowFormSet.extra <= f.ExampleRowFormSet.max_num,
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


_EXAMPLE_FIELD = re.compile(r"^examples\[(\d+)\](?:\.(\w+))?")


def _example_error(form, formset, exc: DomainError, positions: list[int]) -> None:
    """Put a service error about examples[i].field on the row the person sees."""
    match = _EXAMPLE_FIELD.match(exc.field or "")
    if formset is not None and match and int(match.group(1)) < len(positions):
        row = formset.forms[positions[int(match.group(1))]]
        name = match.group(2)
        row.add_error(name if name in row.fields else None, exc.message)
        return
    f.add_service_error(form, exc, f.EXAMPLE_ERROR_FIELDS)


# --- evals: figures as a person reads them -------------------------------------------
# The run's summary holds exact decimal strings (see evals.static_checks and
# evals._model_summary); these only write them out with their units.


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(number: Decimal, min_places: int = 0) -> str:
    """|number| written out in full: no exponent, no trailing zeros past
    `min_places`, thousands separated."""
    whole, _, fraction = format(abs(number).normalize(), "f").partition(".")
    fraction = fraction.ljust(min_places, "0")
    whole = f"{int(whole):,}"
    return f"{whole}.{fraction}" if fraction else whole


def _sign(number: Decimal) -> str:
    return "+" if number > 0 else "-" if number < 0 else "±"


def money(value) -> str | None:
    """Dollars at full precision: '0.0004630000' → '$0.000463', '1.5' → '$1.50'."""
    number = _decimal(value)
    if number is None:
        return None
    return ("-" if number < 0 else "") + "$" + _plain(number, 2)


def signed_money(value) -> str | None:
    number = _decimal(value)
    return None if number is None else f"{_sign(number)}${_plain(number, 2)}"


def token_count(value, *, signed: bool = False) -> str | None:
    number = _decimal(value)
    if number is None:
        return None
    return f"{_sign(number) if signed else ''}{_plain(number, 2)} tokens"


def percent(rate) -> str | None:
    """A rate from the summary ('0.7500') as a percentage ('75%')."""
    number = _decimal(rate)
    return None if number is None else f"{_plain(number * 100)}%"


def milliseconds(value) -> str | None:
    return None if value is None else f"{int(value):,} ms"


def _seconds(start, end) -> str | None:
    if start is None or end is None:
        return None
    return f"{(end - start).total_seconds():,.1f} s"


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


# --- evals: runs as badges, panels and comparisons -------------------------------------

STATUS_HINTS = {
    EvalRun.QUEUED: "waiting for a worker",
    EvalRun.RUNNING: "in progress",
    EvalRun.PASSED: "every case rendered and passed",
    EvalRun.FAILED: "a case failed an assertion or did not render",
    EvalRun.ERROR: "the provider or the run itself failed",
}
COMPARE_MODES = {"production": "production", "previous": "previous version"}


def eval_run_url(run: EvalRun) -> str:
    return reverse("admin:prompts_app_evalrun_change", args=[run.pk])


def eval_runs_url(prompt: Prompt) -> str:
    return reverse("admin:prompts_app_evalrun_changelist") + f"?prompt_version__prompt__id__exact={prompt.pk}"


def eval_suite_url(prompt: Prompt) -> str:
    """The prompt's suite, or the page that makes one for it."""
    try:
        suite = prompt.eval_suite
    except EvalSuite.DoesNotExist:
        return reverse("admin:prompts_app_evalsuite_add") + f"?prompt={prompt.pk}"
    return reverse("admin:prompts_app_evalsuite_change", args=[suite.pk])


def can_rerun(request) -> bool:
    # A re-run is asked for on a prompt's behalf: whoever may edit the prompt may ask.
    return request.user.has_perm("prompts_app.change_prompt")


def static_of(run: EvalRun | None) -> dict | None:
    return (run.summary or {}).get("static") if run is not None else None


def eval_badge(run: EvalRun | None) -> dict | None:
    """A run as a coloured status badge linking to its page."""
    if run is None:
        return None
    title = (f"Run #{run.pk} ({run.trigger}, {_local(run.created_at)}): {run.status} — "
             f"{STATUS_HINTS.get(run.status, '')}")
    rate = percent(((run.summary or {}).get("model") or {}).get("pass_rate"))
    if rate is not None:
        title += f"; pass rate {rate}"
    return {"run": run, "status": run.status, "url": eval_run_url(run), "title": title}


def runs_by_version(prompt: Prompt) -> dict[int, tuple[EvalRun, EvalRun | None]]:
    """Per version id: its latest run, and its latest run that has static checks
    (a queued run has none yet, so the cost shown is the last one computed)."""
    found: dict[int, tuple[EvalRun, EvalRun | None]] = {}
    for run in eval_run_list(prompt=prompt).defer("cases"):  # newest first
        latest, costed = found.get(run.prompt_version_id, (run, None))
        if costed is None and "static" in (run.summary or {}):
            costed = run
        found[run.prompt_version_id] = (latest, costed)
    return found


def cost_per_call(static: dict | None) -> dict | None:
    """The static checks' estimated cost per call with its unit, or why there is none."""
    if not static:
        return None
    model = static.get("model")
    cost = money(static.get("est_cost_per_call"))
    if cost is not None:
        return {
            "text": f"{cost} / call",
            "estimated": True,
            "title": f"{model}: mean input tokens of the suite's cases at the input price, plus the "
            "expected outputs' tokens at the output price (per 1M-token list prices in force).",
        }
    if not model:
        text, title = "no model", "Name a model in the version's model config, or give the eval suite a provider."
    elif not static.get("priced"):
        text, title = "not priced", f"{model} has no price in this project's price sheet: add one under Model prices."
    else:
        text, title = "no case rendered", "No eval case rendered, so there are no tokens to price."
    return {"text": text, "estimated": False, "title": title}


def _static_view(static: dict) -> dict:
    compared = []
    for name, missing in (("previous", "no previous version"), ("production", "no production label")):
        other = (static.get("compared") or {}).get(name)
        if other is None:
            compared.append({"name": name, "missing": missing})
            continue
        if other["version"] == static.get("version"):
            compared.append({"name": name, "missing": f"v{other['version']} is the {name} version itself"})
            continue
        compared.append(
            {
                "name": name,
                "version": other["version"],
                "cost": money(other.get("est_cost_per_call")),
                "tokens": token_count(other.get("avg_input_tokens")),
                "delta_cost": signed_money(other.get("delta_est_cost_per_call")),
                "delta_tokens": token_count(other.get("delta_avg_input_tokens"), signed=True),
            }
        )
    cases = static.get("cases") or []
    return {
        "model": static.get("model"),
        "cases_rendered": static.get("cases_rendered", 0),
        "cases_total": len(cases),
        "failures": [case for case in cases if not case.get("renders")],
        "avg_input_tokens": token_count(static.get("avg_input_tokens")),
        "cost": cost_per_call(static),
        "compared": compared,
    }


def _model_view(model: dict) -> dict:
    return {
        "calls": model.get("calls", 0),
        "passed": model.get("passed", 0),
        "failed": model.get("failed", 0),
        "errors": model.get("errors", 0),
        "pass_rate": percent(model.get("pass_rate")),
        "median_latency": milliseconds(model.get("median_latency_ms")),
        "total_cost": money(model.get("total_cost")),
        "avg_input_tokens": token_count(model.get("avg_input_tokens")),
        "avg_output_tokens": token_count(model.get("avg_output_tokens")),
        "cases": [
            {
                "name": case["name"],
                "runs": case.get("runs", 0),
                "passed": case.get("passed", 0),
                "pass_rate": percent(case.get("pass_rate")),
                "format_adherence": percent(case.get("format_adherence")),
                "distinct_outputs": case.get("distinct_outputs"),
            }
            for case in model.get("cases") or []
        ],
    }


OUTPUT_PREVIEW_CHARS = 80


def _result_view(result) -> dict:
    output = result.output or ""
    first_line = output.split("\n", 1)[0]
    preview = first_line[:OUTPUT_PREVIEW_CHARS]
    return {
        "case": result.case_name,
        "repeat": result.repeat_index + 1,
        "status": result.status,
        "output": output,
        "preview": preview,
        "truncated": preview != output,
        "latency": milliseconds(result.latency_ms),
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost": money(result.cost),
        "assertions": result.assertions or [],
        "error": result.error,
    }


def run_panel(run: EvalRun) -> dict:
    """One run's summary and results, ready for the template."""
    summary = run.summary or {}
    order = {case["name"]: index for index, case in enumerate(run.cases or [])}
    results = sorted(
        run.results.all(), key=lambda r: (order.get(r.case_name, len(order)), r.case_name, r.repeat_index)
    )
    version = run.prompt_version
    provider = run.provider or {}
    return {
        "run": run,
        "badge": eval_badge(run),
        "url": eval_run_url(run),
        "version": version,
        "version_url": _version_url(version),
        "who": run.requested_by or "—",
        "created": run.created_at,
        "started": run.started_at,
        "finished": run.finished_at,
        "duration": _seconds(run.started_at, run.finished_at),
        "provider": f"{provider.get('name')} ({provider.get('model')})" if provider else None,
        "case_count": len(run.cases or []),
        "repeats": run.repeats,
        "static": _static_view(summary["static"]) if summary.get("static") else None,
        "model": _model_view(summary["model"]) if summary.get("model") else None,
        "results_in": len(results),
        "results_expected": run.expected_result_count,
        "results": [_result_view(result) for result in results],
        "note": summary.get("note"),
    }


def _latest_finished_run(version: PromptVersion, *, besides: EvalRun) -> EvalRun | None:
    return (
        eval_run_list(prompt=version.prompt, version=version.number)
        .filter(status__in=EvalRun.TERMINAL)
        .exclude(pk=besides.pk)
        .order_by("-finished_at", "-id")
        .first()
    )


def eval_comparison(run: EvalRun, *, compare: str | None, page_url: str, anchor: str = "") -> dict:
    """`run` beside the latest finished run of the production version (or of the
    previous version), or a sentence saying why there is none."""
    version = run.prompt_version
    prompt = version.prompt
    mode = compare if compare in COMPARE_MODES else "production"
    other = None
    if mode == "production":
        labels = label_list(prompt=prompt)
        label = next((label for label in labels if label.name == Label.PRODUCTION), None)
        other = label.version if label is not None else None
        missing = ("No production label yet, so there is no production run to compare with. "
                   "Promote a version to production to see its results here.")
        heading = "Production"
    else:
        if version.number > 1:
            try:
                other = prompt_version_get(prompt=prompt, number=version.number - 1)
            except NotFound:
                other = None
        missing = f"v{version.number} is the first version: there is no previous version to compare with."
        heading = "Previous version"
    other_run = _latest_finished_run(other, besides=run) if other is not None else None
    if other is not None and other_run is None:
        if other.pk == version.pk:
            missing = (f"v{other.number} is the production version itself, and it has no other "
                       "finished eval run to compare with.")
        else:
            missing = f"{heading} (v{other.number}) has no finished eval run yet."
            pending = eval_run_latest(version=other)
            if pending is not None and not pending.is_finished:
                missing = missing[:-1] + f": run #{pending.pk} is {pending.status}."
    return {
        "mode": mode,
        "heading": heading,
        "other_version": other,
        "other_version_url": _version_url(other) if other is not None else None,
        "this": run_panel(run),
        "other": run_panel(other_run) if other_run is not None else None,
        "missing": None if other_run is not None else missing,
        "switch": [
            {"label": label, "url": f"{page_url}?compare={name}{anchor}", "active": name == mode}
            for name, label in COMPARE_MODES.items()
        ],
    }


def version_eval_context(request, version: PromptVersion) -> dict:
    """The eval section of the version page: the latest run beside production's."""
    run = eval_run_latest(version=version)
    history = eval_run_list(prompt=version.prompt, version=version.number).defer("cases")[:20]
    return {
        "eval_badge": eval_badge(run),
        "eval_compare": (
            eval_comparison(run, compare=request.GET.get("compare"), page_url=_version_url(version),
                            anchor="#evals")
            if run is not None else None
        ),
        "eval_history": [eval_badge(r) for r in history],
        "eval_suite_url": eval_suite_url(version.prompt),
        "eval_runs_url": eval_runs_url(version.prompt),
        "rerun_url": reverse("admin:prompts_app_promptversion_rerun", args=[version.pk]),
        "can_rerun": can_rerun(request),
    }


def eval_run_page(model_admin, request, object_id):
    """The run page: who asked, when, the summary and every result, beside production's."""
    run, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # Runs are read-only; a re-run posts to the version's own URL.
    _require(request.method in ("GET", "HEAD") and model_admin.has_view_permission(request, run))
    version = run.prompt_version
    prompt = version.prompt
    page_url = eval_run_url(run)
    context = _page_context(
        model_admin, request, title=f"Eval run #{run.pk} of {prompt.name} v{version.number}", obj=run,
        subtitle=None,  # the title says it all; str(run) would repeat it
        run=run, change_url=page_url,
        compare=eval_comparison(run, compare=request.GET.get("compare"), page_url=page_url),
        version=version, version_url=_version_url(version),
        prompt_url=reverse("admin:prompts_app_prompt_change", args=[prompt.pk]),
        suite_url=eval_suite_url(prompt), runs_url=eval_runs_url(prompt),
        rerun_url=reverse("admin:prompts_app_promptversion_rerun", args=[version.pk]),
        can_rerun=can_rerun(request),
        provider_json=json.dumps(run.provider, indent=2, ensure_ascii=False) if run.provider else None,
        cases_json=json.dumps(run.cases, indent=2, ensure_ascii=False),
    )
    return TemplateResponse(request, "admin/prompts_app/evalrun/run.html", context)


def version_rerun(model_admin, request, object_id):
    """POST only: a manual run of the version with the suite as it is now."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    version, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    _require(can_rerun(request))
    run = evals.eval_run_request(version=version, requested_by=request.user.get_username())
    model_admin.log_addition(request, run, [{"added": {}}])
    messages.success(
        request,
        f"Queued eval run #{run.pk} of {version.prompt.name} v{version.number}. A worker picks it up "
        "in a moment: reload this page to follow it.",
    )
    return HttpResponseRedirect(eval_run_url(run))


# --- eval suites ----------------------------------------------------------------------


def _suite_cases(suite: EvalSuite) -> list[dict[str, Any]]:
    return [case.as_snapshot() for case in suite.cases.all()]


def _case_row_initial(case: dict[str, Any]) -> dict[str, Any]:
    # One line of JSON per value (and per assertion) reads best in a small row textarea.
    assertions = case["assertions"]
    return {
        "name": case["name"],
        "variables": json.dumps(case["variables"], ensure_ascii=False) if case["variables"] else "",
        "expected_output": case["expected_output"],
        "assertions": (
            "[\n" + ",\n".join("  " + json.dumps(a, ensure_ascii=False) for a in assertions) + "\n]"
            if assertions else ""
        ),
    }


def eval_suite_add(model_admin, request):
    _require(model_admin.has_add_permission(request))
    wanted = request.GET.get("prompt") or ""
    if request.method == "GET" and wanted.isdigit():
        existing = EvalSuite.objects.filter(prompt_id=int(wanted)).first()
        if existing is not None:
            return HttpResponseRedirect(admin_url(model_admin, "change", existing.pk))
    form = f.EvalSuiteAddForm(request.POST or None, initial={"prompt": wanted or None, "repeats": 1})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        provider = data.get("provider")
        try:
            suite = evals.eval_suite_update(
                prompt=data["prompt"], repeats=data["repeats"], provider=provider.name if provider else ""
            )
        except DomainError as exc:
            f.add_service_error(form, exc, f.EVAL_SUITE_ERROR_FIELDS)
        else:
            model_admin.log_addition(request, suite, [{"added": {}}])
            messages.success(request, f"Created the eval suite of {suite.prompt}. Add its cases below.")
            return HttpResponseRedirect(admin_url(model_admin, "change", suite.pk))
    fieldsets = [(None, {"fields": ["prompt", "provider", "repeats"],
                         "description": "One suite per prompt; its cases are added on the next page."})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add eval suite",
                            extra_context={"show_save_and_continue": False})


def eval_suite_change(model_admin, request, object_id):
    """Edit a suite's settings and cases; evals.eval_suite_update checks and
    stores them all at once, so a bad assertion stores nothing."""
    suite, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    can_change = model_admin.has_change_permission(request, suite)
    _require(can_change if request.method == "POST" else model_admin.has_view_or_change_permission(request, suite))
    prompt = suite.prompt
    current = _suite_cases(suite)
    mode = request.POST.get("mode") or request.GET.get("mode")
    if mode not in ("rows", "json"):
        mode = "rows" if len(current) <= MAX_ROWS else "json"
    rows_allowed = len(current) + f.EvalCaseRowFormSet.extra <= f.EvalCaseRowFormSet.max_num
    if mode == "rows" and not rows_allowed:
        mode = "json"

    form = f.EvalSuiteForm(
        request.POST or None,
        project=prompt.project,
        initial={"provider": suite.provider_id, "repeats": suite.repeats, "cases_json": f.as_json_text(current)},
    )
    formset = None
    if mode == "rows":
        formset = f.EvalCaseRowFormSet(
            request.POST or None, prefix="case", initial=[_case_row_initial(c) for c in current]
        )
    if request.method == "POST":
        cases, positions = None, []
        if mode == "json":
            if form.is_valid():
                if form.cleaned_data.get("cases_json") is None:
                    form.add_error("cases_json", "Give the cases as a JSON list ([] for none).")
                else:
                    cases = form.cleaned_data["cases_json"]
                    positions = list(range(len(cases)))
        elif form.is_valid() and formset.is_valid():
            cases = []
            deleted = {id(row) for row in formset.deleted_forms}
            for index, row in enumerate(formset.forms):
                if index >= formset.initial_form_count() and not row.has_changed():
                    continue  # an untouched blank row
                if id(row) in deleted:
                    continue
                cases.append(row.case())
                positions.append(index)
        if cases is not None:
            saved = _eval_suite_save(model_admin, request, suite, form, formset, cases, positions, current)
            if saved is not None:
                return saved

    fieldsets = [("Settings", {"fields": ["provider", "repeats"] + (["cases_json"] if mode == "json" else [])})]
    change_url = admin_url(model_admin, "change", suite.pk)
    runs = list(eval_run_list(prompt=prompt).defer("cases")[:10])
    extra = {
        "mode": mode,
        "formset": formset,
        "case_count": len(current),
        "rows_url": change_url + "?mode=rows",
        "json_url": change_url + "?mode=json",
        "rows_allowed": rows_allowed,
        "assertion_help": f.ASSERTION_HELP,
        "prompt_url": reverse("admin:prompts_app_prompt_change", args=[prompt.pk]),
        "recent_runs": [eval_badge(run) for run in runs],
        "runs_url": eval_runs_url(prompt),
        "can_rerun": can_change and can_rerun(request),
    }
    title = f"Edit eval suite of {prompt.name}" if can_change else f"View eval suite of {prompt.name}"
    return render_form_page(
        model_admin, request, form=form, fieldsets=fieldsets, obj=suite, title=title,
        formsets=[formset] if formset is not None else [], extra_context=extra,
    )


def _eval_suite_save(model_admin, request, suite, form, formset, cases, positions, current):
    prompt = suite.prompt
    provider = form.cleaned_data.get("provider")
    repeats = form.cleaned_data.get("repeats")
    rerun = "_rerun" in request.POST
    unchanged = (cases == current and repeats == suite.repeats
                 and (provider.pk if provider else None) == suite.provider_id)
    if unchanged and not rerun:
        messages.info(request, "No changes: nothing was saved.")
        return _after_save(model_admin, request, suite)
    run = latest = None
    try:
        with transaction.atomic():
            if not unchanged:
                evals.eval_suite_update(
                    prompt=prompt, cases=cases, repeats=repeats, provider=provider.name if provider else ""
                )
            if rerun:
                latest = prompt_version_list(prompt=prompt).first()
                if latest is not None:
                    run = evals.eval_run_request(version=latest, requested_by=request.user.get_username())
    except DomainError as exc:
        suite.refresh_from_db()  # the rollback undid the row; drop what the service set in memory
        _case_error(form, formset, exc, positions)
        return None
    if not unchanged:
        count = len(cases)
        summary = (f"Eval suite of {prompt}: {count} case{'s' if count != 1 else ''}, "
                   f"provider {provider.name if provider else 'none (static checks only)'}, "
                   f"{repeats} repeat{'s' if repeats != 1 else ''}.")
        model_admin.log_change(request, suite, summary)
        messages.success(request, summary + " New versions are evaluated with it; re-run a version "
                                            "to apply it now.")
    if run is not None:
        messages.success(request, f"Queued eval run #{run.pk} of {prompt.name} v{latest.number}.")
        return HttpResponseRedirect(eval_run_url(run))
    if rerun:
        messages.warning(request, f"{prompt} has no versions yet: there is nothing to run.")
    return _after_save(model_admin, request, suite)


_CASE_FIELD = re.compile(r"^cases\[(\d+)\](?:\.(\w+))?")


def _case_error(form, formset, exc: DomainError, positions: list[int]) -> None:
    """Put a service error about cases[i]… on the row the person sees."""
    match = _CASE_FIELD.match(exc.field or "")
    if formset is not None and match and int(match.group(1)) < len(positions):
        row = formset.forms[positions[int(match.group(1))]]
        name = match.group(2)
        row.add_error(name if name in row.fields else None, exc.message)
        return
    field_map = dict(f.EVAL_SUITE_ERROR_FIELDS)
    if formset is not None:
        field_map.pop("cases")  # the JSON field is not on the page in rows mode
    f.add_service_error(form, exc, field_map)


# --- ledger and fine-tuning advice ---------------------------------------------------------
# The advice comes from advice.prompt_advice (the measured inputs) or from
# advisor.validate_inputs + advisor.advise (the what-if); these views only lay
# its figures out with their units and draw its charts (charts.py).

USAGE_CHART_DAYS = 60
PAYBACK_MONTHS_SHOWN = 24

VERDICTS = {
    Verdict.FINE_TUNE.value: (
        "fine_tune", "Fine-tuning pays off: the money, the volume, the data and the prompt's stability all say yes."
    ),
    Verdict.PREPARE_DATA.value: (
        "prepare_data", "The money says yes, but there are not enough approved examples yet: approve more, then tune."
    ),
    Verdict.KEEP_PROMPTING.value: (
        "keep_prompting", "Keep sending the prompt: tuning would not pay off, or the prompt is still changing."
    ),
}
FIGURE_LABELS = {
    "monthly_savings": "Monthly savings",
    "one_time_cost": "One-time cost",
    "payback_months": "Payback",
    "break_even_calls_per_month": "Break-even volume for the horizon",
    "current_cost_per_call": "Cost per call today",
    "fine_tuned_cost_per_call": "Cost per call fine-tuned",
    "saving_per_call": "Saving per call",
    "latency_saved_ms_per_call": "Latency saved",
}
FIGURE_MISSING = {
    "payback_months": "never: fine-tuning saves nothing per month",
    "break_even_calls_per_month": "none: fine-tuning saves nothing per call",
}
CHECK_LABELS = {
    "payback": "Pays back within the horizon",
    "volume": "Volume at or above the floor",
    "examples": "Enough approved examples",
    "stability": "Prompt stable (few new versions)",
}


def _grouped(value: Decimal) -> str:
    """A decimal with thousands separators, its decimal places as given."""
    return format(value, ",f")


def with_unit(value, unit: str) -> str:
    """A figure and its unit as a person reads them: '$764.11 / month',
    '1.96 months', '40,419 calls / month', '$0.15 per 1M tokens'."""
    number = _decimal(value)
    if number is None:
        return "—"
    if unit == "USD":
        return money(number)
    if unit.startswith("USD/"):
        return f"{money(number)} / {unit[4:]}"
    if unit.startswith("USD per "):
        return f"{money(number)} {unit[4:]}"
    if unit.startswith("share"):
        return f"{_plain(number)} ({percent(number)})"
    return f"{_grouped(number)} {unit.replace('/', ' / ')}"


def verdict_badge(verdict: str | None) -> dict | None:
    if not verdict:
        return None
    name, meaning = VERDICTS.get(verdict, (verdict, ""))
    return {"verdict": name, "meaning": meaning}


def advice_view(advice: dict) -> dict:
    """One advice dict (advice.prompt_advice or advisor.Advice.as_dict) laid out
    for the page: verdict, figures with units, checks, reasons, payback chart."""
    units = advice.get("units") or {}
    figures = advice.get("figures") or {}
    order = list(FIGURE_LABELS) + [name for name in figures if name not in FIGURE_LABELS]
    rows = []
    for name in order:
        if name not in figures:
            continue
        value = figures[name]
        unit = units.get(name, "")
        rows.append({
            "name": name,
            "label": FIGURE_LABELS.get(name, name.replace("_", " ").capitalize()),
            "text": with_unit(value, unit) if value is not None else FIGURE_MISSING.get(name, "—"),
            "unit": unit,
        })
    schedule = advice.get("payback_schedule") or []
    payback = figures.get("payback_months")
    inputs = advice.get("inputs") or {}
    return {
        "badge": verdict_badge(advice.get("verdict")),
        "figures": rows,
        "reasons": list(advice.get("reasons") or []),
        "checks": [
            {"name": name, "label": CHECK_LABELS.get(name, name), "ok": ok}
            for name, ok in (advice.get("checks") or {}).items()
        ],
        "payback_svg": mark_safe(charts.payback_chart(schedule, payback_months=payback)),  # charts.py escapes every label
        "break_even": charts.break_even(schedule, payback) if schedule else None,
        "schedule_months": len(schedule),
        "inputs": [
            {"name": name, "label": f.ADVISOR_INPUT_LABELS.get(name, name),
             "text": with_unit(value, f.ADVISOR_INPUT_UNITS.get(name, "")) if value is not None else "—"}
            for name, value in inputs.items()
        ],
    }


def _prefill(value) -> str:
    """An input as the what-if form shows it: no trailing zeros, at most 6 decimals
    (a month scaled from fewer days can carry a long fraction)."""
    number = _decimal(value)
    if number is None:
        return ""
    if number.as_tuple().exponent < -6:
        number = number.quantize(Decimal("0.000001"))
    text = format(number.normalize(), "f")
    return text


def what_if_initial(inputs: dict) -> dict[str, str]:
    return {key: _prefill(inputs.get(key)) for key in advisor.WHAT_IF_KEYS if inputs.get(key) is not None}


def what_if_run(form: f.WhatIfForm) -> dict | None:
    """The advice for a bound what-if form, or None with the advisor's errors on its fields."""
    if not form.is_valid():
        return None
    try:
        inputs = advisor.validate_inputs(form.raw_inputs())
        return advisor.advise(inputs).as_dict(schedule_months=PAYBACK_MONTHS_SHOWN)
    except advisor.AdvisorInputError as exc:
        form.add_advisor_errors(exc)
        return None


def what_if_fieldsets(form: f.WhatIfForm) -> list[dict]:
    return [{"title": title, "fields": [form[name] for name in names]} for title, names in f.WHAT_IF_FIELDSETS]


def advice_url(prompt: Prompt) -> str:
    return reverse("admin:prompts_app_prompt_advice", args=[prompt.pk])


def _cached_price_note(inputs: dict) -> str | None:
    """The what-if has no key for the tuned model's cached-input price: it takes the
    tuned input price. Say so when that changes the answer for this prompt."""
    share = _decimal(inputs.get("cached_input_share")) or Decimal(0)
    ft_cached = _decimal(inputs.get("ft_cached_input_price_per_1m"))
    ft_input = _decimal(inputs.get("ft_input_price_per_1m"))
    if share > 0 and ft_cached is not None and ft_input is not None and ft_cached != ft_input:
        return (f"The what-if prices the tuned model's cached input at its input price ({money(ft_input)} "
                f"per 1M tokens), not at {money(ft_cached)} as the advice above does, so with unchanged "
                "inputs its figures can differ a little.")
    return None


def _ledger_rows(ledger: dict) -> list[dict]:
    return [
        {
            "version": row.get("version"),
            "calls": f"{row['calls']:,}",
            "input_tokens": f"{row['input_tokens']:,}",
            "cached_input_tokens": f"{row['cached_input_tokens']:,}",
            "output_tokens": f"{row['output_tokens']:,}",
            "cost": charts.format_usd(row["cost"]),
            "cost_exact": money(row["cost"]),
            "cost_per_call": charts.format_usd_precise(_decimal(row["cost"]) / row["calls"]) if row["calls"] else "—",
            "errors": f"{row['error_calls']:,}",
            "unpriced": f"{row['unpriced_calls']:,}",
            "latency": f"{row['avg_latency_ms']} ms" if row.get("avg_latency_ms") else "—",
        }
        for row in ledger["rows"]
    ]


def prompt_advice_page(model_admin, request, object_id):
    """The ledger and the fine-tuning advice of one prompt, with a what-if form
    pre-filled from the inputs the advice used."""
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # The page computes and stores nothing (a what-if is arithmetic), so viewing rights are enough.
    _require(model_admin.has_view_or_change_permission(request, prompt))
    try:
        current = advising.prompt_advice(prompt=prompt)
        advice_error = None
    except DomainError as exc:
        current, advice_error = None, exc.message
    usage = charts.usage_by_day_and_version(prompt=prompt, days=USAGE_CHART_DAYS)
    ledger = prompt_ledger(prompt=prompt, days=USAGE_CHART_DAYS, group_by="version")
    inputs = (current or {}).get("inputs") or {}

    form = f.WhatIfForm(request.POST or None, initial=what_if_initial(inputs))
    what_if = what_if_run(form) if request.method == "POST" else None
    state = AdviceState.objects.filter(prompt=prompt).first()
    alerts = Alert.objects.filter(prompt=prompt)
    context = _page_context(
        model_admin, request, title=f"Ledger and fine-tuning advice: {prompt.name}", obj=prompt,
        subtitle=None,
        prompt=prompt, change_url=admin_url(model_admin, "change", prompt.pk),
        advice=current, advice_error=advice_error,
        window_calls=f"{(current or {}).get('window', {}).get('calls') or 0:,}",
        current=advice_view(current) if current else None,
        usage_svg=mark_safe(charts.usage_chart(usage["rows"], start=usage["from"], end=usage["to"])),  # charts.py escapes every label
        usage_days=USAGE_CHART_DAYS, ledger=ledger, ledger_rows=_ledger_rows(ledger),
        ledger_totals=_ledger_rows({"rows": [ledger["totals"]]})[0],
        state=state, state_badge=verdict_badge(state.verdict) if state else None,
        new_alerts=alerts.filter(state=Alert.STATE_NEW).count(),
        alerts_url=reverse("admin:prompts_app_alert_changelist") + f"?prompt__id__exact={prompt.pk}",
        form=form, fieldsets=what_if_fieldsets(form), what_if=advice_view(what_if) if what_if else None,
        cached_price_note=_cached_price_note(inputs),
        what_if_url=admin_url(model_admin, "advice", prompt.pk) + "#what-if",
        settings_url=_advisor_settings_url(prompt.project),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/advice.html", context)


def _advisor_settings_url(project) -> str:
    found = AdvisorSettings.objects.filter(project=project).values_list("pk", flat=True).first()
    if found is None:
        return reverse("admin:prompts_app_advisorsettings_add") + f"?project={project.pk}"
    return reverse("admin:prompts_app_advisorsettings_change", args=[found])


def what_if_page(model_admin, request):
    """The what-if calculator on its own: any figures in, the advisor's verdict out."""
    _require(model_admin.has_view_or_change_permission(request))
    form = f.WhatIfForm(request.POST or None)
    what_if = what_if_run(form) if request.method == "POST" else None
    states = AdviceState.objects.select_related("prompt__project").order_by("prompt__project__name", "prompt__name")
    context = _page_context(
        model_admin, request, title="What-if calculator", form=form, fieldsets=what_if_fieldsets(form),
        what_if=advice_view(what_if) if what_if else None,
        what_if_url=admin_url(model_admin, "what_if") + "#what-if",
        prompts=[{"prompt": s.prompt, "url": advice_url(s.prompt), "badge": verdict_badge(s.verdict)}
                 for s in states],
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/what_if.html", context)


# --- alerts ------------------------------------------------------------------------------------


def alert_acknowledge_view(model_admin, request, object_id):
    """POST only: acknowledge one alert as the admin user, then go back where the button was."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    alert, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    _require(model_admin.has_acknowledge_permission(request))
    was_new = alert.state != Alert.STATE_ACKNOWLEDGED
    alerts.alert_acknowledge(alert=alert, actor=request.user.get_username())
    if was_new:
        model_admin.log_change(request, alert, "Acknowledged.")
        messages.success(request, f"Acknowledged the alert about {alert.prompt.name}.")
    else:
        messages.info(request, f"The alert about {alert.prompt.name} was already acknowledged by "
                               f"{alert.acknowledged_by or 'someone'}.")
    target = request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = admin_url(model_admin, "change", alert.pk)
    return HttpResponseRedirect(target)
