"""`manage.py import_prices`, end to end."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from prompts_app.models import ModelPrice

from .conftest import LITELLM_FIXTURE


def import_prices(*args):
    out, err = StringIO(), StringIO()
    call_command("import_prices", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_imports_the_litellm_fixture_and_prints_a_summary_table(empty_project):
    out, err = import_prices("--project", "empty", "--litellm", str(LITELLM_FIXTURE), "--as-of", "2026-11-30",
                             "--source", "LiteLLM 1.110.2 (fixtures/litellm/)")

    added = ModelPrice.objects.filter(project=empty_project).count()
    assert added > 500
    assert f"Reading {LITELLM_FIXTURE}" in err and "as of 2026-11-30" in err
    assert "Catalogue of 'empty' from LiteLLM 1.110.2 (fixtures/litellm/)" in out
    assert "result      count  meaning" in out
    assert f"added      {added:>6}" in out
    assert "skipped, by reason:" in out and "not a chat model" in out
    gpt = ModelPrice.objects.get(project=empty_project, model="gpt-4o-mini")
    assert gpt.effective_from == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    assert gpt.source.startswith("LiteLLM 1.110.2 (fixtures/litellm/), entry 'gpt-4o-mini'")


def test_the_command_can_limit_the_import_to_some_providers(empty_project):
    import_prices("--project", "empty", "--litellm", str(LITELLM_FIXTURE), "--as-of", "2026-11-30",
                  "--provider", "anthropic")

    assert set(ModelPrice.objects.filter(project=empty_project).values_list("provider", flat=True)) == {"anthropic"}


def test_the_bundled_catalogue_on_a_seeded_project_changes_nothing(seeded_project):
    before = ModelPrice.objects.filter(project=seeded_project).count()

    out, _ = import_prices("--project", "seeded", "--bundled")

    assert "added           0" in out and "updated         0" in out
    assert f"unchanged  {before:>6}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "nope", "--bundled"], "No project named 'nope'. Check the name, or create the project"),
        (["--project", "empty", "--litellm", str(LITELLM_FIXTURE)], "--as-of YYYY-MM-DD is required with --litellm"),
        (["--project", "empty", "--litellm", str(LITELLM_FIXTURE), "--as-of", "30/11/2026"],
         "--as-of '30/11/2026' is not a date; use YYYY-MM-DD."),
        (["--project", "empty", "--litellm", "/nonexistent/prices.json", "--as-of", "2026-11-30"],
         "No such file: /nonexistent/prices.json."),
        (["--project", "empty", "--bundled", "--as-of", "2026-11-30"], "apply to --litellm only"),
    ],
)
def test_mistakes_are_explained(empty_project, args, message):
    with pytest.raises(CommandError) as caught:
        import_prices(*args)

    assert message in str(caught.value)
    assert not ModelPrice.objects.filter(project=empty_project).exists()


def test_a_broken_file_is_refused_and_nothing_is_stored(empty_project, tmp_path):
    broken = tmp_path / "prices.json"
    broken.write_text('{"gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": -1,'
                      ' "output_cost_per_token": 1e-06}}')

    with pytest.raises(CommandError, match="Entry 'gpt-4o': input_cost_per_token is -1"):
        import_prices("--project", "empty", "--litellm", str(broken), "--as-of", "2026-11-30")

    assert not ModelPrice.objects.filter(project=empty_project).exists()
