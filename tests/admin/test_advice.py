"""The ledger and advice page of a prompt, the what-if calculator, and where
the verdict shows up elsewhere in the admin."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from prompts_app.admin.forms import ledger as f
from prompts_app.lib import advisor
from prompts_app.admin.base import eval_suite_url
from prompts_app.admin.display import with_unit
from prompts_app.lib.formatting import format_money, format_number
from prompts_app.models import AdviceState, AdvisorSettings, Alert
from prompts_app.selectors import advice as advice_selectors
from prompts_app.services import advice
from tests.admin.conftest import admin_url, page_form
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db

# DESIGN.md, "Fine-tuning advice": the reference case that must come out exactly.
REFERENCE = {
    "calls_per_month": "1,000,000",  # as a person types it
    "avg_input_tokens": "1000",
    "avg_output_tokens": "0",
    "tokens_removable": "800",
    "input_price_per_1m": "2",
    "output_price_per_1m": "2",
    "ft_input_price_per_1m": "2",
    "ft_output_price_per_1m": "2",
    "cached_input_share": "0",
    "cached_input_price_per_1m": "",
    "one_time_cost": "10000",
    "approved_examples": "500",
    "versions_last_30_days": "1",
    "payback_horizon_months": "12",
    "prefill_ms_per_token": "",
    "volume_floor_calls_per_month": "",
    "min_approved_examples": "",
    "max_versions_last_30_days": "",
}


def _text(response) -> str:
    """The page as text, tags dropped and whitespace folded, for reading figures."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _section(response, element_id: str) -> str:
    page = response.content.decode()
    start = page.index(f'id="{element_id}"')
    return page[start:]


def _plain(fragment: str) -> str:
    """The text a person reads in an HTML fragment (tags dropped, whitespace folded)."""
    text = re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", " ", fragment))
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


def _strategy_rows(response, table_id: str) -> list[dict]:
    """Each strategy of one strategies table as the page shows it: its key, the text
    of each figure cell (by data-col), and the lines "How is this worked out?" opens."""
    table = _section(response, table_id)
    table = table[:table.index("</table>")]
    rows = []
    for chunk in table.split('<tbody class="pl-strategy ')[1:]:
        cells = dict(re.findall(r'data-col="([a-z_]+)"[^>]*>(.*?)</td>', chunk, re.DOTALL))
        how = chunk[chunk.index('<details class="pl-how pl-strategy-how">'):chunk.index("</details>")]
        rows.append({
            "key": html.unescape(re.search(r'data-key="([^"]*)"', chunk).group(1)),
            **{name: _plain(text) for name, text in cells.items()},
            "status_html": cells["status"],
            "summary": _plain(re.search(r"<summary>(.*?)</summary>", how).group(1)),
            **{part: [_plain(item) for item in re.findall(r"<li>(.*?)</li>", block, re.DOTALL)]
               for part, block in re.findall(r'<(?:ol|ul) class="pl-(formula|assumptions|blockers|evidence)">(.*?)</(?:ol|ul)>',
                                             how, re.DOTALL)},
        })
    return rows


def _shown_payback(strategy: dict) -> str:
    if strategy["payback_months"] is None:
        return "—" if strategy["kind"] == "keep" else "never"
    if Decimal(strategy["one_time_cost"]) == 0:
        return "at once"
    return f"{format_number(strategy['payback_months'])} months"


# --- the advice page ------------------------------------------------------------------------------


