"""Importing LiteLLM's price map: a real published file (fixtures/litellm/, see SOURCE.md).

The expected figures below were read by hand from that file and converted per
token → per 1M tokens (× 1,000,000).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from prompts_app.models import ModelPrice
from prompts_app.services import pricing

AS_OF = dt.date(2026, 11, 30)
SOURCE = "LiteLLM 1.110.2 model_prices_and_context_window.json (fixtures/litellm/)"


def run(project, data, **kwargs):
    return pricing.catalogue_import_litellm(project=project, data=data, as_of=AS_OF, source=SOURCE, **kwargs)


def row(project, model):
    return ModelPrice.objects.get(project=project, model=model, effective_from__date=AS_OF)


def snapshot(project):
    return sorted(ModelPrice.objects.filter(project=project).values_list(
        "model", "effective_from", *pricing.CATALOGUE_FIELDS, "source", "lifecycle_source"))


def test_gpt_4o_mini_is_imported_exactly_as_the_file_says(empty_project, litellm_data):
    # "gpt-4o-mini": input_cost_per_token 1.5e-07, cache_read_input_token_cost 7.5e-08,
    # output_cost_per_token 6e-07, input/output_cost_per_token_batches 7.5e-08 / 3e-07,
    # deprecation_date "2027-01-14"; "ft:gpt-4o-mini-2024-07-18": 3e-07 / 1.5e-07 / 1.2e-06.
    run(empty_project, litellm_data)

    mini = row(empty_project, "gpt-4o-mini")
    assert mini.provider == "openai"
    assert mini.input_per_1m == Decimal("0.150000")
    assert mini.cached_input_per_1m == Decimal("0.075000")
    assert mini.output_per_1m == Decimal("0.600000")
    assert mini.cache_write_per_1m is None  # no write fee before GPT-5.6
    assert mini.batch_multiplier == Decimal("0.5000")  # 7.5e-08 / 1.5e-07 and 3e-07 / 6e-07
    assert mini.flex_multiplier is None
    assert mini.shutdown_date == dt.date(2027, 1, 14)
    assert "developers.openai.com/api/docs/deprecations" in mini.lifecycle_source
    # The only tunable snapshot of the alias gives its tuned prices.
    assert (mini.ft_input_per_1m, mini.ft_cached_input_per_1m, mini.ft_output_per_1m) == (
        Decimal("0.300000"), Decimal("0.150000"), Decimal("1.200000"))
    assert mini.training_per_1m is None  # LiteLLM has no training prices
    assert mini.source_date == AS_OF and "entry 'gpt-4o-mini'" in mini.source
    assert "entry 'ft:gpt-4o-mini-2024-07-18'" in mini.source


def test_an_anthropic_model_keeps_both_cache_write_prices(empty_project, litellm_data):
    # "claude-sonnet-4-5-20250929": input 3e-06, cache_read 3e-07, cache_creation 3.75e-06,
    # cache_creation_input_token_cost_above_1hr 6e-06, output 1.5e-05, batches 1.5e-06 / 7.5e-06,
    # prompt_cache_min_tokens 1024, deprecation_date "2026-11-30".
    run(empty_project, litellm_data)

    sonnet = row(empty_project, "claude-sonnet-4-5-20250929")
    assert (sonnet.input_per_1m, sonnet.cached_input_per_1m, sonnet.output_per_1m) == (
        Decimal("3.000000"), Decimal("0.300000"), Decimal("15.000000"))
    assert sonnet.cache_write_per_1m == Decimal("3.750000")
    assert sonnet.cache_write_1h_per_1m == Decimal("6.000000")
    assert sonnet.min_cacheable_tokens == 1024
    assert sonnet.batch_multiplier == Decimal("0.5")
    assert sonnet.shutdown_date == dt.date(2026, 11, 30)


def test_an_ft_entry_gives_the_tuned_prices_of_its_base_model(empty_project, litellm_data):
    # "ft:gpt-4.1-mini-2025-04-14": input 8e-07, cache_read 2e-07, output 3.2e-06.
    run(empty_project, litellm_data)

    snapshot_row = row(empty_project, "gpt-4.1-mini-2025-04-14")
    alias_row = row(empty_project, "gpt-4.1-mini")
    for tuned in (snapshot_row, alias_row):
        assert (tuned.ft_input_per_1m, tuned.ft_cached_input_per_1m, tuned.ft_output_per_1m) == (
            Decimal("0.800000"), Decimal("0.200000"), Decimal("3.200000"))
    # gpt-4o has two tunable snapshots (2024-08-06 and 2024-11-20): its alias gets neither.
    assert row(empty_project, "gpt-4o").ft_input_per_1m is None
    assert row(empty_project, "gpt-4o-2024-11-20").ft_input_per_1m == Decimal("3.750000")
    assert not ModelPrice.objects.filter(model__startswith="ft:").exists()


def test_tiers_and_provider_prefixes(empty_project, litellm_data):
    run(empty_project, litellm_data)

    luna = row(empty_project, "gpt-5.6-luna")  # cache_creation 2.5e-07; *_flex and *_batches at half
    assert (luna.cache_write_per_1m, luna.flex_multiplier, luna.batch_multiplier) == (
        Decimal("0.250000"), Decimal("0.5"), Decimal("0.5"))
    fireworks = row(empty_project, "accounts/fireworks/models/llama-v3p1-8b-instruct")  # 1e-07 / 1e-07
    assert fireworks.provider == "fireworks" and fireworks.input_per_1m == Decimal("0.100000")
    assert row(empty_project, "gemini-2.5-flash").provider == "google"


def test_the_report_counts_what_was_added_and_why_the_rest_was_skipped(empty_project, litellm_data):
    report = run(empty_project, litellm_data)

    chat = [k for k, v in litellm_data.items() if k != "sample_spec" and v.get("mode") == "chat"]
    tuned = [k for k in chat if k.startswith("ft:")]
    assert report.counts["added"] == ModelPrice.objects.filter(project=empty_project).count()
    skipped_chat = [e for e, _ in report.skipped if e in chat and e not in tuned]
    assert report.counts["added"] + len(skipped_chat) == len(chat) - len(tuned)
    reasons = report.skipped_by_reason()
    assert reasons["not a chat model"] == len(litellm_data) - 1 - len(chat)
    assert "sample_spec" not in {entry for entry, _ in report.skipped}
    assert ("gemini/gemini-flash-latest", "duplicate model name: entry 'gemini-flash-latest' kept") in report.skipped


def test_importing_the_same_file_again_changes_nothing(empty_project, litellm_data):
    run(empty_project, litellm_data)
    before = snapshot(empty_project)

    again = run(empty_project, litellm_data)

    assert again.counts["added"] == again.counts["updated"] == 0
    assert again.counts["unchanged"] == len(before)
    assert snapshot(empty_project) == before


def test_an_import_adds_rows_only_for_changes_and_keeps_history(seeded_project, litellm_data):
    before = ModelPrice.objects.filter(project=seeded_project).count()

    report = run(seeded_project, litellm_data, providers=["openai"])

    # gpt-4o-mini's offer is what the bundled row already says: no new row.
    assert "gpt-4o-mini" in report.unchanged
    assert ModelPrice.objects.filter(project=seeded_project, model="gpt-4o-mini").count() == 1
    # gpt-5.6-sol's price changed (5 → 4 input): a new row from as_of, the old one kept.
    old, new = ModelPrice.objects.filter(project=seeded_project, model="gpt-5.6-sol").order_by("effective_from")
    assert (old.input_per_1m, new.input_per_1m) == (Decimal("5"), Decimal("4.000000"))
    assert new.min_cacheable_tokens == 1024  # not in the file: carried over from the bundled row
    assert "min_cacheable_tokens" in report.carried["gpt-5.6-sol"]
    assert "Carried over from the row of 2026-08-20" in new.source
    assert ModelPrice.objects.filter(project=seeded_project).count() == before + len(report.added)


def test_lifecycle_and_training_the_file_lacks_are_carried_over(seeded_project, litellm_data):
    # Make the bundled gpt-4o-mini row differ from the file, so the import adds a row.
    ModelPrice.objects.filter(project=seeded_project, model="gpt-4o-mini").update(input_per_1m=Decimal("0.2"))

    run(seeded_project, litellm_data, providers=["openai"])

    new = row(seeded_project, "gpt-4o-mini")
    assert new.input_per_1m == Decimal("0.150000")
    assert new.training_available_until == dt.date(2027, 1, 6)
    assert new.training_per_1m == Decimal("3")
    assert new.shutdown_date == dt.date(2027, 1, 14)  # from the file itself
    assert "self-serve fine-tuning" in new.lifecycle_source  # the carried training cut-off's source
    assert "deprecation_date" in new.lifecycle_source


def test_a_row_of_the_same_date_is_updated(empty_project, litellm_data):
    run(empty_project, litellm_data, providers=["anthropic"])
    changed = copy.deepcopy(litellm_data)
    changed["claude-sonnet-4-5-20250929"]["output_cost_per_token"] = 1.6e-05

    report = run(empty_project, changed, providers=["anthropic"])

    assert report.updated == ["claude-sonnet-4-5-20250929"]
    assert row(empty_project, "claude-sonnet-4-5-20250929").output_per_1m == Decimal("16.000000")


def test_a_price_the_catalogue_cannot_hold_exactly_is_refused_not_rounded(empty_project):
    data = {
        "noisy": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 9.499999999999999e-07,
                  "output_cost_per_token": 1e-06},
        "clean": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
                  "output_cost_per_token": 2e-06},
    }

    report = run(empty_project, data)

    assert report.added == ["clean"]
    assert report.skipped[0][0] == "noisy" and "not representable" in report.skipped[0][1]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"input_cost_per_token": -1e-06}, "'bad-model': input_cost_per_token is -1e-06"),
        ({"input_cost_per_token": "free"}, "'bad-model': input_cost_per_token is 'free'"),
        ({"output_cost_per_token": True}, "'bad-model': output_cost_per_token is True"),
        ({"deprecation_date": "soon"}, "'bad-model': deprecation_date is 'soon'"),
    ],
)
def test_bad_entries_are_refused_with_their_name_and_nothing_is_stored(empty_project, entry, message):
    good = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06}
    data = {"good-model": dict(good), "bad-model": {**good, **entry}}

    with pytest.raises(pricing.PriceImportError) as caught:
        run(empty_project, data)

    assert message in caught.value.message and "nothing was stored" in caught.value.message
    assert not ModelPrice.objects.filter(project=empty_project).exists()


def test_a_file_that_is_not_a_price_map_is_refused(empty_project, tmp_path):
    with pytest.raises(pricing.PriceImportError, match="not an object"):
        run(empty_project, {"a-model": [1, 2]})
    with pytest.raises(pricing.PriceImportError, match="JSON object"):
        run(empty_project, ["not", "a", "map"])
    broken = tmp_path / "prices.json"
    broken.write_text('{"gpt-4o": {"input_cost_per_token": ')
    with pytest.raises(pricing.PriceImportError, match="not valid JSON"):
        pricing.litellm_file_load(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(pricing.PriceImportError, match="holds a JSON list"):
        pricing.litellm_file_load(listed)
    assert not ModelPrice.objects.exists()
