"""The ledger and fine-tuning advice: model prices, the advice page of a prompt
(ledger, charts, verdict, what-if), the what-if calculator, alerts, advisor
settings and webhooks.

The advice comes from `services.advice.prompt_advice` (measured inputs) or
`selectors.advice.what_if_advice` (the what-if); these views lay its figures
out with their units (`display`) and draw its charts (`charts`); every read is
a selector (`selectors.ledger`, `selectors.advice`). Alerts are read-only
except for acknowledging them (`services.alerts.alert_acknowledge`). Model
prices, advisor settings and webhooks are configuration rows saved by their
ModelForms directly, not through a service; a project that never saved
advisor settings is shown the defaults (`services.advice.advisor_settings_for`,
unsaved) and the row is created only when the settings form is saved.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from prompts_app.admin import charts
from prompts_app.admin.base import (
    BaseAdmin,
    admin_url,
    advice_url,
    bulk_action_message,
    eval_suite_url,
    get_or_404,
    page_context,
    require,
)
from prompts_app.admin.display import (
    money,
    percent,
    provider_words,
    sentence,
    strategy_kind_words,
    verdict_badge,
    verdict_words,
    with_unit,
)
from prompts_app.admin.forms import ledger as f
from prompts_app.errors import DomainError
from prompts_app.lib import advisor, strategies
from prompts_app.lib.advisor import UNITS
from prompts_app.lib.formatting import format_count, format_number, round_places, to_decimal
from prompts_app.models import (
    AdvisorSettings,
    Alert,
    ModelPrice,
    Webhook,
    WebhookDelivery,
)
from prompts_app.selectors.advice import (
    PAYBACK_SCHEDULE_MONTHS,
    advice_state_get,
    advice_state_list,
    alert_list_narrowed,
    alert_new_count,
    webhook_delivery_list_with_webhook,
    webhook_list_counted,
    what_if_advice,
)
from prompts_app.selectors.ledger import (
    cache_hit_ratio_by_version,
    prompt_ledger,
    usage_by_day_and_version,
    usage_priced_with,
)
from prompts_app.services import advice as advising
from prompts_app.services import alerts

PRICE_CHANGE_HELP = (
    "A price change should be entered as a new row with a later 'effective from' (use “Enter a price "
    "change” on an existing row): usage is priced when it is ingested, with the row in force at the "
    "call's time, and keeps that cost."
)


@admin.register(ModelPrice)
class ModelPriceAdmin(BaseAdmin):
    list_display = ["model", "project", "provider", "effective_from", "input_display", "cached_display",
                    "output_display", "fine_tuned_display", "lifecycle_display"]
    list_filter = ["project", "provider"]
    search_fields = ["model", "provider", "source"]
    list_select_related = ["project"]
    date_hierarchy = "effective_from"
    fieldsets = [
        (None, {"fields": ["project", "model", "provider", "effective_from"]}),
        ("Prices in $ per 1M tokens", {"fields": ["input_per_1m", "cached_input_per_1m", "output_per_1m"]}),
        ("Prompt caching", {"fields": ["cache_write_per_1m", "cache_write_1h_per_1m", "min_cacheable_tokens"]}),
        ("Batch and flex", {"fields": ["batch_multiplier", "flex_multiplier"], "classes": ["collapse"]}),
        ("Fine-tuned model and training",
         {"fields": ["ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m", "training_per_1m",
                     "ft_hosting_per_month"],
          "classes": ["collapse"]}),
        ("Lifecycle", {"fields": ["training_available_until", "shutdown_date", "lifecycle_source"]}),
        ("Source", {"fields": ["source", "source_date"]}),
    ]
    PRICE_FIELDS = ("input_per_1m", "cached_input_per_1m", "output_per_1m")

    def get_form(self, request, obj=None, change=False, **kwargs):
        per_1m = "$ per 1M tokens"
        labels = {
            "input_per_1m": "Input", "cached_input_per_1m": "Cached input", "output_per_1m": "Output",
            "cache_write_per_1m": "Cache write", "cache_write_1h_per_1m": "Cache write, 1-hour",
            "min_cacheable_tokens": "Shortest cacheable prefix",
            "batch_multiplier": "Batch multiplier", "flex_multiplier": "Flex multiplier",
            "ft_input_per_1m": "Fine-tuned input", "ft_cached_input_per_1m": "Fine-tuned cached input",
            "ft_output_per_1m": "Fine-tuned output", "training_per_1m": "Training",
            "ft_hosting_per_month": "Fine-tuned hosting",
            "training_available_until": "Training available until", "shutdown_date": "Shutdown date",
            "lifecycle_source": "Lifecycle source", "source_date": "Source date",
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
            "cache_write_per_1m": per_1m + ", for input written to the prompt cache (Anthropic's 5-minute "
            "write, OpenAI's from GPT-5.6 on). Empty: writes cost the input price.",
            "cache_write_1h_per_1m": per_1m + ", for a 1-hour cache write (Anthropic). Empty: not offered.",
            "min_cacheable_tokens": "Tokens. Prompts shorter than this are never cached "
            "(OpenAI: 1,024). Empty: unknown.",
            "batch_multiplier": "Times every price for the provider's batch API, e.g. 0.5 for half price. "
            "Empty: no batch offer known.",
            "flex_multiplier": "Times every price for the flex (slower, cheaper) service tier. "
            "Empty: no flex offer known.",
            "ft_input_per_1m": per_1m + ", running the fine-tuned model. Empty: no fine-tuning offer.",
            "ft_cached_input_per_1m": per_1m + ". Empty: the fine-tuned input price.",
            "ft_output_per_1m": per_1m + ".",
            "training_per_1m": per_1m + " trained (tokens × epochs).",
            "ft_hosting_per_month": "$ per month, fixed: a dedicated endpoint that serves the tuned model "
            "whether or not it is called (an hourly rate × 730 hours). Empty: none.",
            "training_available_until": "The first day the provider takes no new training jobs; "
            "training is open before it. Empty: no end announced.",
            "shutdown_date": "The first day the model, and fine-tunes on it, no longer serve. "
            "Empty: none announced.",
            "lifecycle_source": "Where the training cut-off and shutdown dates come from (a URL and the "
            "date read).",
            "source": "Where the figures come from (a URL and the date read).",
            "source_date": "The date the source gives its figures for.",
        }
        used = usage_priced_with(price=obj) if obj is not None else 0
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {}
        if obj is not None:
            prefill = {"project": obj.project_id, "model": obj.model, "provider": obj.provider}
            extra["price_change_url"] = reverse("admin:prompts_app_modelprice_add") + "?" + urlencode(prefill)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="input $/1M", ordering="input_per_1m")
    def input_display(self, obj):
        return money(obj.input_per_1m)

    @admin.display(description="cached input $/1M")
    def cached_display(self, obj):
        return money(obj.cached_input_per_1m) or "—"

    @admin.display(description="output $/1M", ordering="output_per_1m")
    def output_display(self, obj):
        return money(obj.output_per_1m)

    @admin.display(description="fine-tuned in / out / training $/1M")
    def fine_tuned_display(self, obj):
        if obj.ft_input_per_1m is None and obj.training_per_1m is None:
            return "—"
        return " / ".join(money(v) or "—" for v in
                          (obj.ft_input_per_1m, obj.ft_output_per_1m, obj.training_per_1m))

    @admin.display(description="training until / shutdown", ordering="shutdown_date")
    def lifecycle_display(self, obj):
        if obj.training_available_until is None and obj.shutdown_date is None:
            return "—"
        return " / ".join(f"{day:%Y-%m-%d}" if day else "—"
                          for day in (obj.training_available_until, obj.shutdown_date))




# --- fine-tuning advice: alerts, advisor settings, webhooks --------------------------------

ALERT_KINDS = {
    Alert.KIND_FINE_TUNE: "fine-tuning pays off",
    Alert.KIND_NO_LONGER: "no longer pays off",
}


def _figure(alert: Alert, name: str) -> str:
    value = (alert.figures or {}).get(name)
    if value is None:
        return "—"
    return with_unit(value, UNITS.get(name, ""))


class AlertStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state__exact"

    def lookups(self, request, model_admin):
        return [(Alert.STATE_NEW, "new"), (Alert.STATE_ACKNOWLEDGED, "acknowledged")]

    def queryset(self, request, queryset):
        return alert_list_narrowed(alerts=queryset, state=self.value())


class AlertKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind__exact"

    def lookups(self, request, model_admin):
        return list(ALERT_KINDS.items())

    def queryset(self, request, queryset):
        return alert_list_narrowed(alerts=queryset, kind=self.value())


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
        return webhook_delivery_list_with_webhook(deliveries=super().get_queryset(request))

    @admin.display(description="webhook")
    def webhook_url(self, obj):
        return format_html("<code>{}</code>", obj.webhook.url)

    @admin.display(description="status")
    def status_display(self, obj):
        return format_html('<span class="pl-delivery pl-delivery-{}">{}</span>', obj.status, obj.status)


@admin.register(Alert)
class AlertAdmin(BaseAdmin):
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
        return alert_acknowledge_view(self, request, object_id)

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
                "advice_url": advice_url(alert.prompt),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge_alerts(self, request, queryset):
        actor = request.user.get_username()
        # The change list's selection, read once (list_select_related joins the
        # prompt): no second query to count it.
        selected = list(queryset)
        newly = 0
        for alert in selected:
            if alert.state == Alert.STATE_ACKNOWLEDGED:
                continue
            alerts.alert_acknowledge(alert=alert, actor=actor)
            self.log_change(request, alert, "Acknowledged.")
            newly += 1
        text = bulk_action_message(verb="Acknowledged", noun="alert", newly=newly, total=len(selected))
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
                           advice_url(obj.prompt), obj.prompt, obj.prompt.name)

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
        order = [*FIGURE_LABELS, *(name for name in UNITS if name not in FIGURE_LABELS)]
        rows = [(FIGURE_LABELS.get(name, name), _figure(obj, name), UNITS.get(name, ""))
                for name in order if name in figures]
        verdict = figures.get("verdict")
        head = format_html('<p>Verdict then: <span class="pl-advice-badge pl-advice-{}">{}</span></p>',
                           verdict, verdict_words(verdict)) if verdict else ""
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
class AdvisorSettingsAdmin(BaseAdmin):
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
        return with_unit(obj.payback_horizon_months, "months")

    @admin.display(description="data preparation", ordering="data_preparation_cost")
    def preparation_display(self, obj):
        return with_unit(obj.data_preparation_cost, "USD")

    @admin.display(description="volume floor", ordering="volume_floor_calls_per_month")
    def floor_display(self, obj):
        return with_unit(obj.volume_floor_calls_per_month, "calls/month")


@admin.register(Webhook)
class WebhookAdmin(BaseAdmin):
    form = f.WebhookForm
    list_display = ["url", "project", "active", "created_at", "deliveries_display"]
    list_filter = ["project", "active"]
    search_fields = ["url"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        return webhook_list_counted(webhooks=super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        return ["project"] if obj is not None else []

    @admin.display(description="deliveries")
    def deliveries_display(self, obj):
        return f"{obj.delivered} delivered, {obj.pending} pending, {obj.failed} failed"


# --- ledger and fine-tuning advice ---------------------------------------------------------
# The advice comes from advice.prompt_advice (the measured inputs) or from
# advisor.validate_inputs + advisor.advise (the what-if); these views only lay
# its figures out with their units and draw its charts (charts.py).

USAGE_CHART_DAYS = 60

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
    "lifecycle": "Training open, and the tuned model serves past the payback",
}
FIGURE_WHAT = {
    "current_cost_per_call": "Cost per call today",
    "fine_tuned_cost_per_call": "Cost per call fine-tuned",
    "saving_per_call": "Saving per call",
    "monthly_savings": "Monthly savings",
    "one_time_cost": "One-time cost",
    "payback_months": "Payback",
    "break_even_calls_per_month": "Break-even volume",
    "latency_saved_ms_per_call": "Latency saved",
}


def _dec(value) -> Decimal:
    return to_decimal(value) or Decimal(0)


def _tokens(value) -> str:
    return format_number(value) or "0"


def _tiers_text(tiers: list[tuple[Decimal, str, object]]) -> str:
    """'(20,795 uncached × $0.15 + 3 output × $0.60) per 1M tokens': the tiers
    that hold tokens, each at its price."""
    parts = [f"{_tokens(count)} {name} × {money(price)}" for count, name, price in tiers if count]
    return f"({' + '.join(parts) or 'no tokens'}) per 1M tokens"


def verdict_formulas(advice: dict) -> list[dict]:
    """How each of the verdict's figures is worked out, with the advice's own
    inputs (defaults filled in) and figures: [{"name", "label", "lines"}]. The
    arithmetic is the advisor's (`advisor._advise`); this only writes it out."""
    i, figures = advice.get("inputs") or {}, advice.get("figures") or {}
    if not i or not figures:
        return []
    avg_in = _dec(i.get("avg_input_tokens"))
    reads = avg_in * _dec(i.get("cached_input_share"))
    writes = avg_in * _dec(i.get("cache_write_share"))
    uncached = avg_in - reads - writes
    removable = _dec(i.get("tokens_removable"))
    ft_reads, ft_writes, ft_uncached = advisor.remove_tokens(
        reads=reads, writes=writes, uncached=uncached, removable=removable)
    output = i.get("avg_output_tokens")
    calls, fixed = i.get("calls_per_month"), _dec(i.get("ft_fixed_cost_per_month"))
    horizon = format_number(_dec(i.get("payback_horizon_months")).normalize())
    current, tuned = figures.get("current_cost_per_call"), figures.get("fine_tuned_cost_per_call")
    saving, monthly = figures.get("saving_per_call"), figures.get("monthly_savings")
    one_time, payback = figures.get("one_time_cost"), figures.get("payback_months")
    hosting = f" − {money(fixed)} hosting" if fixed else ""
    removed = min(removable, avg_in)

    def per_call(value) -> str | None:
        # Every digit the figure has (to 1E-10), so the arithmetic written out holds.
        return money(value, exact=True)

    # The one-time cost is the current model's fine-tune strategy's: its formula says how.
    keep = next((s for s in advice.get("strategies") or [] if s["kind"] == "keep"), {})
    tune = next((s for s in advice.get("strategies") or [] if s["kind"] == "fine_tune"
                 and (s.get("model"), s.get("provider")) == (keep.get("model"), keep.get("provider"))), {})
    one_time_line = next(
        (line.removeprefix("one-time: ") for line in tune.get("formula") or [] if line.startswith("one-time: ")
         and _dec(tune.get("one_time_cost")) == _dec(one_time)),
        f"given: {money(one_time)} (training plus data preparation)")
    lines = {
        "current_cost_per_call": [
            _tiers_text([(uncached, "uncached", i.get("input_price_per_1m")),
                         (reads, "cache reads", i.get("cached_input_price_per_1m")),
                         (writes, "cache writes", i.get("cache_write_price_per_1m")),
                         (_dec(output), "output", i.get("output_price_per_1m"))]) + f" = {per_call(current)}/call"],
        "fine_tuned_cost_per_call": [
            f"the tuned model drops {_tokens(removable)} static tokens per call (cache reads first, then cache "
            "writes, then uncached)",
            _tiers_text([(ft_uncached, "uncached", i.get("ft_input_price_per_1m")),
                         (ft_reads, "cache reads", i.get("ft_cached_input_price_per_1m")),
                         (ft_writes, "cache writes", i.get("ft_input_price_per_1m")),
                         (_dec(output), "output", i.get("ft_output_price_per_1m"))]) + f" = {per_call(tuned)}/call"],
        "saving_per_call": [f"{per_call(current)} − {per_call(tuned)} = {per_call(saving)}/call"],
        "monthly_savings": [f"{per_call(saving)}/call × {_tokens(calls)} calls{hosting} = {money(monthly)}/month"],
        "one_time_cost": [one_time_line],
        "payback_months": (
            [f"{money(one_time)} ÷ {money(monthly)}/month = {format_number(payback)} months"] if payback is not None
            else [f"the monthly saving is {money(monthly)}: nothing pays the one-time cost back"]),
        "break_even_calls_per_month": (
            [f"({money(one_time)}{f' + {money(fixed)} hosting × {horizon}' if fixed else ''}) ÷ ({horizon} months × "
             f"{per_call(saving)}/call) = {format_count(figures['break_even_calls_per_month'])} calls/month, "
             "rounded up"] if figures.get("break_even_calls_per_month") is not None
            else ["none: fine-tuning saves nothing per call"]),
        "latency_saved_ms_per_call": [
            f"{_tokens(removed)} tokens dropped × {format_number(i.get('prefill_ms_per_token'), max_places=4)} ms of "
            f"prefill per token = {format_number(figures.get('latency_saved_ms_per_call'))} ms/call"],
    }
    return [{"name": name, "label": FIGURE_WHAT.get(name, name), "lines": lines[name]}
            for name in FIGURE_LABELS if name in figures and name in lines]


