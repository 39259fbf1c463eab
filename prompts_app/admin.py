"""The Django admin for prompt engineers.

ModelAdmins here only list, display and route: every write goes through a
service (see `admin_views.py` for the pages that call them). Versions, labels
and their history are read-only here — a prompt changes by saving its page,
which creates the next version; a label moves through the promote page.
Eval runs and their results are read-only too: a run is asked for with the
"Re-run evals" button, and its suite is edited through evals.eval_suite_update.
Providers and prices are plain configuration rows, edited with model forms.
Alerts are read-only too, except for acknowledging them (alerts.alert_acknowledge);
advisor settings and webhooks are plain configuration rows.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, Prefetch, Q
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from prompts_app import admin_views
from prompts_app import forms as f
from prompts_app.lib.advisor import UNITS
from prompts_app.models import (
    AdviceState,
    AdvisorSettings,
    Alert,
    ApiKey,
    EvalCaseResult,
    EvalRun,
    EvalSuite,
    Example,
    ExampleSet,
    ExampleSetVersion,
    Label,
    LabelMove,
    ModelPrice,
    Project,
    Prompt,
    PromptVersion,
    Provider,
    UsageEvent,
    Webhook,
    WebhookDelivery,
)
from prompts_app.services import alerts, library

admin.site.site_header = "PromptLedger"
admin.site.site_title = "PromptLedger admin"
admin.site.index_title = "Prompts, versions and keys"
# The index adds a "Ledger and fine-tuning advice" box (what-if calculator,
# alerts, advisor settings) above the app list.
admin.site.index_template = "admin/prompts_app/index.html"


def _link(url: str, text) -> str:
    return format_html('<a href="{}">{}</a>', url, text)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _json_block(value) -> str:
    return format_html('<pre class="pl-code-block">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdminMixin:
    """History and immutable records: shown, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoDeleteMixin:
    # Versions and label history point at these rows (PROTECT): deleting them
    # would rewrite history, so the admin does not offer it.
    def has_delete_permission(self, request, obj=None):
        return False


class StylesMixin:
    class Media:
        css = {"all": ["prompts_app/admin.css"]}


# --- projects and keys ----------------------------------------------------------


@admin.register(Project)
class ProjectAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "description", "prompt_count", "active_keys", "created_at"]
    search_fields = ["name", "description"]
    fields = ["name", "description", "created_at"]

    # The name is how people and keys know the project: fixed once created. The
    # description is plain text with no rule behind it, so the generic form edits it.
    readonly_fields = ["name", "created_at"]

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.project_add(self, request)

    @admin.display(description="prompts")
    def prompt_count(self, obj):
        return obj.prompts.count()

    @admin.display(description="active keys")
    def active_keys(self, obj):
        return obj.api_keys.filter(revoked_at__isnull=True).count()


