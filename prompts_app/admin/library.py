"""The library's admin: projects, API keys, prompts, versions and labels, with
the prompt pages (edit — a new version per save —, diff, preview, promote).

Versions, labels and their history are read-only here: a prompt changes by
saving its page, which creates the next version; a label moves through the
promote page. Those writes, and creating projects and keys, go through
`services.library`, one service call per action (the service owns the
transaction); a project's description is the one field the generic change
form saves directly (plain text, no rule behind it).

The edit page starts from the production version (or the one picked with
`?from=N`) and says which; its save names the latest version the page was
opened on, so a version saved meanwhile is a stale-base error, not lost work.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join

from promptledger import rendering
from promptledger.rendering import RenderError
from prompts_app.admin.base import (
    NoDeleteAdmin,
    ReadOnlyAdmin,
    add_service_error,
    admin_url,
    advice_url,
    after_save,
    bulk_action_message,
    change_page_object,
    change_url_of,
    eval_runs_url,
    eval_suite_url,
    get_or_404,
    page_context,
    render_error_details,
    render_form_page,
    require,
    version_url,
)
from prompts_app.admin.display import (
    cost_html,
    cost_per_call,
    eval_badge,
    json_block,
    link,
    local_time,
    static_of,
    status_badge_html,
    verdict_badge,
    verdict_words,
)
from prompts_app.admin.evals import promote_panel, runs_by_version, version_eval_context, version_rerun
from prompts_app.admin.forms import library as f
from prompts_app.admin.ledger import prompt_advice_page, what_if_page
from prompts_app.errors import Conflict, DomainError
from prompts_app.models import (
    AdviceState,
    ApiKey,
    Label,
    LabelMove,
    Project,
    Prompt,
    PromptVersion,
)
from prompts_app.selectors.advice import advice_state_get
from prompts_app.selectors.evals import prompt_version_list_with_runs
from prompts_app.selectors.library import (
    DIFF_SECTIONS,
    api_key_get,
    draft_render,
    label_history,
    label_list,
    project_list_counted,
    prompt_list_with_labels,
    prompt_version_diff,
    prompt_version_get,
    prompt_version_history,
    prompt_version_list,
    prompt_version_numbers,
    render_payload,
    resolve_payload,
    version_examples,
)
from prompts_app.services import library

# --- projects and keys ----------------------------------------------------------


@admin.register(Project)
class ProjectAdmin(NoDeleteAdmin):
    list_display = ["name", "description", "prompt_count", "active_keys", "created_at"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "created_at"]

    # The name is how people and keys know the project: fixed once created. The
    # description is plain text with no rule behind it, so the generic form edits it.
    readonly_fields = ["name", "created_at"]

    def get_queryset(self, request):
        return project_list_counted(projects=super().get_queryset(request))

    def add_view(self, request, form_url="", extra_context=None):
        return project_add(self, request)

    @admin.display(description="prompts", ordering="prompts_total")
    def prompt_count(self, obj):
        return obj.prompts_total

    @admin.display(description="active keys", ordering="active_keys_total")
    def active_keys(self, obj):
        return obj.active_keys_total


@admin.register(ApiKey)
class ApiKeyAdmin(NoDeleteAdmin):
    list_display = ["prefix_display", "name", "project", "scopes_display", "created_at", "revoked_at"]
    list_filter = ["project", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "project__name"]
    list_select_related = ["project"]
    actions = ["revoke_keys"]
    # The hashed key is never shown or editable; the raw key is shown once, on the
    # page the creating POST redirects to (api_key_created), and never again.
    fields = ["project", "name", "prefix_display", "scopes_display", "created_at", "revoked_at"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False  # keys are created and revoked, never edited

    def has_revoke_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_apikey")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("created/", self.admin_site.admin_view(self.created_view), name="%s_%s_created" % info),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return api_key_add(self, request)

    def created_view(self, request):
        return api_key_created(self, request)

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, obj):
        return format_html("<code>{}…</code>", obj.prefix)

    @admin.display(description="scopes")
    def scopes_display(self, obj):
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        keys = list(queryset)  # the page's selection, read once: no second query to count it
        newly = 0
        for key in keys:
            was_active = key.is_active
            library.api_key_revoke(api_key=key)
            if was_active:
                self.log_change(request, key, "Revoked.")
                newly += 1
        text = bulk_action_message(verb="Revoked", noun="key", newly=newly, total=len(keys))
        self.message_user(request, text, messages.SUCCESS)


# --- prompts --------------------------------------------------------------------


@admin.register(Prompt)
class PromptAdmin(NoDeleteAdmin):
    list_display = ["name", "project", "kind", "latest_display", "labels_display", "tags_display",
                    "verdict_display", "protect_production", "created_at"]
    list_display_links = ["name"]
    list_filter = ["project", "kind", "protect_production", ("advice_state__verdict", admin.AllValuesFieldListFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["project", "advice_state"]

    def get_queryset(self, request):
        return prompt_list_with_labels(prompts=super().get_queryset(request))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            # Before the object patterns, which would take "what-if" for an id.
            path("what-if/", wrap(self.what_if_view), name="%s_%s_what_if" % info),
            path("<path:object_id>/advice/", wrap(self.advice_view), name="%s_%s_advice" % info),
            path("<path:object_id>/diff/", wrap(self.diff_view), name="%s_%s_diff" % info),
            path("<path:object_id>/preview/", wrap(self.preview_view), name="%s_%s_preview" % info),
            path("<path:object_id>/promote/", wrap(self.promote_view), name="%s_%s_promote" % info),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return prompt_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return prompt_change(self, request, object_id)

    def diff_view(self, request, object_id):
        return prompt_diff(self, request, object_id)

    def preview_view(self, request, object_id):
        return prompt_preview(self, request, object_id)

    def promote_view(self, request, object_id):
        return prompt_promote(self, request, object_id)

    def advice_view(self, request, object_id):
        return prompt_advice_page(self, request, object_id)

    def what_if_view(self, request):
        return what_if_page(self, request)

    @admin.display(description="fine-tuning", ordering="advice_state__verdict")
    def verdict_display(self, obj):
        """The verdict of the last daily evaluation, linking to the ledger and advice page."""
        try:
            state = obj.advice_state
        except AdviceState.DoesNotExist:
            state = None
        url = advice_url(obj)
        if state is None:
            return format_html('<a class="pl-advice-none" href="{}" title="Not evaluated yet: open the ledger '
                               'and advice">not evaluated</a>', url)
        return format_html('<a class="pl-advice-badge pl-advice-{}" href="{}" title="Evaluated {}: open the '
                           'ledger and advice">{}</a>', state.verdict, url,
                           local_time(state.evaluated_at), verdict_words(state.verdict))

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"

    @admin.display(description="labels")
    def labels_display(self, obj):
        return ", ".join(f"{label.name}→v{label.version.number}" for label in obj.labels.all()) or "—"

    @admin.display(description="tags")
    def tags_display(self, obj):
        return ", ".join(obj.tags or []) or "—"




@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project_display", "number", "author", "created_at", "message", "labels_display",
                    "eval_display", "cost_display"]
    list_filter = ["prompt__project", "prompt__kind"]
    search_fields = ["prompt__name", "message", "author"]
    list_select_related = ["prompt__project"]
    fields = ["prompt_link", "number", "author", "created_at", "message", "tools", "body_display",
              "variables_display", "model_config_display", "example_set_link", "labels_display",
              "content_hash"]
    readonly_fields = fields

    def get_queryset(self, request):
        return prompt_version_list_with_runs(versions=super().get_queryset(request))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/rerun-evals/", self.admin_site.admin_view(self.rerun_view),
                 name="%s_%s_rerun" % info),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, unquote(object_id))
        extra = version_eval_context(request, version) if version is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def rerun_view(self, request, object_id):
        return version_rerun(self, request, object_id)

    @admin.display(description="evals")
    def eval_display(self, obj):
        runs = obj.runs_newest_first
        return status_badge_html(eval_badge(runs[0] if runs else None))

    @admin.display(description="est. cost / call")
    def cost_display(self, obj):
        costed = next((run for run in obj.runs_newest_first if "static" in (run.summary or {})), None)
        return cost_html(cost_per_call(static_of(costed)))

    @admin.display(description="project", ordering="prompt__project__name")
    def project_display(self, obj):
        return obj.prompt.project

    @admin.display(description="prompt")
    def prompt_link(self, obj):
        return link(change_url_of(obj.prompt), obj.prompt)

    @admin.display(description="labels")
    def labels_display(self, obj):
        return ", ".join(sorted(label.name for label in obj.labels.all())) or "—"

    @admin.display(description="template / messages")
    def body_display(self, obj):
        if obj.prompt.kind == Prompt.KIND_CHAT:
            return format_html_join(
                "",
                '<div class="pl-message pl-role-{}"><div class="pl-role">{}</div><pre>{}</pre></div>',
                ((m["role"], m["role"], m["content"]) for m in obj.messages or []),
            )
        return format_html('<pre class="pl-code-block">{}</pre>', obj.template)

    @admin.display(description="variables schema")
    def variables_display(self, obj):
        return json_block(obj.variables)

    @admin.display(description="model config")
    def model_config_display(self, obj):
        return json_block(obj.model_config) if obj.model_config else "—"

    @admin.display(description="example set version")
    def example_set_link(self, obj):
        esv = obj.example_set_version
        return link(change_url_of(esv), esv) if esv else "—"

    @admin.display(description="actions")
    def tools(self, obj):
        def url(name):
            return reverse(f"admin:prompts_app_prompt_{name}", args=[obj.prompt_id])

        links = [(url("change"), "Edit prompt"),
                 (url("preview") + f"?version={obj.number}", "Preview"),
                 (url("promote") + f"?version={obj.number}", "Promote"),
                 ("#evals", "Evals")]
        if obj.number > 1:
            links.insert(1, (url("diff") + f"?from={obj.number - 1}&to={obj.number}",
                             "Diff with previous"))
        return format_html_join(" · ", '<a href="{}">{}</a>', links)


@admin.register(Label)
class LabelAdmin(ReadOnlyAdmin):
    list_display = ["name", "prompt", "version_link", "updated_at", "updated_by"]
    list_filter = ["name", "prompt__project"]
    search_fields = ["name", "prompt__name"]
    list_select_related = ["prompt__project", "version"]

    @admin.display(description="version")
    def version_link(self, obj):
        return link(change_url_of(obj.version), f"v{obj.version.number}")


@admin.register(LabelMove)
class LabelMoveAdmin(ReadOnlyAdmin):
    list_display = ["moved_at", "prompt", "label", "move_display", "moved_by", "forced", "reason"]
    list_filter = ["label", "forced", "prompt__project"]
    search_fields = ["prompt__name", "label", "reason", "moved_by"]
    list_select_related = ["prompt__project", "from_version", "to_version"]
    date_hierarchy = "moved_at"

    @admin.display(description="move")
    def move_display(self, obj):
        start = f"v{obj.from_version.number}" if obj.from_version else "(new)"
        return f"{start} → v{obj.to_version.number}"




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
    examples = version_examples(version) if version is not None else []
    first = examples[0]["input"] if examples else None
    return first if isinstance(first, dict) else {}


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
    {"fields": ["base_version", "start_version", "body", "message", "model_config", "example_set_version",
                "variables_schema"]},
)


def prompt_add(model_admin, request):
    require(model_admin.has_add_permission(request))
    form = f.PromptAddForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        try:
            prompt, version = library.prompt_create_with_version(
                **form.prompt_kwargs(), author=request.user.get_username(), **form.version_kwargs()
            )
        except (DomainError, RenderError) as exc:
            if not f.add_message_error(form, exc):
                add_service_error(form, exc, f.VERSION_ERROR_FIELDS)
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
    prompt, missing, can_change = change_page_object(model_admin, request, object_id)
    if missing:
        return missing

    versions = prompt_version_history(prompt=prompt)
    latest = versions[0] if versions else None
    # A POST is compared with the version its page was filled from.
    wanted = request.POST.get("start_version") if request.method == "POST" else request.GET.get("from")
    start = start_version(versions, wanted)
    if wanted and request.method == "GET" and start is not None and str(start.number) != wanted.strip():
        messages.warning(request, f"{prompt} has no version {wanted}: showing v{start.number} instead.")
    form = f.PromptChangeForm(
        request.POST or None,
        prompt=prompt,
        start=start,
        custom_schema=_custom_schema(prompt, start),
    )
    names = (variable_names(prompt.kind, _version_body(prompt, start), start.variables)
             if start is not None else [])
    if start is not None:
        # Set before validation: bound fields copy the help text when first built.
        # Escaped, as the admin's fieldset template prints help text as HTML.
        form.fields["body"].help_text += (
            f" Variables in v{start.number}: {escape(', '.join(names))}." if names
            else f" v{start.number} uses no variables."
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
    extra.update(draft=draft, latest=latest, start=start, variables_found=names,
                 editing_from=editing_from_text(versions, start),
                 start_choices=[(v.number, version_tag(v, latest)) for v in versions])
    title = f"Edit prompt {prompt.name}" if can_change else f"View prompt {prompt.name}"
    return render_form_page(
        model_admin, request, form=form, fieldsets=fieldsets, obj=prompt, title=title, extra_context=extra
    )


def version_tag(version: PromptVersion, latest: PromptVersion | None = None) -> str:
    """'v3 (production)', 'v5 (staging, latest)', 'v4'."""
    names = sorted((label.name for label in version.labels.all()), key=lambda n: (n != Label.PRODUCTION, n))
    if latest is not None and version.pk == latest.pk:
        names.append("latest")
    return f"v{version.number} ({', '.join(names)})" if names else f"v{version.number}"


def start_version(versions: list[PromptVersion], wanted: str | None) -> PromptVersion | None:
    """The version an edit starts from: the one asked for (a number), else the
    one labelled production, else the latest (None: no version yet)."""
    if wanted and wanted.strip().isdigit():
        picked = next((v for v in versions if v.number == int(wanted)), None)
        if picked is not None:
            return picked
    production = next((v for v in versions if any(label.name == Label.PRODUCTION for label in v.labels.all())),
                      None)
    return production or (versions[0] if versions else None)


def editing_from_text(versions: list[PromptVersion], start: PromptVersion | None) -> str:
    """What the edit page starts from, in words: 'Editing from v3 (production);
    the latest is v5 (staging).'"""
    latest = versions[0] if versions else None
    if start is None or latest is None:
        return ""
    if start.pk != latest.pk:
        return f"Editing from {version_tag(start)}; the latest is {version_tag(latest)}."
    text = f"Editing from {version_tag(start, latest)}."
    if not any(label.name == Label.PRODUCTION for v in versions for label in v.labels.all()):
        text += " No version is labelled production."
    return text