def _payback_text(strategy: dict) -> str:
    months = strategy.get("payback_months")
    if months is None:
        return "—" if strategy["kind"] == "keep" else "never"
    if _dec(strategy.get("one_time_cost")) == 0:
        return "at once"
    return with_unit(months, "months")


def _strategy_status(strategy: dict, *, suite_url: str | None) -> dict:
    """The strategy's status in words: {css, words, joiner, detail, link_text, link_url}
    ("Blocked: …", "Untested — run the eval suite on …")."""
    evidence = strategy.get("evidence") or {}
    code = evidence.get("status")
    saving = _dec(strategy.get("monthly_saving"))
    model = strategy.get("model") or "the model"
    status = {"css": code or "none", "words": "", "joiner": " — ", "detail": "", "link_text": "", "link_url": ""}
    if strategy.get("blockers"):
        return {**status, "css": "blocked", "words": "Blocked", "joiner": ": ",
                "detail": sentence(strategy["blockers"][0])}
    if strategy.get("ready"):
        detail = (f"eval run #{evidence['run_id']} passed at least as well as production"
                  if code == "ready" and evidence.get("run_id") else
                  "proven by an eval run" if code == "ready" else "nothing to test: the prompt and the model stay")
        return {**status, "css": "ready", "words": "Ready", "detail": detail}
    if code == "failed":
        rate, base = percent(evidence.get("pass_rate")), percent(evidence.get("baseline_pass_rate"))
        detail = f"pass rate {rate} against {base} for production" if rate and base else ""
        return {**status, "words": "Failed eval", "detail": detail}
    if code == "running":
        return {**status, "words": "Eval running", "detail": f"the eval suite is running on {model}"}
    if code == "error":
        return {**status, "words": "Eval errored", "detail": "the run failed, so nothing is known: run it again"}
    if code == "no_baseline":
        return {**status, "words": "No baseline",
                "detail": "production has no graded run on the same cases to compare with: re-run it"}
    if strategy["kind"] == "keep":
        return {**status, "css": "current", "words": "Today's setup",
                "detail": "every saving is measured against it"}
    if saving <= 0:
        return {**status, "css": "costs_more", "words": "Costs more" if saving < 0 else "Saves nothing",
                "detail": f"{money(-saving)} a month more than today" if saving < 0 else ""}
    if code == "untested":
        if strategy["kind"] == "downshift":
            link = f"run the eval suite on {model}"
        elif strategy["kind"] == "fine_tune":
            link = f"train it, then run the eval suite on the tuned {model}"
        else:
            link = "run the eval suite on the changed version"
        if suite_url:
            return {**status, "words": "Untested", "link_text": link,
                    "link_url": suite_url + ("#candidates" if strategy["kind"] == "downshift" else "")}
        return {**status, "words": "Untested", "detail": link}
    return {**status, "css": "not_ready", "words": "Not ready"}


