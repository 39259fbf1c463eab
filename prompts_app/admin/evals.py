"""Evals: providers, eval suites, runs and case results, with the run page and
the eval sections of the version page.

Runs and results are read-only: a run is asked for with "Re-run evals"
(`services.evals.eval_run_request`) and a suite is saved, with or without a
re-run, by one call of `services.evals.eval_suite_save`. Providers are
configuration rows saved by their ModelForm (`forms.evals.ProviderForm`), not
through a service.

The eval suite's page also runs the suite on a candidate model
(`services.evals.eval_run_request_candidate`, a POST that redirects back) and
shows per candidate model what its latest run says beside the current model
(`selectors.evals.candidate_overview`). Candidate runs never stand for their
version: the badges of a version's latest run and its history leave them out.

Two read-only GET endpoints feed static/prompts_app/evals.js: `status` (JSON:
the badge of each version's latest run, and of the runs a page shows, which
the page polls while a run is queued or running) and `promote-panel` (the
promote page's eval panel for the version chosen in its dropdown).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from prompts_app.admin.base import (
    BaseAdmin,
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
    eval_run_url,
    eval_runs_url,
    eval_suite_url,
    get_or_404,
    page_context,
    posted_list,
    render_form_page,
    require,
    version_url,
)
from prompts_app.admin.display import (
    cost_html,
    cost_per_call,
    eval_badge,
    link,
    milliseconds,
    money,
    percent,
    seconds_between,
    signed_money,
    static_of,
    status_badge_html,
    status_words,
    token_count,
)
from prompts_app.admin.forms import evals as f
from prompts_app.errors import DomainError, NotFound
from prompts_app.models import (
    EvalCaseResult,
    EvalRun,
    EvalSuite,
    Label,
    Prompt,
    PromptVersion,
    Provider,
)
from prompts_app.selectors.evals import (
    candidate_model_choices,
    candidate_status,
    candidate_overview,
    eval_result_list,
    eval_run_latest,
    eval_run_list_brief,
    eval_run_list_without_cases,
    eval_suite_cases,
    eval_suite_get,
    eval_suite_has_cases,
    eval_suite_list_counted,
    provider_list_counted,
)
from prompts_app.selectors.library import (
    label_list,
    prompt_version_get,
)
from prompts_app.services import evals

# --- evals: providers, prices, suites, runs ---------------------------------------------


@admin.register(Provider)
class ProviderAdmin(BaseAdmin):
    form = f.ProviderForm
    list_display = ["name", "project", "model", "base_url", "api_key_env_display", "timeout_seconds",
                    "max_retries", "suite_count"]
    list_filter = ["project"]
    search_fields = ["name", "model", "base_url"]
    list_select_related = ["project"]

    def get_queryset(self, request):
        return provider_list_counted(providers=super().get_queryset(request))

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




@admin.register(EvalSuite)
class EvalSuiteAdmin(NoDeleteAdmin):
    list_display = ["prompt", "project_display", "provider", "repeats", "case_count"]
    list_filter = ["prompt__project"]
    search_fields = ["prompt__name"]
    list_select_related = ["prompt__project", "provider"]

    def get_queryset(self, request):
        return eval_suite_list_counted(suites=super().get_queryset(request))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/candidate-run/", self.admin_site.admin_view(self.candidate_run_view),
                 name="%s_%s_candidate_run" % info),
            *super().get_urls(),
        ]

    def candidate_run_view(self, request, object_id):
        return candidate_run(self, request, object_id)

    def add_view(self, request, form_url="", extra_context=None):
        return eval_suite_add(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return eval_suite_change(self, request, object_id)

    @admin.display(description="project", ordering="prompt__project__name")
    def project_display(self, obj):
        return obj.prompt.project

    @admin.display(description="cases", ordering="cases_total")
    def case_count(self, obj):
        return obj.cases_total


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdmin):
    list_display = ["run_display", "version_link", "status_display", "model_display", "trigger",
                    "requested_by", "created_at", "pass_rate_display", "cost_display"]
    list_display_links = ["run_display"]
    list_filter = ["status", "trigger", "prompt_version__prompt__project",
                   ("prompt_version__prompt", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["prompt_version__prompt__name", "requested_by", "candidate_model"]
    list_select_related = ["prompt_version__prompt__project"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return eval_run_list_without_cases(runs=super().get_queryset(request))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            # Before the object patterns, which would take "status" for an id.
            path("status/", wrap(self.status_view), name="%s_%s_status" % info),
            path("promote-panel/", wrap(self.promote_panel_view), name="%s_%s_promote_panel" % info),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return eval_run_page(self, request, object_id)

    def status_view(self, request):
        return eval_status(self, request)

    def promote_panel_view(self, request):
        return promote_panel_fragment(self, request)

    @admin.display(description="run", ordering="id")
    def run_display(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="version", ordering="prompt_version__prompt__name")
    def version_link(self, obj):
        return link(change_url_of(obj.prompt_version), f"{obj.prompt_version.prompt} v{obj.prompt_version.number}")

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return status_badge_html(eval_badge(obj))

    @admin.display(description="model", ordering="candidate_model")
    def model_display(self, obj):
        if obj.candidate_model:
            return format_html("{} <span class=\"help\">(candidate)</span>", obj.candidate_model)
        return format_html('<span class="help">{}</span>', "the version's own")

    @admin.display(description="pass rate")
    def pass_rate_display(self, obj):
        return percent(((obj.summary or {}).get("model") or {}).get("pass_rate")) or "—"

    @admin.display(description="est. cost / call")
    def cost_display(self, obj):
        return cost_html(cost_per_call(static_of(obj)))


@admin.register(EvalCaseResult)
class EvalCaseResultAdmin(ReadOnlyAdmin):
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
        return link(eval_run_url(obj.run), f"#{obj.run_id} ({obj.run.prompt_version})")

    @admin.display(description="repeat", ordering="repeat_index")
    def repeat_display(self, obj):
        return obj.repeat_index + 1

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return format_html('<span class="pl-status pl-status-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj):
        return money(obj.cost) or "—"

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





# --- eval runs as panels and comparisons ------------------------------------------

COMPARE_MODES = {"production": "production", "previous": "previous version"}


def can_rerun(request) -> bool:
    # A re-run is asked for on a prompt's behalf: whoever may edit the prompt may ask.
    return request.user.has_perm("prompts_app.change_prompt")


def runs_by_version(prompt: Prompt) -> dict[int, tuple[EvalRun, EvalRun | None]]:
    """Per version id: its latest run, and its latest run that has static checks
    (a queued run has none yet, so the cost shown is the last one computed).
    Candidate-model runs are left out: they never stand for their version."""
    found: dict[int, tuple[EvalRun, EvalRun | None]] = {}
    for run in eval_run_list_brief(prompt=prompt, candidate=False):  # newest first
        latest, costed = found.get(run.prompt_version_id, (run, None))
        if costed is None and "static" in (run.summary or {}):
            costed = run
        found[run.prompt_version_id] = (latest, costed)
    return found


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
        eval_result_list(run=run), key=lambda r: (order.get(r.case_name, len(order)), r.case_name, r.repeat_index)
    )
    version = run.prompt_version
    provider = run.provider or {}
    return {
        "run": run,
        "badge": eval_badge(run),
        "url": eval_run_url(run),
        "version": version,
        "version_url": version_url(version),
        "who": run.requested_by or "—",
        "created": run.created_at,
        "started": run.started_at,
        "finished": run.finished_at,
        "duration": seconds_between(run.started_at, run.finished_at),
        "provider": (f"{provider.get('name')} ({run.candidate_model or provider.get('model')}"
                     f"{', candidate' if run.candidate_model else ''})" if provider else None),
        "candidate_model": run.candidate_model,
        "candidate": candidate_view(run) if run.candidate_model else None,
        "case_count": len(run.cases or []),
        "repeats": run.repeats,
        "static": _static_view(summary["static"]) if summary.get("static") else None,
        "model": _model_view(summary["model"]) if summary.get("model") else None,
        "results_in": len(results),
        "results_expected": run.expected_result_count,
        "results": [_result_view(result) for result in results],
        "note": summary.get("note"),
    }


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
    other_run = eval_run_latest(version=other, finished=True, besides=run) if other is not None else None
    if other is not None and other_run is None:
        if other.pk == version.pk:
            missing = (f"v{other.number} is the production version itself, and it has no other "
                       "finished eval run to compare with.")
        else:
            missing = f"{heading} (v{other.number}) has no finished eval run yet."
            pending = eval_run_latest(version=other)
            if pending is not None and not pending.is_finished:
                missing = missing[:-1] + f": run #{pending.pk} is {status_words(pending.status)}."
    return {
        "mode": mode,
        "heading": heading,
        "other_version": other,
        "other_version_url": version_url(other) if other is not None else None,
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
    history = eval_run_list_brief(prompt=version.prompt, version=version.number, candidate=False, limit=20)
    return {
        "eval_badge": eval_badge(run, latest=True),
        "eval_compare": (
            eval_comparison(run, compare=request.GET.get("compare"), page_url=version_url(version),
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
    run, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    # Runs are read-only; a re-run posts to the version's own URL.
    require(request.method in ("GET", "HEAD") and model_admin.has_view_permission(request, run))
    version = run.prompt_version
    prompt = version.prompt
    page_url = eval_run_url(run)
    context = page_context(
        model_admin, request, obj=run,
        title=f"Eval run #{run.pk} of {prompt.name} v{version.number}"
              + (f" on candidate model {run.candidate_model}" if run.candidate_model else ""),
        subtitle=None,  # the title says it all; str(run) would repeat it
        run=run, run_badge=eval_badge(run), change_url=page_url,
        compare=eval_comparison(run, compare=request.GET.get("compare"), page_url=page_url),
        version=version, version_url=version_url(version),
        prompt_url=reverse("admin:prompts_app_prompt_change", args=[prompt.pk]),
        suite_url=eval_suite_url(prompt), runs_url=eval_runs_url(prompt),
        rerun_url=reverse("admin:prompts_app_promptversion_rerun", args=[version.pk]),
        can_rerun=can_rerun(request),
        candidate_status=candidate_words(candidate_status(run)) if run.candidate_model else None,
        provider_json=json.dumps(run.provider, indent=2, ensure_ascii=False) if run.provider else None,
        cases_json=json.dumps(run.cases, indent=2, ensure_ascii=False),
    )
    return TemplateResponse(request, "admin/prompts_app/evalrun/run.html", context)


def version_rerun(model_admin, request, object_id):
    """POST only: a manual run of the version with the suite as it is now."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    version, missing = get_or_404(model_admin, request, object_id)
    if missing:
        return missing
    require(can_rerun(request))
    run = evals.eval_run_request(version=version, requested_by=request.user.get_username())
    model_admin.log_addition(request, run, [{"added": {}}])
    messages.success(
        request,
        f"Queued eval run #{run.pk} of {version.prompt.name} v{version.number}. A worker picks it up "
        "in a moment; its status updates on this page.",
    )
    return HttpResponseRedirect(eval_run_url(run))