def test_the_demo_candidate_keeps_prompting_because_its_tuned_model_shuts_down_before_payback(
        admin_client, triage):
    # Issue 13: the money says yes (about 2 months' payback), but the tuned
    # gpt-4o-mini stops serving on 2027-01-14, before the payback completes.
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    assert response.status_code == 200
    expected = advice.prompt_advice(prompt=triage)
    figures = expected["figures"]
    current = _section(response, "advice-current")
    assert 'pl-advice-keep_prompting">Keep prompting</span>' in current
    assert expected["lifecycle"]["shutdown_date"] == "2027-01-14"
    as_of = dt.date.fromisoformat(expected["as_of"])
    payback_on = advisor.payback_date(as_of, Decimal(figures["payback_months"]))
    assert payback_on > dt.date(2027, 1, 14)
    assert expected["reasons"][0] == (
        f"The tuned model shuts down on 2027-01-14, before the payback completes on {payback_on} "
        f"({figures['payback_months']} months from {as_of}): the run would not pay for itself, so keep prompting.")
    assert expected["checks"] == {"payback": True, "volume": True, "examples": True, "stability": True,
                                  "lifecycle": False}
    assert ('<li class="pl-check-no"><span aria-hidden="true">✗</span> Training open, and the tuned model serves '
            "past the payback") in current
    text = _text(response)
    assert f"${float(figures['monthly_savings']):,.2f} / month" in text  # every figure with its unit
    assert f"{figures['payback_months']} months" in text
    assert f"{int(figures['break_even_calls_per_month']):,} calls / month" in text
    assert "/ call" in text and "ms / call" in text
    for reason in expected["reasons"]:
        assert reason in response.content.decode().replace("&#x27;", "'")