EVIDENCE_WORDS = {
    "not_needed": "No eval needed: the prompt and the model stay as they are.",
    "untested": "Not tested yet.",
    "ready": "Passed the eval suite at least as well as production.",
    "failed": "Failed the eval suite, or passed less often than production.",
    "running": "An eval run is under way.",
    "error": "The eval run failed, so nothing is known yet.",
    "no_baseline": "Passed, but production has no graded run on the same cases to compare with.",
}


def _evidence_lines(strategy: dict, *, production_model: str | None) -> list[str]:
    evidence = strategy.get("evidence") or {}
    lines = [EVIDENCE_WORDS.get(evidence.get("status"), evidence.get("status") or "—")]
    if evidence.get("note"):
        lines.append(sentence(evidence["note"]))
    if evidence.get("run_id"):
        lines.append(f"Eval run #{evidence['run_id']} on {strategy.get('model')}.")
    production = f"production ({production_model})" if production_model else "production"
    for name, words in (("pass_rate", "Pass rate"), ("format_adherence", "Format adherence")):
        if evidence.get(name) is not None:
            base = percent(evidence.get(f"baseline_{name}"))
            lines.append(f"{words}: {percent(evidence[name])}" + (f" against {base} for {production}." if base
                                                                   else " (no baseline to compare with)."))
    if evidence.get("cost_per_call") is not None:
        lines.append(f"Cost per call on the eval: {money(evidence['cost_per_call'])}; priced here at "
                     f"{money(strategy.get('cost_per_call'))} per call on this prompt's tokens.")
    return lines


