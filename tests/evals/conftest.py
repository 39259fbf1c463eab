"""Candidate-model eval runs: a prompt whose own model and candidate models have
round, made-up prices (so every cost is worked out by hand), a provider at the
local stand-in for OpenAI, and helpers to wait for a run on the real worker."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from prompts_app.models import EvalRun, ModelPrice, Prompt, PromptVersion, Provider
from prompts_app.services import library
from tests.factories import PromptFactory

OWN_MODEL = "house-model"  # the version's own model: $0.50 in, $1.50 out per 1M tokens
CANDIDATE = "cand-model"  # $1 in, $2 out per 1M tokens
UNPRICED = "cand-unpriced"  # not on the price sheet

# The suite: a text prompt "{{ ask }}", so the stand-in sees `ask` as the only
# (user) message and bills len(ask.split()) + 4 input tokens and
# len(reply.split()) output tokens.
CASES = [
    {"name": "json-a", "variables": {"ask": "give json a"},
     "assertions": [{"type": "is_json"}, {"type": "contains", "value": "a"}]},
    {"name": "json-b", "variables": {"ask": "give json b"}, "assertions": [{"type": "is_json"}]},
    {"name": "plain", "variables": {"ask": "say hi"}, "assertions": [{"type": "contains", "value": "hi"}]},
    {"name": "code", "variables": {"ask": "code please"},
     "assertions": [{"type": "regex", "pattern": r"^[A-Z]{3}-\d+$"}]},
]
GOOD_REPLIES = {"give json a": '{"k": "a"}', "give json b": '{"k": "b"}', "say hi": "hi there",
                "code please": "ABC-12"}
# One format failure (json-b), everything else passes: pass rate 3/4, format 2/3.
WORSE_REPLIES = {**GOOD_REPLIES, "give json b": "not json"}


def wait_for_run(run_id: int, timeout: float = 60.0) -> EvalRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = EvalRun.objects.get(pk=run_id)
        if run.is_finished:
            return run
        time.sleep(0.1)
    raise AssertionError(f"eval run {run_id} still {EvalRun.objects.get(pk=run_id).status} after {timeout} s")


def wait_for_runs_of(version: PromptVersion) -> list[EvalRun]:
    return [wait_for_run(run.pk) for run in EvalRun.objects.filter(prompt_version=version)]


def new_version(prompt: Prompt, template: str = "{{ ask }}", **kwargs) -> PromptVersion:
    kwargs.setdefault("model_config", {"model": OWN_MODEL})
    return library.prompt_version_create(prompt=prompt, template=template, author="tester", **kwargs)


def price(project, model: str, input_per_1m: str, output_per_1m: str) -> ModelPrice:
    return ModelPrice.objects.create(
        project=project, model=model, effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        input_per_1m=Decimal(input_per_1m), output_per_1m=Decimal(output_per_1m),
    )


@pytest.fixture
def prices(acme):
    return [price(acme, OWN_MODEL, "0.50", "1.50"), price(acme, CANDIDATE, "1", "2")]


@pytest.fixture
def provider(acme, fake_openai) -> Provider:
    return Provider.objects.create(project=acme, name="fake", base_url=fake_openai.base_url,
                                   model="provider-default", timeout_seconds=2.0, max_retries=1)


@pytest.fixture
def ask(acme) -> Prompt:
    return PromptFactory(project=acme, name="ask", kind=Prompt.KIND_TEXT)
