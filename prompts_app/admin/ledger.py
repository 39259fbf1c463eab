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

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, Q
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
    get_or_404,
    page_context,
    require,
)
from prompts_app.admin.display import (
    money,
    verdict_badge,
    verdict_words,
    with_unit,
)
from prompts_app.admin.forms import ledger as f
from prompts_app.errors import DomainError
from prompts_app.lib import advisor
from prompts_app.lib.advisor import UNITS
from prompts_app.lib.formatting import format_count, round_places, to_decimal
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
    alert_new_count,
    what_if_advice,
)
from prompts_app.selectors.ledger import prompt_ledger, usage_by_day_and_version, usage_priced_with
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
        newly = 0
        for alert in queryset.select_related("prompt"):
            if alert.state == Alert.STATE_ACKNOWLEDGED:
                continue
            alerts.alert_acknowledge(alert=alert, actor=actor)
            self.log_change(request, alert, "Acknowledged.")
            newly += 1
        text = bulk_action_message(verb="Acknowledged", noun="alert", newly=newly, total=queryset.count())
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
}


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
    number = to_decimal(value)
    if number is None:
        return ""
    if number.as_tuple().exponent < -6:
        number = round_places(number, 6)
    return format(number.normalize(), "f")


def what_if_initial(inputs: dict) -> dict[str, str]:
    return {key: _prefill(inputs.get(key)) for key in advisor.WHAT_IF_KEYS if inputs.get(key) is not None}


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


def what_if_fieldsets(form: f.WhatIfForm) -> list[dict]:
    return [{"title": title, "fields": [form[name] for name in names]} for title, names in f.WHAT_IF_FIELDSETS]


def _cached_price_note(inputs: dict) -> str | None:
    """The what-if has no key for the tuned model's cached-input price: it takes the
    tuned input price. Say so when that changes the answer for this prompt."""
    share = to_decimal(inputs.get("cached_input_share")) or Decimal(0)
    ft_cached = to_decimal(inputs.get("ft_cached_input_price_per_1m"))
    ft_input = to_decimal(inputs.get("ft_input_price_per_1m"))
    if share > 0 and ft_cached is not None and ft_input is not None and ft_cached != ft_input:
        return (f"The what-if prices the tuned model's cached input at its input price ({money(ft_input)} "
                f"per 1M tokens), not at {money(ft_cached)} as the advice above does, so with unchanged "
                "inputs its figures can differ a little.")
    return None


def _ledger_rows(ledger: dict) -> list[dict]:
    return [
        {
            "version": row.get("version"),
            "calls": format_count(row["calls"]),
            "input_tokens": format_count(row["input_tokens"]),
            "cached_input_tokens": format_count(row["cached_input_tokens"]),
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
    inputs = (current or {}).get("inputs") or {}

    form = f.WhatIfForm(request.POST or None, initial=what_if_initial(inputs))
    what_if = what_if_run(form) if request.method == "POST" else None
    state = advice_state_get(prompt=prompt)
    settings = advising.advisor_settings_for(prompt.project)  # unsaved defaults when none were saved
    context = page_context(
        model_admin, request, title=f"Ledger and fine-tuning advice: {prompt.name}", obj=prompt,
        subtitle=None,
        prompt=prompt, change_url=admin_url(model_admin, "change", prompt.pk),
        advice=current, advice_error=advice_error,
        window_calls=format_count((current or {}).get("window", {}).get("calls") or 0),
        current=advice_view(current) if current else None,
        usage_svg=mark_safe(charts.usage_chart(usage["rows"], start=usage["from"], end=usage["to"])),  # charts.py escapes every label
        usage_days=USAGE_CHART_DAYS, ledger=ledger, ledger_rows=_ledger_rows(ledger),
        ledger_totals=_ledger_rows({"rows": [ledger["totals"]]})[0],
        state=state, state_badge=verdict_badge(state.verdict) if state else None,
        new_alerts=alert_new_count(prompt=prompt),
        alerts_url=reverse("admin:prompts_app_alert_changelist") + f"?prompt__id__exact={prompt.pk}",
        form=form, fieldsets=what_if_fieldsets(form), what_if=advice_view(what_if) if what_if else None,
        cached_price_note=_cached_price_note(inputs),
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