def strategies_view(advice: dict, *, suite_url: str | None = None) -> dict | None:
    """The advice's strategies (lib/strategies.py), ranked as given, for the
    strategies table: every figure through the one formatter, the status in
    words, and what "How is this worked out?" opens (formula, assumptions, every
    blocker, the evidence). `suite_url`: the prompt's eval suite page, where
    candidate runs are started (None on the standalone what-if)."""
    found = advice.get("strategies")
    if not found:
        return None
    inputs = advice.get("inputs") or {}
    horizon = to_decimal(inputs.get("payback_horizon_months"))
    production_model = advice.get("model") or next(
        (s.get("model") for s in found if s["kind"] == "keep"), None)
    rows = []
    for rank, strategy in enumerate(found, start=1):
        fixed, retraining = _dec(strategy.get("fixed_monthly_cost")), _dec(strategy.get("retraining_monthly_cost"))
        rows.append({
            "rank": rank,
            "key": strategy["key"],
            "kind": strategy["kind"],
            "kind_words": strategy_kind_words(strategy["kind"]),
            "title": strategy.get("title") or "",
            "monthly_cost": money(strategy.get("monthly_cost")) or "—",
            "monthly_saving": money(strategy.get("monthly_saving")) or "—",
            "one_time_cost": money(strategy.get("one_time_cost")) or "—",
            "recurring": money(fixed + retraining),
            "recurring_parts": f"hosting {money(fixed)} + retraining {money(retraining)} a month",
            "payback": _payback_text(strategy),
            "net": money(strategy.get("net_saving_over_horizon")) or "—",
            "status": _strategy_status(strategy, suite_url=suite_url),
            "formula": list(strategy.get("formula") or []),
            "assumptions": list(strategy.get("assumptions") or []),
            "blockers": [sentence(b) for b in strategy.get("blockers") or []],
            "evidence": _evidence_lines(strategy, production_model=production_model),
        })
    return {
        "rows": rows,
        "horizon": format_number(horizon.normalize()) if horizon is not None else "12",
        "lifecycle": lifecycle_view(advice),
        "cache_prefix": cache_prefix_view(advice),
    }


