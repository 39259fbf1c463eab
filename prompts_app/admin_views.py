"""The admin's custom pages: prompt edit (a new version per save), diff,
preview, promote; API-key creation; the example-set editor; the eval-suite
editor, the eval-run page and the eval sections of the version page.

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
from django.utils.html import escape, format_html

from promptledger import rendering
from promptledger.rendering import RenderError
from prompts_app import forms as f
from prompts_app import evals, selectors, services
from prompts_app.errors import DomainError, NotFound
from prompts_app.models import EvalRun, Label, Prompt, PromptVersion

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
        inferred = rendering.infer_schema(prompt.kind, _version_body(prompt, version))
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
                prompt = services.prompt_create(**form.prompt_kwargs())
                version = services.prompt_version_create(
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

    versions = list(selectors.prompt_version_list(prompt=prompt).prefetch_related("labels"))
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
                draft = selectors.draft_render(**form.draft_kwargs())
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
                version = services.prompt_version_create(
                    prompt=prompt, author=request.user.get_username(), **form.version_kwargs()
                )
            if metadata:
                services.prompt_update(prompt=prompt, **metadata)
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
                "cost": cost_per_call(costed_run),
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
        "labels": list(selectors.label_list(prompt=prompt)),
        "label_moves": list(selectors.label_history(prompt=prompt)),
        "diff_url": admin_url(model_admin, "diff", prompt.pk),
        "preview_url": admin_url(model_admin, "preview", prompt.pk),
        "promote_url": admin_url(model_admin, "promote", prompt.pk),
        "can_promote": model_admin.has_change_permission(request, prompt),
        "suite_url": eval_suite_url(prompt),
        "runs_url": eval_runs_url(prompt),
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
    "examples": "Few-shot examples",
    "model_config": "Model config",
    "variables": "Variables schema",
}


def prompt_diff(model_admin, request, object_id):
    prompt, missing = _get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    _require(model_admin.has_view_or_change_permission(request, prompt))
    numbers = list(selectors.prompt_version_list(prompt=prompt).values_list("number", flat=True))
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
            diff = selectors.prompt_version_diff(
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
            versions[number] = selectors.prompt_version_get(prompt=prompt, number=number)
    context = _page_context(
        model_admin, request, title=f"Diff of {prompt.name}", obj=prompt,
        form=form, diff=diff, error=error, sections=sections,
        from_version=versions.get(diff["from"]) if diff else None,
        to_version=versions.get(diff["to"]) if diff else None,
        unchanged=[SECTION_TITLES[n] for n in selectors.DIFF_SECTIONS
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
    versions = list(selectors.prompt_version_list(prompt=prompt))
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
            payload = selectors.resolve_payload(prompt=prompt, version=version, label=None)
            result = selectors.render_payload(payload, form.variables())
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
    versions = list(selectors.prompt_version_list(prompt=prompt))
    change_url = admin_url(model_admin, "change", prompt.pk)
    if not versions:
        messages.warning(request, f"{prompt} has no versions yet: nothing to promote.")
        return redirect(change_url)
    numbers = [v.number for v in versions]
    labels = list(selectors.label_list(prompt=prompt))
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
            label = services.label_move(
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
        form=form, labels=labels, label_moves=list(selectors.label_history(prompt=prompt)),
        version=version, version_url=_version_url(version), change_url=change_url,
        protected=prompt.protect_production,
        version_eval=eval_badge(selectors.eval_run_latest(version=version)),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/promote.html", context)


# --- projects and API keys ----------------------------------------------------------------


def project_add(model_admin, request):
    """Create a project through the service (which also seeds its price sheet)."""
    _require(model_admin.has_add_permission(request))
    form = f.ProjectAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project, created = services.project_get_or_create(name=form.cleaned_data["name"])
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
            key, raw = services.api_key_create(
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
                example_set = services.example_set_create(
                    project=data["project"], name=data["name"], description=data.get("description") or ""
                )
                if data.get("examples_json"):
                    services.example_set_version_create(
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
                version = services.example_set_version_create(
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
