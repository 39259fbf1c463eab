"""The bundled, dated default catalogue (fixtures/model_prices.json) and its seeding."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from prompts_app.models import ModelPrice
from prompts_app.services import pricing

SHEET = pricing.load_price_sheet()
MODELS = {entry["model"]: entry for entry in SHEET["models"]}


def test_every_bundled_row_names_its_source_and_date():
    for entry in SHEET["models"]:
        assert entry["source"].strip(), entry["model"]
        dt.date.fromisoformat(entry["source_date"])
        for sourced, source in (
            ("min_cacheable_tokens", "caching_source"),
            ("batch_multiplier", "tiers_source"),
            ("flex_multiplier", "tiers_source"),
            ("shutdown_date", "lifecycle_source"),
            ("training_available_until", "lifecycle_source"),
        ):
            if entry.get(sourced) is not None:
                assert (entry.get(source) or "").strip(), f"{entry['model']}: {sourced} without {source}"


def test_every_tunable_row_has_a_training_price_and_its_own_dated_source():
    tunable = [entry for entry in SHEET["models"] if entry.get("fine_tune")]
    assert len(tunable) >= 7
    for entry in tunable:
        fine_tune = entry["fine_tune"]
        # Reinforcement fine-tuning is billed by the hour, not per token.
        assert fine_tune.get("training") is not None or fine_tune.get("training_per_hour") is not None
        assert fine_tune["source"].strip() and dt.date.fromisoformat(fine_tune["source_date"])
        assert (entry.get("lifecycle_source") or "").strip(), entry["model"]


def test_openai_self_serve_training_ends_2027_01_06_on_every_openai_tunable_row():
    for entry in SHEET["models"]:
        if entry["provider"] == "openai" and entry.get("fine_tune"):
            assert entry["training_available_until"] == "2027-01-06", entry["model"]
            assert "2027-01-06" in entry["lifecycle_source"]


def test_openai_shutdown_dates_are_the_published_ones():
    expected = {
        "gpt-4o": "2027-01-14", "gpt-4o-mini": "2027-01-14", "gpt-4.1": "2027-01-14",
        "gpt-4.1-mini": "2027-01-14", "gpt-4.1-nano": "2026-10-23", "gpt-5": "2026-12-11",
        "gpt-5-mini": "2026-12-11",
    }
    assert {model: MODELS[model]["shutdown_date"] for model in expected} == expected


def test_two_providers_besides_openai_offer_fine_tuning_with_sourced_prices():
    others = {e["provider"] for e in SHEET["models"] if e.get("fine_tune") and e["provider"] != "openai"}
    assert "fireworks" in others
    fireworks = MODELS["accounts/fireworks/models/llama-v3p1-8b-instruct"]["fine_tune"]
    # $8.00 per H100-hour × 730 hours = $5,840.00 a month; LoRA SFT up to 16B: $0.50 per 1M tokens.
    assert fireworks["hosting_per_month"] == Decimal("5840.0")
    assert fireworks["training"] == Decimal("0.5")
    assert "fireworks.ai/pricing" in fireworks["source"]
    assert "together" in others
    together = MODELS["Qwen/Qwen3.5-9B"]["fine_tune"]
    # $3.99 per H100-hour × 730 hours = $2,912.70 a month; LoRA SFT up to 16B: $0.48 per 1M.
    assert together["hosting_per_month"] == Decimal("2912.70")
    assert together["training"] == Decimal("0.48")
    assert "together.ai/pricing" in together["source"]


def test_seeding_copies_prices_caching_tiers_and_lifecycle(empty_project):
    added = pricing.price_sheet_seed(project=empty_project)

    assert added == len(SHEET["models"])
    mini = ModelPrice.objects.get(project=empty_project, model="gpt-4o-mini")
    assert (mini.input_per_1m, mini.cached_input_per_1m, mini.output_per_1m) == (
        Decimal("0.15"), Decimal("0.075"), Decimal("0.6"))
    assert mini.min_cacheable_tokens == 1024
    assert mini.batch_multiplier == Decimal("0.5") and mini.flex_multiplier is None
    assert (mini.ft_input_per_1m, mini.ft_output_per_1m, mini.training_per_1m) == (
        Decimal("0.3"), Decimal("1.2"), Decimal("3"))
    assert mini.training_available_until == dt.date(2027, 1, 6)
    assert mini.shutdown_date == dt.date(2027, 1, 14)
    assert "self-serve fine-tuning" in mini.lifecycle_source
    assert mini.source_date == dt.date(2026, 8, 20)
    assert "Fine-tuning: OpenAI pricing page" in mini.source and "Caching:" in mini.source
    assert mini.effective_from == dt.datetime(2026, 8, 20, tzinfo=dt.UTC)

    sonnet = ModelPrice.objects.get(project=empty_project, model="claude-sonnet-4-5-20250929")
    assert (sonnet.cache_write_per_1m, sonnet.cache_write_1h_per_1m, sonnet.min_cacheable_tokens) == (
        Decimal("3.75"), Decimal("6"), 1024)

    fireworks = ModelPrice.objects.get(project=empty_project, model="accounts/fireworks/models/llama-v3p1-8b-instruct")
    assert fireworks.ft_hosting_per_month == Decimal("5840.00")
    assert (fireworks.ft_input_per_1m, fireworks.training_per_1m) == (Decimal("0"), Decimal("0.5"))


def test_seeding_again_keeps_what_the_project_has(empty_project):
    pricing.price_sheet_seed(project=empty_project)
    ModelPrice.objects.filter(project=empty_project, model="gpt-4o-mini").update(input_per_1m=Decimal("0.2"))

    assert pricing.price_sheet_seed(project=empty_project) == 0
    assert ModelPrice.objects.get(project=empty_project, model="gpt-4o-mini").input_per_1m == Decimal("0.2")


def test_the_bundled_import_brings_an_old_copy_up_to_date(empty_project):
    pricing.price_sheet_seed(project=empty_project)
    # A project seeded before the catalogue had lifecycle dates.
    ModelPrice.objects.filter(project=empty_project, model="gpt-4o").update(
        shutdown_date=None, training_available_until=None, lifecycle_source="")

    report = pricing.catalogue_import_bundled(project=empty_project)

    assert report.updated == ["gpt-4o"] and not report.added
    assert ModelPrice.objects.get(project=empty_project, model="gpt-4o").shutdown_date == dt.date(2027, 1, 14)