def _days_text(days: int) -> str:
    if days == 0:
        return "today"
    count = abs(days)
    return f"{format_count(count)} day{'' if count == 1 else 's'}{' ago' if days < 0 else ''}"


def lifecycle_view(advice: dict) -> dict | None:
    """"gpt-4o-mini shuts down on 2027-01-14 (45 days); OpenAI takes no new
    training jobs from 2027-01-06", with how the days are counted and the
    source; None when no lifecycle date is known."""
    inputs = advice.get("inputs") or {}
    lifecycle = advice.get("lifecycle") or {}
    shutdown = lifecycle.get("shutdown_date") or inputs.get("model_shutdown_date")
    training = lifecycle.get("training_available_until") or inputs.get("training_available_until")
    as_of_text = advice.get("as_of") or inputs.get("as_of")
    if not (shutdown or training) or not as_of_text:
        return None
    keep = next((s for s in advice.get("strategies") or [] if s["kind"] == "keep"), {})
    model = lifecycle.get("model") or keep.get("model")
    model = "the model" if model in (None, "", strategies.WHAT_IF) else model
    provider = provider_words(None if keep.get("provider") == strategies.WHAT_IF else keep.get("provider"))
    as_of = dt.date.fromisoformat(as_of_text)
    parts, counts = [], []
    if shutdown:
        days = (dt.date.fromisoformat(shutdown) - as_of).days
        verb = "shuts down on" if days > 0 else "shut down on"
        parts.append(f"{model} {verb} {shutdown} ({_days_text(days)})")
        counts.append(f"{shutdown} − {as_of_text} = {days} days")
    if training:
        days = (dt.date.fromisoformat(training) - as_of).days
        parts.append(f"{provider} takes no new training jobs from {training}" if days > 0
                     else f"{provider} has taken no new training jobs since {training}")
        counts.append(f"{training} − {as_of_text} = {days} days")
    return {
        "text": "; ".join(parts),  # starts with the model's name, as it is spelled
        "counts": counts,
        "as_of": as_of_text,
        "source": lifecycle.get("source") or "",
    }