def _prompt_save(model_admin, request, prompt: Prompt, form: f.PromptChangeForm):
    """Save a valid change form in one service call: the next version if the
    content changed (based on the latest version when the page was opened),
    and the metadata."""
    content_changed = form.content_changed()
    metadata = form.metadata_changed()
    if not content_changed and not metadata:
        messages.info(request, "No changes: nothing was saved.")
        return after_save(model_admin, request, prompt)
    base = form.cleaned_data.get("base_version")
    try:
        version = library.prompt_edit(
            prompt=prompt,
            content=form.version_kwargs() if content_changed else None,
            based_on_version=base if base is not None else prompt.latest_version_number,
            author=request.user.get_username(),
            **metadata,
        )
    except Conflict as exc:
        prompt.refresh_from_db()  # the rollback undid the row; drop what the services set in memory
        if exc.code != "stale_base":
            add_service_error(form, exc, f.VERSION_ERROR_FIELDS)
            return None
        based_on, latest = exc.details["based_on_version"], exc.details["latest_version"]
        # The page now knows about the newer version: a second save is a deliberate choice.
        form.data = form.data.copy()
        form.data["base_version"] = str(latest)
        form.add_error(
            "body",
            f"Version {latest} was saved after you opened this page on v{based_on}: saving now would "
            f"drop its change silently. Compare v{based_on} and v{latest} in the diff page; press Save "
            f"again to create v{latest + 1} from your text anyway.",
        )
        return None
    except (DomainError, RenderError) as exc:
        prompt.refresh_from_db()
        if not f.add_message_error(form, exc):
            add_service_error(form, exc, f.VERSION_ERROR_FIELDS)
        return None
    parts = []
    if version is not None:
        parts.append(f"created version {version.number}")
    if metadata:
        parts.append("updated " + ", ".join(name.replace("_", " ") for name in metadata))
    summary = f"{prompt}: " + " and ".join(parts) + "."
    model_admin.log_change(request, prompt, summary)
    messages.success(request, summary)
    return after_save(model_admin, request, prompt, anchor="#versions" if version else "")


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
                "url": version_url(version),
                "labels": sorted(label.name for label in version.labels.all()),
                "eval": eval_badge(latest_run, latest=True),
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
        "advice_badge": verdict_badge(getattr(advice_state_get(prompt=prompt), "verdict", None)),
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
    prompt, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    require(model_admin.has_view_or_change_permission(request, prompt))
    numbers = prompt_version_numbers(prompt=prompt)
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
    context = page_context(
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
    prompt, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # A preview renders and stores nothing, so viewing rights are enough.
    require(model_admin.has_view_or_change_permission(request, prompt))
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
    context = page_context(
        model_admin, request, title=f"Preview {prompt.name} v{version.number}", obj=prompt,
        form=form, version=version, result=result, error=error, change_url=change_url,
        result_heading=f"Rendered v{version.number}",
        version_url=version_url(version), preview_url=admin_url(model_admin, "preview", prompt.pk),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/preview.html", context)


# --- promote -------------------------------------------------------------------------


def prompt_promote(model_admin, request, object_id):
    prompt, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    require(model_admin.has_change_permission(request, prompt))
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
        existing_labels=[label.name for label in labels],
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
            add_service_error(form, exc, {"label": "label", "reason": "reason"})
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
    context = page_context(
        model_admin, request, title=f"Promote {prompt.name}", obj=prompt,
        form=form, labels=labels, label_moves=list(label_history(prompt=prompt)),
        version=version, version_url=version_url(version), change_url=change_url,
        protected=prompt.protect_production,
        eval_panel=promote_panel(version),
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/promote.html", context)


# --- projects and API keys ----------------------------------------------------------------


def project_add(model_admin, request):
    """Create a project through the service (which also seeds its price sheet)."""
    require(model_admin.has_add_permission(request))
    form = f.ProjectAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project, created = library.project_get_or_create(name=form.cleaned_data["name"])
        except DomainError as exc:
            add_service_error(form, exc, {"project": "name", "name": "name"})
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



NEW_KEY_SESSION = "prompts_app.new_api_key"


def api_key_add(model_admin, request):
    """Create a key through the service, then redirect (post/redirect/get) to the
    page that shows its raw value once: the value waits in the session for that
    one GET, which removes it, so a reload shows nothing and creates nothing."""
    require(model_admin.has_add_permission(request))
    form = f.ApiKeyCreateForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = library.api_key_create(
                project=form.cleaned_data["project"],
                scopes=list(form.cleaned_data["scopes"]),
                name=form.cleaned_data.get("name") or "",
            )
        except DomainError as exc:
            add_service_error(form, exc, {"scopes": "scopes", "name": "name", "project": "project"})
        else:
            model_admin.log_addition(request, key, [{"added": {}}])
            request.session[NEW_KEY_SESSION] = {"id": key.pk, "raw": raw}
            return HttpResponseRedirect(admin_url(model_admin, "created"))
    fieldsets = [(None, {"fields": ["project", "name", "scopes"],
                         "description": "The key is generated for you and shown once after saving; "
                                        "only its hash is stored."})]
    return render_form_page(model_admin, request, form=form, fieldsets=fieldsets, title="Add API key",
                            extra_context={"show_save_and_continue": False})


def api_key_created(model_admin, request):
    """The raw value of the key just created, once: taken out of the session."""
    require(model_admin.has_add_permission(request))
    new = request.session.pop(NEW_KEY_SESSION, None)
    key = api_key_get(pk=new["id"]) if new else None
    if key is None:
        messages.info(request, "A new key is shown only once, right after it is created; that page has "
                               "been shown. Revoke a key whose value was lost, and create another.")
        return HttpResponseRedirect(admin_url(model_admin, "changelist"))
    messages.success(request, f"Created API key “{key.name or key.prefix}” for {key.project}. "
                              "Copy it now — it is shown only once.")
    context = page_context(
        model_admin, request, title="API key created", obj=key, key=key, raw_key=new["raw"],
        changelist_url=admin_url(model_admin, "changelist"),
        change_url=admin_url(model_admin, "change", key.pk),
    )
    response = TemplateResponse(request, "admin/prompts_app/apikey/created.html", context)
    response["Cache-Control"] = "no-store"
    return response