# --- live badges and the promote page's panel (read-only GETs for evals.js) ---------------


def _prompt_from_query(model_admin, request) -> Prompt:
    """The prompt named by ?prompt=<id>, which the user may view; 404 otherwise."""
    require(request.method in ("GET", "HEAD") and model_admin.has_view_permission(request))
    prompt_admin = model_admin.admin_site.get_model_admin(Prompt)
    wanted = request.GET.get("prompt") or ""
    prompt = prompt_admin.get_object(request, wanted) if wanted.isdigit() else None
    if prompt is None:
        raise Http404("No such prompt.")
    require(prompt_admin.has_view_or_change_permission(request, prompt))
    return prompt


def _badge_json(badge: dict) -> dict:
    return {
        "run": badge["run"].pk,
        "status": badge["status"],
        "label": badge["label"],
        "active": badge["active"],
        "html": status_badge_html(badge),
    }


def eval_status(model_admin, request):
    """GET ?prompt=<id>[&run=<id>…]: the badge of each version's latest run
    (`versions`, by version number) and of each run asked for (`runs`, by id),
    as JSON. Reads only; the admin pages poll it while a run is queued or running."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    prompt = _prompt_from_query(model_admin, request)
    versions = {}
    for latest, _costed in runs_by_version(prompt).values():
        badge = eval_badge(latest, latest=True)
        versions[str(latest.prompt_version.number)] = _badge_json(badge)
    asked = [value for value in request.GET.getlist("run") if value.isdigit()][:50]
    runs = {
        str(run.pk): _badge_json(eval_badge(run))
        for run in eval_run_list_brief(prompt=prompt, ids=asked)
    }
    active = any(b["active"] for b in versions.values()) or any(b["active"] for b in runs.values())
    return JsonResponse({"prompt": prompt.pk, "active": active, "versions": versions, "runs": runs})


def promote_panel(version: PromptVersion) -> dict:
    """The promote page's panel for `version`: who made it, its latest eval run, and
    what the production gate says about it."""
    prompt = version.prompt
    latest = eval_run_latest(version=version)
    if not prompt.protect_production:
        gate = {"state": "open", "text": "Production is not protected for this prompt: any version may "
                                         "be promoted, whatever its evals say."}
    else:
        refusal = evals.production_gate_refusal(version)
        gate = (
            {"state": "refused", "text": f"The production gate refuses v{version.number}: {refusal} "
                                         "Forcing it needs a reason."}
            if refusal else
            {"state": "ok", "text": f"The production gate lets v{version.number} through: its latest "
                                    "eval run passed."}
        )
    return {
        "version": version,
        "version_url": version_url(version),
        "badge": eval_badge(latest, latest=True),
        "gate": gate,
        "url": reverse("admin:prompts_app_evalrun_promote_panel") + f"?prompt={prompt.pk}",
    }


def promote_panel_fragment(model_admin, request):
    """GET ?prompt=<id>&version=<n>: the promote page's panel for that version, as
    an HTML fragment the page swaps in when its version dropdown changes."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    prompt = _prompt_from_query(model_admin, request)
    try:
        version = prompt_version_get(prompt=prompt, number=request.GET.get("version"))
    except DomainError:
        raise Http404("No such version.") from None
    html = render_to_string("admin/prompts_app/prompt/_promote_panel.html",
                            {"panel": promote_panel(version)}, request=request)
    return HttpResponse(html)