def cache_prefix_view(advice: dict) -> dict | None:
    """"20,772 of 20,800 tokens lead every call; {{ message }} is the first
    variable": how much of the rendered prompt a provider's cache can hold."""
    prefix = advice.get("cache_prefix")
    if not prefix:
        return None
    lead, total, variable = prefix["prefix_tokens"], prefix["total_tokens"], prefix.get("breaking_variable")
    text = f"{format_count(lead)} of {format_count(total)} tokens lead every call; "
    text += ("{{ " + variable + " }} is the first variable") if variable else "no variable cuts them short"
    return {"text": text, "variable": variable}


def advice_view(advice: dict, *, suite_url: str | None = None) -> dict:
    """One advice dict (advice.prompt_advice or selectors.advice.what_if_advice)
    laid out for the page: verdict, figures with units and how each is worked
    out, checks, reasons, payback chart, inputs, and the strategies table."""
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
        "formulas": verdict_formulas(advice),
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
        "strategies": strategies_view(advice, suite_url=suite_url),
    }


def what_if_initial(advice: dict | None) -> dict[str, str]:
    """The what-if form filled in from an advice: its `what_if_inputs` (every key,
    so an unchanged what-if gives the same figures), else the inputs it used."""
    advice = advice or {}
    return f.WhatIfForm.initial_from(advice.get("what_if_inputs") or advice.get("inputs"))