def test_the_advice_page_draws_the_usage_and_payback_charts(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    page = response.content.decode()
    # Two charts of ours (the admin has SVG icons of its own).
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="pl-chart"') == 2
    usage = _section(response, "usage-chart")
    assert "USD per day" in usage and "calls per day" in usage and ">v1</text>" in usage
    expected = advice.prompt_advice(prompt=triage)
    payback = expected["figures"]["payback_months"]
    # The label names the first month whose net is ≥ 0 in the schedule the chart draws. That
    # is not always ceil() of the payback shown: 2.003 months shows as "2.00" but breaks even
    # in month 3 (the demo's volumes depend on the weekdays in its window, so on the day).
    month = next(row["month"] for row in expected["payback_schedule"] if Decimal(row["net"]) >= 0)
    assert month - 1 - Decimal("0.005") < Decimal(payback) <= month
    assert f"break-even ≈ month {month} ({payback} months)" in page
    assert 'class="pl-break-even-point"' in page


def test_every_verdict_figure_has_its_formula_one_click_away(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    expected = advice.prompt_advice(prompt=triage)
    figures, inputs = expected["figures"], expected["inputs"]
    how = _section(response, "advice-current-how")
    how = how[:how.index("</details>")]
    assert "<summary>How are these figures worked out?</summary>" in how
    lines = {name: _plain(text) for name, text in re.findall(r'<dd class="pl-formula-([a-z_]+)"><code>(.*?)</code>', how)}
    assert set(lines) >= set(figures) - {"break_even_calls_per_month"} | {"break_even_calls_per_month"}
    # Each written-out sum holds with the digits shown, and ends at the figure the table shows.
    saving, calls, monthly = Decimal(figures["saving_per_call"]), Decimal(inputs["calls_per_month"]), figures["monthly_savings"]
    assert lines["monthly_savings"] == (
        f"{format_money(saving, exact=True)}/call × {format_number(calls)} calls = {format_money(monthly)}/month")
    assert round(saving * calls, 2) == Decimal(monthly)
    assert lines["saving_per_call"] == (
        f"{format_money(figures['current_cost_per_call'], exact=True)} − "
        f"{format_money(figures['fine_tuned_cost_per_call'], exact=True)} = {format_money(saving, exact=True)}/call")
    assert lines["payback_months"] == (
        f"{format_money(figures['one_time_cost'])} ÷ {format_money(monthly)}/month = {figures['payback_months']} months")
    assert lines["one_time_cost"] == (  # as the current model's fine-tune strategy works it out
        f"27,690 training tokens × 3 epochs × $3.00 per 1M = $0.25 training + $1,500.00 data preparation = "
        f"{format_money(figures['one_time_cost'])}")
    assert lines["current_cost_per_call"] == (
        f"(20,795 uncached × $0.15 + 3 output × $0.60) per 1M tokens = "
        f"{format_money(figures['current_cost_per_call'], exact=True)}/call")
    assert lines["break_even_calls_per_month"].endswith(
        f"= {int(figures['break_even_calls_per_month']):,} calls/month, rounded up")


def test_the_strategies_table_shows_the_advice_strategies_ranked_with_their_figures(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    expected = advice.prompt_advice(prompt=triage)["strategies"]
    rows = _strategy_rows(response, "strategies-current")
    assert len(expected) >= 5
    assert [row["key"] for row in rows] == [s["key"] for s in expected]  # ranked as the advisor ranks them
    page = response.content.decode()
    assert page.index('id="strategies"') < page.index('id="verdict"')  # above the verdict
    for row, strategy in zip(rows, expected, strict=True):
        assert row["monthly_cost"] == format_money(strategy["monthly_cost"]), row["key"]
        assert row["monthly_saving"] == format_money(strategy["monthly_saving"]), row["key"]
        assert row["one_time_cost"] == format_money(strategy["one_time_cost"]), row["key"]
        assert row["recurring"] == format_money(
            Decimal(strategy["fixed_monthly_cost"]) + Decimal(strategy["retraining_monthly_cost"])), row["key"]
        assert row["payback"] == _shown_payback(strategy), row["key"]
        assert row["net"] == format_money(strategy["net_saving_over_horizon"]), row["key"]
    head = _section(response, "strategies-current")
    head = _plain(head[:head.index("</thead>")])
    assert head.endswith("Strategy Monthly cost Monthly saving One-time cost Fixed + retraining / month Payback "
                         "Net over 12 months Status")


def test_each_strategy_row_opens_its_formula_assumptions_and_evidence(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    expected = advice.prompt_advice(prompt=triage)["strategies"]
    for row, strategy in zip(_strategy_rows(response, "strategies-current"), expected, strict=True):
        assert row["summary"] == "How is this worked out?"
        assert row["formula"][:len(strategy["formula"])] == strategy["formula"], row["key"]
        assert row["assumptions"] == [re.sub(r"\s+", " ", line).strip() for line in strategy["assumptions"]]
        assert row.get("blockers", []) == [b[:1].upper() + b[1:] if b.split(" ")[0].isalpha() else b
                                           for b in strategy["blockers"]]
        assert row["evidence"], row["key"]


def test_a_blocked_strategy_shows_its_first_blocker_and_lists_them_all(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    expected = advice.prompt_advice(prompt=triage)
    rows = {row["key"]: row for row in _strategy_rows(response, "strategies-current")}
    tune = next(s for s in expected["strategies"] if s["key"] == "fine_tune:openai:gpt-4o-mini")
    assert tune["blockers"][0].startswith("The tuned model shuts down on 2027-01-14, before the payback completes")
    assert rows[tune["key"]]["status"] == f"Blocked: {tune['blockers'][0]}"
    assert rows[tune["key"]]["blockers"] == tune["blockers"]
    keep = next(s for s in expected["strategies"] if s["kind"] == "keep")
    assert keep["blockers"][0].startswith("gpt-4o-mini shuts down on 2027-01-14")
    assert rows["keep"]["status"] == f"Blocked: {keep['blockers'][0]}"  # a model's name keeps its case


def test_the_strategy_statuses_are_words_with_the_way_forward(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    strategies = advice.prompt_advice(prompt=triage)["strategies"]
    rows = {row["key"]: row for row in _strategy_rows(response, "strategies-current")}
    ready = next(s for s in strategies if s["ready"])
    assert ready["evidence"]["status"] == "not_needed"
    assert rows[ready["key"]]["status"] == "Ready — nothing to test: the prompt and the model stay"
    move = next(s for s in strategies if s["kind"] == "downshift" and not s["blockers"]
                and s["evidence"]["status"] == "untested")
    assert rows[move["key"]]["status"] == f"Untested — run the eval suite on {move['model']}"
    assert f'<a href="{eval_suite_url(triage)}#candidates">' in rows[move["key"]]["status_html"]
    dearer = next(s for s in strategies if Decimal(s["monthly_saving"]) < 0 and not s["blockers"])
    assert rows[dearer["key"]]["status"] == (
        f"Costs more — {format_money(-Decimal(dearer['monthly_saving']))} a month more than today")
    # People read words: no advisor code shows as text anywhere in the section.
    section = _section(response, "strategies")
    text = _plain(section[:section.index('id="verdict"')])
    for code in ("not_needed", "untested", "keep_prompting", "fine_tune", "prune_examples", "downshift",
                 "cache_prefix", "no_baseline"):
        assert code not in text, code


def test_the_lifecycle_and_the_cache_prefix_are_spelled_out(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    expected = advice.prompt_advice(prompt=triage)
    days = (dt.date(2027, 1, 14) - dt.date.fromisoformat(expected["as_of"])).days
    section = _section(response, "strategies-current")
    lifecycle = re.search(r'<span class="pl-lifecycle-text" title="([^"]*)">(.*?)</span>', section)
    assert html.unescape(lifecycle.group(2)) == (
        f"gpt-4o-mini shuts down on 2027-01-14 ({days} days); OpenAI takes no new training jobs from 2027-01-06.")
    assert html.unescape(lifecycle.group(1)) == expected["lifecycle"]["source"]
    assert f"<code>2027-01-14 − {expected['as_of']} = {days} days</code>" in section
    prefix = expected["cache_prefix"]
    assert prefix["breaking_variable"] == "message"
    assert f"{prefix['prefix_tokens']:,} of {prefix['total_tokens']:,} tokens lead every call; " \
           "{{ message }} is the first variable." in _plain(section)


def test_the_inputs_the_advice_used_show_their_dates(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    inputs = {row["name"]: row["text"] for row in response.context["current"]["inputs"]}
    assert inputs["model_shutdown_date"] == "2027-01-14"
    assert inputs["training_available_until"] == "2027-01-06"
    assert with_unit(dt.date(2027, 1, 14), "") == "2027-01-14"
    assert with_unit(None, "date") == "—"


def test_the_ledger_table_totals_the_last_60_days_by_version(admin_client, triage):
    response = admin_client.get(admin_url("prompt", "advice", triage.pk))

    ledger = response.context["ledger"]
    assert ledger["group_by"] == "version" and ledger["days"] == 60
    assert [row["version"] for row in ledger["rows"]] == [1]
    assert f"{ledger['totals']['calls']:,}" in _section(response, "ledger")


def test_the_what_if_form_starts_from_the_inputs_of_the_advice(admin_client, triage):
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")

    expected = advice.prompt_advice(prompt=triage)
    inputs = expected["inputs"]
    assert set(form.fields) == set(advisor.WHAT_IF_ALL_KEYS) | {"carried"}
    assert form["approved_examples"].value() == "600"
    assert form["model_shutdown_date"].value() == "2027-01-14"  # dates as they are
    assert form["training_available_until"].value() == expected["lifecycle"]["training_available_until"]
    assert form["as_of"].value() == expected["as_of"]
    assert form["ft_cached_input_price_per_1m"].value() == "0.15"
    assert json.loads(form["carried"].value()) == expected["what_if_inputs"]  # every key, for the strategies
    assert form["calls_per_month"].value() == str(inputs["calls_per_month"])
    assert form["input_price_per_1m"].value() == "0.15"  # "0.150000" without the trailing zeros
    assert form["min_approved_examples"].value() == "500"  # the project's thresholds come along


def test_the_what_if_with_unchanged_inputs_agrees_with_the_advice(admin_client, triage):
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")
    data = {name: form[name].value() or "" for name in form.fields}

    response = admin_client.post(admin_url("prompt", "advice", triage.pk), data)

    assert response.status_code == 200
    expected = advice.prompt_advice(prompt=triage)
    result = response.context["what_if"]
    assert result["badge"]["verdict"] == expected["verdict"] == "keep_prompting"
    assert [row["text"] for row in result["figures"]] == [row["text"] for row in response.context["current"]["figures"]]
    assert result["reasons"] == expected["reasons"]
    assert result["formulas"] == response.context["current"]["formulas"]
    assert result["strategies"]["rows"] == response.context["current"]["strategies"]["rows"]
    assert [row["key"] for row in result["strategies"]["rows"]] == [s["key"] for s in expected["strategies"]]
    assert _strategy_rows(response, "strategies-what-if") == _strategy_rows(response, "strategies-current")


def test_the_what_if_fields_alone_agree_with_the_advice_on_the_verdict(admin_client, triage):
    # Without the carried strategy inputs (a form typed by hand): the lifecycle dates,
    # cache-write share and tuned cached price are fields of their own now.
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")
    data = {name: form[name].value() or "" for name in form.fields if name != "carried"}

    response = admin_client.post(admin_url("prompt", "advice", triage.pk), data)

    result, current = response.context["what_if"], response.context["current"]
    assert result["badge"]["verdict"] == "keep_prompting"
    assert [row["text"] for row in result["figures"]] == [row["text"] for row in current["figures"]]
    assert result["reasons"] == advice.prompt_advice(prompt=triage)["reasons"]
    # Keep and the fine-tune the figures describe; the shutdown blocks both.
    keys = [row["key"] for row in result["strategies"]["rows"]]
    assert sorted(keys) == ["fine_tune:what-if:what-if", "keep"]
    assert all(row["status"]["words"] == "Blocked" for row in result["strategies"]["rows"])


def test_a_what_if_may_change_a_price_the_carried_model_offer_also_names(admin_client, triage):
    form = page_form(admin_client, admin_url("prompt", "advice", triage.pk), "form")
    data = {name: form[name].value() or "" for name in form.fields}
    assert json.loads(data["carried"])["current_model"]["input"] == "0.150000"

    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**data, "input_price_per_1m": "0.30"})

    assert response.context["form"].errors == {}
    result = response.context["what_if"]
    keep = next(row for row in result["strategies"]["rows"] if row["kind"] == "keep")
    assert keep["formula"][0].startswith("gpt-4o-mini: (20,795 uncached × $0.30 + 3 output × $0.60)")
    assert next(row for row in result["figures"] if row["name"] == "current_cost_per_call")["text"] == \
        "$0.00624 / call"  # 20,795 × $0.30 + 3 × $0.60 per 1M


def test_the_reference_case_as_a_what_if_on_the_advice_page(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), REFERENCE)

    assert response.status_code == 200
    result = _section(response, "what-if-result")
    assert 'pl-advice-fine_tune">Fine-tune</span>' in result
    assert "$1,600.00 / month" in result
    assert "6.25 months" in result
    assert "Fine-tuning saves $1,600.00 a month" in result
    assert "break-even ≈ month 7 (6.25 months)" in result
    assert result.count('class="pl-chart"') == 1


def test_an_invalid_what_if_is_a_form_error_on_its_field(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, "cached_input_share": "1.5"})

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["cached_input_share"] == [
        "Must be a share between 0 and 1, e.g. 0.5 for 50% (got 1.5)."
    ]
    assert list(form.errors) == ["cached_input_share"]
    assert response.context["what_if"] is None
    assert 'id="what-if-result"' not in response.content.decode()
    assert 'id="advice-current"' in response.content.decode()  # the rest of the page is still there


@pytest.mark.parametrize(("field", "value", "message"), [
    ("calls_per_month", "lots", "Must be a number (got 'lots')."),
    ("approved_examples", "12.5", "Must be a whole number (got 12.5)."),
    ("one_time_cost", "-1", "Must not be negative (got -1)."),
    ("payback_horizon_months", "0", "Must be greater than 0 months."),
])
def test_the_advisor_names_the_bad_field(admin_client, triage, field, value, message):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, field: value})

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]


def test_a_missing_required_figure_is_required(admin_client, triage):
    response = admin_client.post(admin_url("prompt", "advice", triage.pk), {**REFERENCE, "one_time_cost": ""})

    assert response.context["form"].errors["one_time_cost"] == ["This field is required."]


def test_a_prompt_without_versions_says_why_there_is_no_advice(admin_client, acme):
    prompt = PromptFactory(project=acme, name="empty")

    response = admin_client.get(admin_url("prompt", "advice", prompt.pk))

    assert response.status_code == 200
    assert "has no versions yet: nothing to advise on" in response.content.decode()
    assert "No usage reported in this window." in response.content.decode()


def test_a_prompt_whose_model_is_not_priced_keeps_prompting_and_says_why(admin_client, acme):
    prompt = PromptFactory(project=acme, name="unpriced")
    make_version(prompt, model_config={"model": "no-such-model"})

    response = admin_client.get(admin_url("prompt", "advice", prompt.pk))

    assert response.status_code == 200
    assert 'pl-advice-keep_prompting">Keep prompting</span>' in response.content.decode()
    assert "The price sheet has no price for model &#x27;no-such-model&#x27;" in response.content.decode()


def test_viewing_the_advice_needs_the_right_to_view_prompts(client, django_user_model, triage):
    staff = django_user_model.objects.create_user("eve", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.get(admin_url("prompt", "advice", triage.pk)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_prompt"))
    assert client.get(admin_url("prompt", "advice", triage.pk)).status_code == 200


# --- the standalone what-if -------------------------------------------------------------------------


def test_the_what_if_calculator_computes_the_reference_case(admin_client, triage):
    url = admin_url("prompt", "what_if")
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(url, REFERENCE)

    result = _section(response, "what-if-result")
    assert 'pl-advice-fine_tune">Fine-tune</span>' in result
    assert "$1,600.00 / month" in result and "6.25 months" in result and "$10,000.00" in result
    assert 'class="pl-chart"' in result


def test_the_what_if_calculator_ranks_the_strategies_of_its_figures(admin_client):
    url = admin_url("prompt", "what_if")
    page = admin_client.get(url).content.decode()
    for name in ("as_of", "training_available_until", "model_shutdown_date"):
        assert f'type="date" name="{name}"' in page

    response = admin_client.post(url, {**REFERENCE, "as_of": "2026-11-30", "model_shutdown_date": "2027-03-01"})

    rows = _strategy_rows(response, "strategies-what-if")
    assert [row["key"] for row in rows] == ["fine_tune:what-if:what-if", "keep"]
    tune, keep = rows
    assert (tune["monthly_saving"], tune["one_time_cost"], tune["payback"]) == ("$1,600.00", "$10,000.00", "6.25 months")
    assert tune["status"].startswith("Blocked: The tuned model shuts down on 2027-03-01, before the payback completes")
    assert keep["monthly_cost"] == "$2,000.00" and keep["status"].startswith("Blocked: ")
    text = _plain(_section(response, "what-if-result"))
    assert "The model shuts down on 2027-03-01 (91 days)." in text or "the model shuts down on 2027-03-01 (91 days)" in text
    assert 'pl-advice-keep_prompting">Keep prompting</span>' in _section(response, "what-if-result")


def test_the_what_if_calculator_rejects_bad_input_on_the_field(admin_client):
    response = admin_client.post(admin_url("prompt", "what_if"), {**REFERENCE, "cached_input_share": "1.5"})

    assert response.status_code == 200
    assert "cached_input_share" in response.context["form"].errors


def test_the_what_if_form_lists_every_advisor_key():
    assert sorted(key for key, *_ in f.WHAT_IF_FIELDS) == sorted(advisor.WHAT_IF_ALL_KEYS)
    grouped = [name for _, names in f.WHAT_IF_FIELDSETS for name in names]
    assert sorted(grouped) == sorted(advisor.WHAT_IF_ALL_KEYS)


def test_the_admin_index_and_the_app_page_link_the_calculator(admin_client):
    for url in ("/admin/", "/admin/prompts_app/"):
        page = admin_client.get(url).content.decode()
        assert f'href="{admin_url("prompt", "what_if")}"' in page
        assert "Ledger and fine-tuning advice" in page


def test_the_alert_and_settings_lists_link_the_calculator(admin_client):
    for model in ("alert", "advisorsettings"):
        page = admin_client.get(admin_url(model, "changelist")).content.decode()
        assert f'href="{admin_url("prompt", "what_if")}"' in page


# --- the verdict elsewhere ------------------------------------------------------------------------


def test_the_prompt_list_shows_the_verdict_linking_to_the_advice(admin_client, triage, prompt):
    page = admin_client.get(admin_url("prompt", "changelist")).content.decode()

    link = f'class="pl-advice-badge pl-advice-keep_prompting" href="{admin_url("prompt", "advice", triage.pk)}"'
    assert link in page
    assert 'pl-advice-fine_tune"' not in page
    assert f'class="pl-advice-none" href="{admin_url("prompt", "advice", prompt.pk)}"' in page  # never evaluated


def test_the_prompt_list_filters_by_verdict(admin_client, triage, prompt):
    keep = admin_client.get(admin_url("prompt", "changelist") + "?advice_state__verdict=keep_prompting")
    tune = admin_client.get(admin_url("prompt", "changelist") + "?advice_state__verdict=fine_tune")

    assert [p.name for p in keep.context["cl"].result_list] == ["ticket-triage"]  # greeting was never evaluated
    assert list(tune.context["cl"].result_list) == []


def test_the_prompt_page_links_its_ledger_and_advice(admin_client, triage):
    page = admin_client.get(admin_url("prompt", "change", triage.pk)).content.decode()

    assert f'href="{admin_url("prompt", "advice", triage.pk)}" id="advice-link"' in page
    assert 'pl-advice-keep_prompting">Keep prompting</span>' in page


def test_the_demo_candidate_raised_no_fine_tune_alert_and_stored_why(triage):
    # The daily pass stored keep_prompting with the figures that still say the money works:
    # the shutdown, not the money, keeps it from fine_tune, so no "fine-tuning pays off" alert.
    expected = advice.prompt_advice(prompt=triage)
    state = AdviceState.objects.get(prompt=triage)

    assert state.verdict == "keep_prompting"
    assert {name: state.figures[name] for name in ["verdict", *expected["figures"]]} == {
        "verdict": "keep_prompting", **expected["figures"]}
    assert Decimal(state.figures["payback_months"]) <= 12  # within the horizon: only the date says no
    assert not Alert.objects.filter(prompt=triage, kind=Alert.KIND_FINE_TUNE).exists()


# --- reads through the selectors; nothing written on GET ----------------------------------------


def test_viewing_the_advice_creates_no_advisor_settings(admin_client, triage):
    AdvisorSettings.objects.filter(project=triage.project).delete()

    page = admin_client.get(admin_url("prompt", "advice", triage.pk)).content.decode()
    admin_client.get(admin_url("advisorsettings", "add") + f"?project={triage.project.pk}")

    assert not AdvisorSettings.objects.filter(project=triage.project).exists()
    assert "the defaults: none saved for this project yet" in page
    assert admin_url("advisorsettings", "add") + f"?project={triage.project.pk}" in page


def test_the_what_if_uses_the_shared_payback_schedule(admin_client, triage, monkeypatch):
    monkeypatch.setattr(advice_selectors, "PAYBACK_SCHEDULE_MONTHS", 7)
    for url in (admin_url("prompt", "what_if"), admin_url("prompt", "advice", triage.pk)):
        response = admin_client.post(url, REFERENCE)
        assert response.context["what_if"]["schedule_months"] == 7, url


def test_the_ledger_table_says_how_its_figures_are_worked_out(admin_client, triage):
    page = admin_client.get(admin_url("prompt", "advice", triage.pk)).content.decode()
    how = page[page.index('id="ledger-how"'):]
    how = how[: how.index("</details>")]
    for figure in ("Cost of one call", "Cost per call", "Cache hit ratio", "Uncached input"):
        assert f"<dt>{figure}</dt>" in how
    assert "cache writes × cache-write price" in how