# --- eval suites ----------------------------------------------------------------------


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
    require(model_admin.has_add_permission(request))
    wanted = request.GET.get("prompt") or ""
    if request.method == "GET" and wanted.isdigit():
        prompt = model_admin.admin_site.get_model_admin(Prompt).get_object(request, wanted)
        existing = eval_suite_get(prompt=prompt) if prompt is not None else None
        if existing is not None and existing.pk is not None:
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
            add_service_error(form, exc, f.EVAL_SUITE_ERROR_FIELDS)
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
    suite, missing, can_change = change_page_object(model_admin, request, object_id)
    if missing:
        return missing
    prompt = suite.prompt
    current = eval_suite_cases(suite=suite)
    mode, rows_allowed = editor_mode(request, count=len(current), formset_class=f.EvalCaseRowFormSet)

    form = f.EvalSuiteForm(
        request.POST or None,
        project=prompt.project,
        initial={"provider": suite.provider_id, "repeats": suite.repeats, "cases_json": as_json_text(current)},
    )
    formset = None
    if mode == "rows":
        formset = f.EvalCaseRowFormSet(
            request.POST or None, prefix="case", initial=[_case_row_initial(c) for c in current]
        )
    if request.method == "POST":
        cases, positions = posted_list(form, formset, json_field="cases_json", noun="cases",
                                     row_value=f.EvalCaseRowForm.case)
        if cases is not None:
            saved = _eval_suite_save(model_admin, request, suite, form, formset, cases, positions, current)
            if saved is not None:
                return saved

    fieldsets = [("Settings", {"fields": ["provider", "repeats"] + (["cases_json"] if mode == "json" else [])})]
    change_url = admin_url(model_admin, "change", suite.pk)
    runs = list(eval_run_list_brief(prompt=prompt, candidate=False, limit=10))
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
        "candidates": candidate_section(request, model_admin, suite),
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
        return after_save(model_admin, request, suite)
    changes = {} if unchanged else {
        "cases": cases, "repeats": repeats, "provider": provider.name if provider else ""
    }
    try:
        _, run = evals.eval_suite_save(
            prompt=prompt, rerun=rerun, requested_by=request.user.get_username(), **changes
        )
    except DomainError as exc:
        suite.refresh_from_db()  # the rollback undid the row; drop what the service set in memory
        add_row_error(form, formset, exc, positions, list_name="cases",
                      field_map=f.EVAL_SUITE_ERROR_FIELDS)
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
        messages.success(request, f"Queued eval run #{run.pk} of {prompt.name} v{run.prompt_version.number}.")
        return HttpResponseRedirect(eval_run_url(run))
    if rerun:
        messages.warning(request, f"{prompt} has no versions yet: there is nothing to run.")
    return after_save(model_admin, request, suite)