def what_if_run(form: f.WhatIfForm) -> dict | None:
    """The advice for a bound what-if form (`selectors.advice.what_if_advice`, its
    payback schedule over PAYBACK_SCHEDULE_MONTHS), or None with the advisor's
    errors on the form's fields."""
    if not form.is_valid():
        return None
    try:
        return what_if_advice(inputs=form.raw_inputs())
    except DomainError as exc:
        form.add_advisor_errors((exc.details or {}).get("errors") or {exc.field or "": exc.message})
        return None


# What _form_rows.html reads of a form, with no hidden field: the groups after the
# first get it, so the form's hidden field is written once.
_NO_HIDDEN_FIELDS = {"hidden_fields": [], "visible_fields": []}


def what_if_fieldsets(form: f.WhatIfForm) -> list[dict]:
    return [{"title": title, "fields": [form[name] for name in names], "form": form if n == 0 else _NO_HIDDEN_FIELDS}
            for n, (title, names) in enumerate(f.WHAT_IF_FIELDSETS)]


def _cache_drops(cache_rows: list[dict], threshold: Decimal) -> dict[int, dict]:
    """Version number → the mark of a version whose cache hit ratio fell by
    `threshold` or more against the previous version with traffic: its change
    probably broke the cached prefix."""
    return {
        row["version_number"]: {
            # percentage points, to 2 decimals without trailing zeros: 25, 20.5
            "points": format_number(round_places(row["drop"] * 100, 2).normalize()),
            "previous": row["previous_version"],
        }
        for row in cache_rows
        if row["drop"] is not None and row["drop"] >= threshold
    }