@admin.register(ApiKey)
class ApiKeyAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["prefix_display", "name", "project", "scopes_display", "created_at", "revoked_at"]
    list_filter = ["project", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "project__name"]
    list_select_related = ["project"]
    actions = ["revoke_keys"]
    # The hashed key is never shown or editable; the raw key exists only in the
    # response that created it.
    fields = ["project", "name", "prefix_display", "scopes_display", "created_at", "revoked_at"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False  # keys are created and revoked, never edited

    def has_revoke_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_apikey")

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.api_key_add(self, request)

    @admin.display(description="prefix", ordering="prefix")
    def prefix_display(self, obj):
        return format_html("<code>{}…</code>", obj.prefix)

    @admin.display(description="scopes")
    def scopes_display(self, obj):
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        newly = 0
        for key in queryset:
            was_active = key.is_active
            library.api_key_revoke(api_key=key)
            if was_active:
                self.log_change(request, key, "Revoked.")
                newly += 1
        already = queryset.count() - newly
        text = f"Revoked {newly} key{'s' if newly != 1 else ''}."
        if already:
            text += f" {already} {'was' if already == 1 else 'were'} already revoked."
        self.message_user(request, text, messages.SUCCESS)


# --- prompts --------------------------------------------------------------------


@admin.register(Prompt)
class PromptAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "project", "kind", "latest_display", "labels_display", "tags_display",
                    "verdict_display", "protect_production", "created_at"]
    list_display_links = ["name"]
    list_filter = ["project", "kind", "protect_production", ("advice_state__verdict", admin.AllValuesFieldListFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["project", "advice_state"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels__version")

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
        return admin_views.prompt_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.prompt_change(self, request, object_id)

    def diff_view(self, request, object_id):
        return admin_views.prompt_diff(self, request, object_id)

    def preview_view(self, request, object_id):
        return admin_views.prompt_preview(self, request, object_id)

    def promote_view(self, request, object_id):
        return admin_views.prompt_promote(self, request, object_id)

    def advice_view(self, request, object_id):
        return admin_views.prompt_advice_page(self, request, object_id)

    def what_if_view(self, request):
        return admin_views.what_if_page(self, request)

    @admin.display(description="fine-tuning", ordering="advice_state__verdict")
    def verdict_display(self, obj):
        """The verdict of the last daily evaluation, linking to the ledger and advice page."""
        try:
            state = obj.advice_state
        except AdviceState.DoesNotExist:
            state = None
        url = admin_views.advice_url(obj)
        if state is None:
            return format_html('<a class="pl-advice-none" href="{}" title="Not evaluated yet: open the ledger '
                               'and advice">not evaluated</a>', url)
        return format_html('<a class="pl-advice-badge pl-advice-{}" href="{}" title="Evaluated {}: open the '
                           'ledger and advice">{}</a>', state.verdict, url,
                           timezone.localtime(state.evaluated_at).strftime("%Y-%m-%d %H:%M"), state.verdict)

    @admin.display(description="latest", ordering="latest_version_number")
    def latest_display(self, obj):
        return f"v{obj.latest_version_number}" if obj.latest_version_number else "—"

    @admin.display(description="labels")
    def labels_display(self, obj):
        return ", ".join(f"{label.name}→v{label.version.number}" for label in obj.labels.all()) or "—"

    @admin.display(description="tags")
    def tags_display(self, obj):
        return ", ".join(obj.tags or []) or "—"


def _status_badge(badge: dict | None) -> str:
    if badge is None:
        return "—"
    return format_html('<a class="pl-status pl-status-{}" href="{}" title="{}">{}</a>',
                       badge["status"], badge["url"], badge["title"], badge["status"])


def _cost_display(cost: dict | None) -> str:
    if cost is None:
        return "—"
    css = "pl-cost" if cost["estimated"] else "pl-cost pl-cost-missing"
    return format_html('<span class="{}" title="{}">{}</span>', css, cost["title"], cost["text"])


@admin.register(PromptVersion)
class PromptVersionAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
        runs = EvalRun.objects.defer("cases").order_by("-created_at", "-id")
        return super().get_queryset(request).prefetch_related(
            "labels", Prefetch("eval_runs", queryset=runs, to_attr="runs_newest_first")
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/rerun-evals/", self.admin_site.admin_view(self.rerun_view),
                 name="%s_%s_rerun" % info),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, unquote(object_id))
        extra = admin_views.version_eval_context(request, version) if version is not None else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def rerun_view(self, request, object_id):
        return admin_views.version_rerun(self, request, object_id)

    @admin.display(description="evals")
    def eval_display(self, obj):
        runs = obj.runs_newest_first
        return _status_badge(admin_views.eval_badge(runs[0] if runs else None))

    @admin.display(description="est. cost / call")
    def cost_display(self, obj):
        costed = next((run for run in obj.runs_newest_first if "static" in (run.summary or {})), None)
        return _cost_display(admin_views.cost_per_call(admin_views.static_of(costed)))

    @admin.display(description="project", ordering="prompt__project__name")
    def project_display(self, obj):
        return obj.prompt.project

    @admin.display(description="prompt")
    def prompt_link(self, obj):
        return _link(_change_url(obj.prompt), obj.prompt)

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
        return _json_block(obj.variables)

    @admin.display(description="model config")
    def model_config_display(self, obj):
        return _json_block(obj.model_config) if obj.model_config else "—"

    @admin.display(description="example set version")
    def example_set_link(self, obj):
        esv = obj.example_set_version
        return _link(_change_url(esv), esv) if esv else "—"

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
class LabelAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prompt", "version_link", "updated_at", "updated_by"]
    list_filter = ["name", "prompt__project"]
    search_fields = ["name", "prompt__name"]
    list_select_related = ["prompt__project", "version"]

    @admin.display(description="version")
    def version_link(self, obj):
        return _link(_change_url(obj.version), f"v{obj.version.number}")


@admin.register(LabelMove)
class LabelMoveAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["moved_at", "prompt", "label", "move_display", "moved_by", "forced", "reason"]
    list_filter = ["label", "forced", "prompt__project"]
    search_fields = ["prompt__name", "label", "reason", "moved_by"]
    list_select_related = ["prompt__project", "from_version", "to_version"]
    date_hierarchy = "moved_at"

    @admin.display(description="move")
    def move_display(self, obj):
        start = f"v{obj.from_version.number}" if obj.from_version else "(new)"
        return f"{start} → v{obj.to_version.number}"


# --- example sets ----------------------------------------------------------------


@admin.register(ExampleSet)
class ExampleSetAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["name", "project", "latest_display", "description", "created_at"]
    list_filter = ["project"]
    search_fields = ["name", "description"]
    list_select_related = ["project"]

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.example_set_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.example_set_change(self, request, object_id)

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
        return _json_block(obj.input)

    @admin.display(description="output")
    def output_display(self, obj):
        return format_html('<pre class="pl-code-block">{}</pre>', obj.output)


@admin.register(ExampleSetVersion)
class ExampleSetVersionAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
        return _link(_change_url(obj.example_set), obj.example_set)


# --- evals: providers, prices, suites, runs ---------------------------------------------


@admin.register(Provider)
class ProviderAdmin(StylesMixin, admin.ModelAdmin):
    form = f.ProviderForm
    list_display = ["name", "project", "model", "base_url", "api_key_env_display", "timeout_seconds",
                    "max_retries", "suite_count"]
    list_filter = ["project"]
    search_fields = ["name", "model", "base_url"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(suites=Count("evalsuite"))

    def get_readonly_fields(self, request, obj=None):
        # Suites of this project's prompts use it by name: it stays in its project.
        return ["project"] if obj is not None else []

    @admin.display(description="API key variable", ordering="api_key_env")
    def api_key_env_display(self, obj):
        if not obj.api_key_env:
            return "— (no authentication)"
        # Only whether it is set, never the value; the workers' environment may differ.
        state = "set here" if obj.api_key_env in settings.PROVIDER_API_KEYS else "not set in the web server"
        return format_html("<code>{}</code> <span class=\"help\">({})</span>", obj.api_key_env, state)

    @admin.display(description="suites", ordering="suites")
    def suite_count(self, obj):
        return obj.suites


PRICE_CHANGE_HELP = (
    "A price change should be entered as a new row with a later 'effective from' (use “Enter a price "
    "change” on an existing row): usage is priced when it is ingested, with the row in force at the "
    "call's time, and keeps that cost."
)


@admin.register(ModelPrice)
class ModelPriceAdmin(StylesMixin, admin.ModelAdmin):
    list_display = ["model", "project", "provider", "effective_from", "input_display", "cached_display",
                    "output_display", "fine_tuned_display"]
    list_filter = ["project", "provider"]
    search_fields = ["model", "provider", "source"]
    list_select_related = ["project"]
    date_hierarchy = "effective_from"
    fieldsets = [
        (None, {"fields": ["project", "model", "provider", "effective_from"]}),
        ("Prices in $ per 1M tokens", {"fields": ["input_per_1m", "cached_input_per_1m", "output_per_1m"]}),
        ("Fine-tuned model and training, $ per 1M tokens",
         {"fields": ["ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m", "training_per_1m"],
          "classes": ["collapse"]}),
        (None, {"fields": ["source"]}),
    ]
    PRICE_FIELDS = ("input_per_1m", "cached_input_per_1m", "output_per_1m")

    def get_form(self, request, obj=None, change=False, **kwargs):
        per_1m = "$ per 1M tokens"
        labels = {
            "input_per_1m": "Input", "cached_input_per_1m": "Cached input", "output_per_1m": "Output",
            "ft_input_per_1m": "Fine-tuned input", "ft_cached_input_per_1m": "Fine-tuned cached input",
            "ft_output_per_1m": "Fine-tuned output", "training_per_1m": "Training",
        }
        help_texts = {
            "model": "The model name as clients report it in usage events, e.g. gpt-4o-mini.",
            "provider": "Optional, e.g. openai.",
            "effective_from": "The price applies to calls from this moment until the next row's. "
            + PRICE_CHANGE_HELP,
            "input_per_1m": per_1m + ".",
            "cached_input_per_1m": per_1m + ", for input served from the provider's prompt cache. "
            "Empty: the input price.",
            "output_per_1m": per_1m + ".",
            "training_per_1m": per_1m + " trained (tokens × epochs).",
            "source": "Where the figures come from (a URL and the date read).",
        }
        used = self.usage_priced_with(obj) if obj is not None else 0
        if used:
            # Allowed, but the ledger then disagrees with the sheet: say so where the edit happens.
            events = f"{used:,} usage event{'s were' if used != 1 else ' was'}"
            help_texts["effective_from"] = (
                f"Warning: {events} already priced with this row. Editing it does not re-price "
                f"{'them' if used != 1 else 'it'}, so the ledger will no longer match this sheet. "
                + help_texts["effective_from"]
            )
            for name in self.PRICE_FIELDS:
                help_texts[name] = (f"Warning: {events} already priced with this row; a change here "
                                    f"does not re-price {'them' if used != 1 else 'it'}. " + help_texts[name])
        kwargs["labels"] = {**labels, **kwargs.get("labels", {})}
        kwargs["help_texts"] = {**help_texts, **kwargs.get("help_texts", {})}
        return super().get_form(request, obj, change=change, **kwargs)

    @staticmethod
    def usage_priced_with(obj: ModelPrice) -> int:
        """Priced usage events that fell in this row's period (until the next row of the model)."""
        following = (
            ModelPrice.objects.filter(
                project_id=obj.project_id, model=obj.model, effective_from__gt=obj.effective_from
            )
            .order_by("effective_from")
            .values_list("effective_from", flat=True)
            .first()
        )
        events = UsageEvent.objects.filter(
            project_id=obj.project_id, model=obj.model, priced=True, occurred_at__gte=obj.effective_from
        )
        if following is not None:
            events = events.filter(occurred_at__lt=following)
        return events.count()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {}
        if obj is not None:
            prefill = {"project": obj.project_id, "model": obj.model, "provider": obj.provider}
            extra["price_change_url"] = reverse("admin:prompts_app_modelprice_add") + "?" + urlencode(prefill)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="input $/1M", ordering="input_per_1m")
    def input_display(self, obj):
        return admin_views.money(obj.input_per_1m)

    @admin.display(description="cached input $/1M")
    def cached_display(self, obj):
        return admin_views.money(obj.cached_input_per_1m) or "—"

    @admin.display(description="output $/1M", ordering="output_per_1m")
    def output_display(self, obj):
        return admin_views.money(obj.output_per_1m)

    @admin.display(description="fine-tuned in / out / training $/1M")
    def fine_tuned_display(self, obj):
        if obj.ft_input_per_1m is None and obj.training_per_1m is None:
            return "—"
        return " / ".join(admin_views.money(v) or "—" for v in
                          (obj.ft_input_per_1m, obj.ft_output_per_1m, obj.training_per_1m))


@admin.register(EvalSuite)
class EvalSuiteAdmin(StylesMixin, NoDeleteMixin, admin.ModelAdmin):
    list_display = ["prompt", "project_display", "provider", "repeats", "case_count"]
    list_filter = ["prompt__project"]
    search_fields = ["prompt__name"]
    list_select_related = ["prompt__project", "provider"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(cases_total=Count("cases"))

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.eval_suite_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.eval_suite_change(self, request, object_id)

    @admin.display(description="project", ordering="prompt__project__name")
    def project_display(self, obj):
        return obj.prompt.project

    @admin.display(description="cases", ordering="cases_total")
    def case_count(self, obj):
        return obj.cases_total


@admin.register(EvalRun)
class EvalRunAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run_display", "version_link", "status_display", "trigger", "requested_by",
                    "created_at", "pass_rate_display", "cost_display"]
    list_display_links = ["run_display"]
    list_filter = ["status", "trigger", "prompt_version__prompt__project",
                   ("prompt_version__prompt", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["prompt_version__prompt__name", "requested_by"]
    list_select_related = ["prompt_version__prompt__project"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("cases")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.eval_run_page(self, request, object_id)

    @admin.display(description="run", ordering="id")
    def run_display(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="version", ordering="prompt_version__prompt__name")
    def version_link(self, obj):
        return _link(_change_url(obj.prompt_version), f"{obj.prompt_version.prompt} v{obj.prompt_version.number}")

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return _status_badge(admin_views.eval_badge(obj))

    @admin.display(description="pass rate")
    def pass_rate_display(self, obj):
        return admin_views.percent(((obj.summary or {}).get("model") or {}).get("pass_rate")) or "—"

    @admin.display(description="est. cost / call")
    def cost_display(self, obj):
        return _cost_display(admin_views.cost_per_call(admin_views.static_of(obj)))


@admin.register(EvalCaseResult)
class EvalCaseResultAdmin(StylesMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run_link", "case_name", "repeat_display", "status_display", "latency_ms", "input_tokens",
                    "output_tokens", "cost_display"]
    list_filter = ["status", "run__prompt_version__prompt__project"]
    search_fields = ["case_name", "output", "run__prompt_version__prompt__name"]
    list_select_related = ["run__prompt_version__prompt"]
    fields = ["run_link", "case_name", "repeat_display", "status_display", "latency_ms", "input_tokens",
              "output_tokens", "cost_display", "output_display", "assertions_display", "error", "created_at"]
    readonly_fields = fields

    @admin.display(description="run", ordering="run_id")
    def run_link(self, obj):
        return _link(admin_views.eval_run_url(obj.run), f"#{obj.run_id} ({obj.run.prompt_version})")

    @admin.display(description="repeat", ordering="repeat_index")
    def repeat_display(self, obj):
        return obj.repeat_index + 1

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return format_html('<span class="pl-status pl-status-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj):
        return admin_views.money(obj.cost) or "—"

    @admin.display(description="output")
    def output_display(self, obj):
        return format_html('<pre class="pl-code-block">{}</pre>', obj.output) if obj.output else "—"

    @admin.display(description="assertions")
    def assertions_display(self, obj):
        if not obj.assertions:
            return "—"
        return format_html_join(
            "", '<div class="pl-verdict pl-verdict-{}"><strong>{}</strong> {}: {}</div>',
            (("pass" if v.get("passed") else "fail", "✓" if v.get("passed") else "✗", v.get("type"),
              v.get("reason")) for v in obj.assertions),
        )



# --- fine-tuning advice: alerts, advisor settings, webhooks --------------------------------

ALERT_KINDS = {
    Alert.KIND_FINE_TUNE: "fine-tuning pays off",
    Alert.KIND_NO_LONGER: "no longer pays off",
}


def _figure(alert: Alert, name: str) -> str:
    value = (alert.figures or {}).get(name)
    if value is None:
        return "—"
    return admin_views.with_unit(value, UNITS.get(name, ""))


class AlertStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state__exact"

    def lookups(self, request, model_admin):
        return [(Alert.STATE_NEW, "new"), (Alert.STATE_ACKNOWLEDGED, "acknowledged")]

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() else queryset


class AlertKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind__exact"

    def lookups(self, request, model_admin):
        return list(ALERT_KINDS.items())

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["webhook_url", "status_display", "attempts", "last_error", "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "webhook delivery"
    verbose_name_plural = "webhook deliveries"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("webhook")

    @admin.display(description="webhook")
    def webhook_url(self, obj):
        return format_html("<code>{}</code>", obj.webhook.url)

    @admin.display(description="status")
    def status_display(self, obj):
        return format_html('<span class="pl-delivery pl-delivery-{}">{}</span>', obj.status, obj.status)


@admin.register(Alert)
class AlertAdmin(StylesMixin, admin.ModelAdmin):
    """Alerts are raised by the daily advice pass: listed, read, acknowledged; never added or edited."""

    # Kind and message share a column, and the state column carries who
    # acknowledged and the Acknowledge button: the list then fits beside the
    # admin's sidebars without scrolling sideways.
    list_display = ["state_display", "prompt_link", "message_display", "savings_display", "payback_display",
                    "created_display"]
    list_display_links = ["message_display"]
    list_filter = [AlertStateFilter, AlertKindFilter, "project"]
    search_fields = ["prompt__name", "message", "acknowledged_by"]
    list_select_related = ["prompt", "project"]
    date_hierarchy = "created_at"
    actions = ["acknowledge_alerts"]
    inlines = [WebhookDeliveryInline]
    fields = ["state_display", "project", "prompt_link", "kind_display", "message", "figures_display",
              "reasons_display", "created_at", "acknowledged_at", "acknowledged_by", "emailed_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_acknowledge_permission(self, request):
        return request.user.has_perm(f"{self.opts.app_label}.change_alert")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/acknowledge/", self.admin_site.admin_view(self.acknowledge_view),
                 name="%s_%s_acknowledge" % info),
            *super().get_urls(),
        ]

    def acknowledge_view(self, request, object_id):
        return admin_views.alert_acknowledge_view(self, request, object_id)

    def changelist_view(self, request, extra_context=None):
        extra = {"what_if_url": reverse("admin:prompts_app_prompt_what_if")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_list_display(self, request):
        display = list(super().get_list_display(request))
        if self.has_acknowledge_permission(request):
            display[display.index("state_display")] = self._state_with_button(back=request.get_full_path())
        return display

    def _state_with_button(self, *, back: str):
        """The state column for someone who may acknowledge: a new alert gets an
        "Acknowledge" button. The changelist is one form (it carries the CSRF
        token); the button's formaction posts it to the alert's acknowledge URL
        instead, which comes back to this list."""
        query = urlencode({"next": back})

        @admin.display(description="state", ordering="state")
        def state(obj):
            if obj.state != Alert.STATE_NEW:
                return self.state_display(obj)
            url = reverse("admin:prompts_app_alert_acknowledge", args=[obj.pk])
            return format_html('{}<br><button type="submit" class="button pl-ack-button" formaction="{}?{}" '
                               'formmethod="post">Acknowledge</button>', self.state_display(obj), url, query)

        return state

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = self.get_object(request, unquote(object_id))
        extra = {}
        if alert is not None:
            extra = {
                "can_acknowledge": alert.state == Alert.STATE_NEW and self.has_acknowledge_permission(request),
                "acknowledge_url": reverse("admin:prompts_app_alert_acknowledge", args=[alert.pk]),
                "advice_url": admin_views.advice_url(alert.prompt),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge_alerts(self, request, queryset):
        actor = request.user.get_username()
        newly = 0
        for alert in queryset.select_related("prompt"):
            if alert.state == Alert.STATE_ACKNOWLEDGED:
                continue
            alerts.alert_acknowledge(alert=alert, actor=actor)
            self.log_change(request, alert, "Acknowledged.")
            newly += 1
        already = queryset.count() - newly
        text = f"Acknowledged {newly} alert{'s' if newly != 1 else ''}."
        if already:
            text += f" {already} {'was' if already == 1 else 'were'} already acknowledged."
        self.message_user(request, text, messages.SUCCESS)

    @admin.display(description="state", ordering="state")
    def state_display(self, obj):
        badge = format_html('<span class="pl-alert-state pl-alert-{}">{}</span>', obj.state, obj.state)
        if obj.acknowledged_at is None:
            return badge
        return format_html('{}<div class="pl-acknowledged">by {}<br>{}</div>', badge, obj.acknowledged_by or "—",
                           timezone.localtime(obj.acknowledged_at).strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="alert", ordering="kind")
    def message_display(self, obj):
        return format_html('<span class="pl-alert-kind">{}</span><br>{}', ALERT_KINDS.get(obj.kind, obj.kind),
                           obj.message)

    @admin.display(description="prompt", ordering="prompt__name")
    def prompt_link(self, obj):
        return format_html('<a href="{}" title="{}: ledger and fine-tuning advice">{}</a>',
                           admin_views.advice_url(obj.prompt), obj.prompt, obj.prompt.name)

    @admin.display(description="kind", ordering="kind")
    def kind_display(self, obj):
        return ALERT_KINDS.get(obj.kind, obj.kind)

    @admin.display(description="savings then")
    def savings_display(self, obj):
        return _figure(obj, "monthly_savings")

    @admin.display(description="payback then")
    def payback_display(self, obj):
        return _figure(obj, "payback_months")

    @admin.display(description="created", ordering="created_at")
    def created_display(self, obj):
        moment = timezone.localtime(obj.created_at)
        return format_html("{}<br>{}", moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M"))

    @admin.display(description="figures at the time")
    def figures_display(self, obj):
        figures = obj.figures or {}
        order = [*admin_views.FIGURE_LABELS, *(name for name in UNITS if name not in admin_views.FIGURE_LABELS)]
        rows = [(admin_views.FIGURE_LABELS.get(name, name), _figure(obj, name), UNITS.get(name, ""))
                for name in order if name in figures]
        verdict = figures.get("verdict")
        head = format_html('<p>Verdict then: <span class="pl-advice-badge pl-advice-{}">{}</span></p>',
                           verdict, verdict) if verdict else ""
        table = format_html_join("", "<tr><th>{}</th><td>{}</td><td class=\"pl-unit\">{}</td></tr>", rows)
        return format_html('{}<table class="pl-figures-table">{}</table>', head, table)

    @admin.display(description="reasons then")
    def reasons_display(self, obj):
        reasons = (obj.figures or {}).get("reasons") or []
        if not reasons:
            return "—"
        return format_html('<ul class="pl-reasons">{}</ul>', format_html_join("", "<li>{}</li>",
                                                                            ((r,) for r in reasons)))


@admin.register(AdvisorSettings)
class AdvisorSettingsAdmin(StylesMixin, admin.ModelAdmin):
    form = f.AdvisorSettingsForm
    list_display = ["project", "horizon_display", "preparation_display", "epochs", "floor_display",
                    "min_approved_examples", "max_versions_last_30_days", "alert_emails"]
    list_select_related = ["project"]
    fieldsets = [
        (None, {"fields": ["project"]}),
        ("Costs", {"fields": ["data_preparation_cost", "epochs", "residual_instruction_tokens",
                              "prefill_ms_per_token"]}),
        ("Thresholds of the verdict", {"fields": ["payback_horizon_months", "volume_floor_calls_per_month",
                                                  "min_approved_examples", "max_versions_last_30_days"]}),
        ("Alerts", {"fields": ["alert_emails"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["project"] if obj is not None else []  # one row per project

    def get_changeform_initial_data(self, request):
        return {"project": request.GET.get("project")}

    def changelist_view(self, request, extra_context=None):
        extra = {"what_if_url": reverse("admin:prompts_app_prompt_what_if")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    @admin.display(description="payback horizon", ordering="payback_horizon_months")
    def horizon_display(self, obj):
        return admin_views.with_unit(obj.payback_horizon_months, "months")

    @admin.display(description="data preparation", ordering="data_preparation_cost")
    def preparation_display(self, obj):
        return admin_views.with_unit(obj.data_preparation_cost, "USD")

    @admin.display(description="volume floor", ordering="volume_floor_calls_per_month")
    def floor_display(self, obj):
        return admin_views.with_unit(obj.volume_floor_calls_per_month, "calls/month")


@admin.register(Webhook)
class WebhookAdmin(StylesMixin, admin.ModelAdmin):
    form = f.WebhookForm
    list_display = ["url", "project", "active", "created_at", "deliveries_display"]
    list_filter = ["project", "active"]
    search_fields = ["url"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            delivered=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.DELIVERED)),
            pending=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.PENDING)),
            failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.FAILED)),
        )

    def get_readonly_fields(self, request, obj=None):
        return ["project"] if obj is not None else []

    @admin.display(description="deliveries")
    def deliveries_display(self, obj):
        return f"{obj.delivered} delivered, {obj.pending} pending, {obj.failed} failed"