# --- candidate models ------------------------------------------------------------------

# A candidate's evidence in words, and the run status whose colour it borrows.
CANDIDATE_WORDS = {
    "ready": ("ready", "passed",
              "Passed every case, at least as well as the current model: a strategy that moves to it is ready."),
    "failed": ("failed", "failed",
               "Failed a case, or passed less often than the current model: not ready."),
    "running": ("running", "running", "The run is not finished yet."),
    "error": ("error", "error", "The provider or the run failed, so nothing is known: run it again."),
    "no_baseline": ("no baseline", "rendered",
                    "Passed, but the current model has no graded run on the same cases to compare with: "
                    "re-run the version on its own model, then this candidate."),
}


def candidate_words(status: str) -> dict:
    words, css, meaning = CANDIDATE_WORDS.get(status, (status, "none", ""))
    return {"code": status, "words": words, "css": css, "meaning": meaning}


def _versus(mine, theirs, formatter) -> dict:
    return {"mine": formatter(mine), "theirs": formatter(theirs)}


def candidate_view(run: EvalRun) -> dict | None:
    """A finished candidate run's figures beside its baseline's, for the run page."""
    candidate = (run.summary or {}).get("candidate")
    if not candidate:
        return None
    baseline = candidate.get("baseline") or {}
    graded_by_rubric = any(a.get("type") == "rubric" for case in run.cases or [] for a in case["assertions"])
    return {
        "model": candidate.get("model"),
        "version_model": candidate.get("version_model"),
        "grader_model": candidate.get("grader_model") if graded_by_rubric else None,
        "baseline": baseline or None,
        "baseline_url": (reverse("admin:prompts_app_evalrun_change", args=[baseline["run"]])
                         if baseline.get("run") else None),
        "pass_rate": _versus(candidate.get("pass_rate"), baseline.get("pass_rate"), percent),
        "format_adherence": _versus(candidate.get("format_adherence"), baseline.get("format_adherence"),
                                    percent),
        "cost_per_call": _versus(candidate.get("cost_per_call"), baseline.get("cost_per_call"), money),
        "notes": candidate.get("notes") or [],
    }