def _ledger_rows(ledger: dict, cache_drops: dict[int, dict] | None = None) -> list[dict]:
    return [
        {
            "version": row.get("version"),
            "calls": format_count(row["calls"]),
            "input_tokens": format_count(row["input_tokens"]),
            "cached_input_tokens": format_count(row["cached_input_tokens"]),
            "cache_write_input_tokens": format_count(row["cache_write_input_tokens"]),
            "cache_hit": percent(row["cache_hit_ratio"]) or "—",
            "cache_drop": (cache_drops or {}).get(row.get("version")),
            "output_tokens": format_count(row["output_tokens"]),
            "cost": money(row["cost"]),
            "cost_exact": money(row["cost"], exact=True),
            "cost_per_call": money(to_decimal(row["cost"]) / row["calls"]) if row["calls"] else "—",
            "errors": format_count(row["error_calls"]),
            "unpriced": format_count(row["unpriced_calls"]),
            "latency": f"{row['avg_latency_ms']} ms" if row.get("avg_latency_ms") else "—",
        }
        for row in ledger["rows"]
    ]


def prompt_advice_page(model_admin, request, object_id):
    """The ledger and the fine-tuning advice of one prompt, with a what-if form
    pre-filled from the inputs the advice used."""
    prompt, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # The page computes and stores nothing (a what-if is arithmetic), so viewing rights are enough.
    require(model_admin.has_view_or_change_permission(request, prompt))
    try:
        current = advising.prompt_advice(prompt=prompt)
        advice_error = None
    except DomainError as exc:
        current, advice_error = None, exc.message
    usage = usage_by_day_and_version(prompt=prompt, days=USAGE_CHART_DAYS)
    ledger = prompt_ledger(prompt=prompt, days=USAGE_CHART_DAYS, group_by="version")

    form = f.WhatIfForm(request.POST or None, initial=what_if_initial(current))
    what_if = what_if_run(form) if request.method == "POST" else None
    state = advice_state_get(prompt=prompt)
    suite_url = eval_suite_url(prompt)  # where a strategy's candidate model is put to the eval suite
    settings = advising.advisor_settings_for(prompt.project)  # unsaved defaults when none were saved
    # The drop that marks a version is the one the advisor's cache alert uses.
    cache_drops = _cache_drops(
        cache_hit_ratio_by_version(prompt=prompt, since=usage["from"], until=usage["to"]),
        settings.cache_drop_alert_points,
    )
    context = page_context(
        model_admin, request, title=f"Ledger and fine-tuning advice: {prompt.name}", obj=prompt,
        subtitle=None,
        prompt=prompt, change_url=admin_url(model_admin, "change", prompt.pk),
        advice=current, advice_error=advice_error,
        window_calls=format_count((current or {}).get("window", {}).get("calls") or 0),
        current=advice_view(current, suite_url=suite_url) if current else None,
        usage_svg=mark_safe(charts.usage_chart(usage["rows"], start=usage["from"], end=usage["to"])),  # charts.py escapes every label
        usage_days=USAGE_CHART_DAYS, ledger=ledger, ledger_rows=_ledger_rows(ledger, cache_drops),
        ledger_totals=_ledger_rows({"rows": [ledger["totals"]]})[0],
        state=state, state_badge=verdict_badge(state.verdict) if state else None,
        new_alerts=alert_new_count(prompt=prompt),
        alerts_url=reverse("admin:prompts_app_alert_changelist") + f"?prompt__id__exact={prompt.pk}",
        form=form, fieldsets=what_if_fieldsets(form),
        what_if=advice_view(what_if, suite_url=suite_url) if what_if else None,
        what_if_url=admin_url(model_admin, "advice", prompt.pk) + "#what-if",
        settings_url=_advisor_settings_url(settings), settings_saved=settings.pk is not None,
        schedule_months=PAYBACK_SCHEDULE_MONTHS,
    )
    return TemplateResponse(request, "admin/prompts_app/prompt/advice.html", context)


def _advisor_settings_url(settings: AdvisorSettings) -> str:
    """The settings' change page, or (defaults never saved) the add page for the project."""
    if settings.pk is None:
        return reverse("admin:prompts_app_advisorsettings_add") + f"?project={settings.project_id}"
    return reverse("admin:prompts_app_advisorsettings_change", args=[settings.pk])


def what_if_page(model_admin, request):
    """The what-if calculator on its own: any figures in, the advisor's verdict out."""
    require(model_admin.has_view_or_change_permission(request))
    form = f.WhatIfForm(request.POST or None)
    what_if = what_if_run(form) if request.method == "POST" else None
    states = advice_state_list()
    context = page_context(
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
    alert, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    require(model_admin.has_acknowledge_permission(request))
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