class CandidateRunForm(forms.Form):
    """A model from the project's price sheet, or any other by name. Only the shape
    is checked here; the service refuses bad names and suites it cannot run."""

    model = forms.ChoiceField(required=False, label="Model from the price sheet")
    other_model = forms.CharField(required=False, label="or another model", strip=True,
                                  widget=forms.TextInput(attrs={"placeholder": "e.g. gpt-4.1-mini",
                                                                "size": 28}))

    def __init__(self, *args, choices: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "— choose —")] + [(name, name) for name in choices]

    def clean(self):
        data = super().clean()
        picked, typed = data.get("model") or "", data.get("other_model") or ""
        if picked and typed and picked != typed:
            raise ValidationError("Choose a model from the list or type one, not both.")
        if not (picked or typed):
            raise ValidationError("Choose a candidate model from the list or type its name.")
        data["candidate"] = typed or picked
        return data


def candidate_section(request, model_admin, suite: EvalSuite) -> dict:
    """The suite page's "Candidate models" section: the form and, per model, what its
    latest run on the production version says beside the current model."""
    overview = candidate_overview(prompt=suite.prompt)
    version = overview["version"]
    rows = []
    for model, run in overview["runs"].items():
        evidence = overview["evidence"][model]
        rows.append({
            "model": model,
            "status": candidate_words(evidence["status"]),
            "badge": eval_badge(run),
            "pass_rate": _versus(evidence["pass_rate"], evidence["baseline_pass_rate"], percent),
            "format_adherence": _versus(evidence["format_adherence"],
                                        evidence["baseline_format_adherence"], percent),
            "cost_per_call": _versus(evidence["cost_per_call"], evidence["baseline_cost_per_call"], money),
            "finished": run.finished_at,
        })
    blocked = None
    if version is None:
        blocked = "The prompt has no version yet: there is nothing to run."
    elif suite.provider_id is None:
        blocked = "The suite has no provider, so a candidate's answers could not be graded: choose one above."
    elif not eval_suite_has_cases(suite=suite):
        blocked = "The suite has no cases: add some above first."
    return {
        "version": version,
        "version_url": version_url(version) if version is not None else None,
        "label": overview["label"],
        "model": overview["model"],
        "rows": rows,
        "form": CandidateRunForm(prefix="candidate",
                                 choices=candidate_model_choices(prompt=suite.prompt, current=overview["model"])),
        "action": admin_url(model_admin, "candidate_run", suite.pk),
        "can_run": can_rerun(request) and model_admin.has_change_permission(request, suite),
        "blocked": blocked,
    }


def candidate_run(model_admin, request, object_id):
    """POST only: run the suite on a candidate model (on the production version, else
    the latest), then back to the suite page, which shows the run in its table."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    suite, missing, _can_change = change_page_object(model_admin, request, object_id)
    if missing:
        return missing
    require(can_rerun(request))
    back = HttpResponseRedirect(admin_url(model_admin, "change", suite.pk) + "#candidates")
    overview = candidate_overview(prompt=suite.prompt)
    form = CandidateRunForm(request.POST, prefix="candidate",
                            choices=candidate_model_choices(prompt=suite.prompt, current=overview["model"]))
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return back
    version = overview["version"]
    if version is None:
        messages.error(request, f"{suite.prompt} has no versions yet: there is nothing to run.")
        return back
    try:
        run = evals.eval_run_request_candidate(version=version, model=form.cleaned_data["candidate"],
                                               requested_by=request.user.get_username())
    except DomainError as exc:
        messages.error(request, exc.message)
        return back
    model_admin.log_addition(request, run, [{"added": {}}])
    messages.success(
        request,
        f"Queued eval run #{run.pk}: the suite on {run.candidate_model} with "
        f"{suite.prompt.name} v{version.number}. Its result appears under Candidate models below.",
    )
    return back
