"""Admin test setup: a text prompt with two versions, a chat prompt, an example
set, an eval suite with a provider, the demo's fine-tuning candidate with its
usage, and helpers that post an admin form the way a browser would and carry an
eval run through its real steps without a worker."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from prompts_app.lib import assertions as checks
from prompts_app.lib.tokens import count_text_tokens
from prompts_app.management import demo
from prompts_app.models import EvalCaseResult, EvalRun, ModelPrice, Prompt, PromptVersion, Provider
from prompts_app.services import advice, evals, library
from prompts_app.services.pricing import call_cost
from tests.factories import PromptFactory, make_version


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every admin test logs a user in; the production hasher costs a fifth of a
    # second per user, which is most of this suite's run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


V1 = "Hello {{ name }}, welcome to {{ company }}."
V2 = "Hello {{ name }}!\nWelcome to {{ company }}.\nHow can we help?"


def admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:prompts_app_{model}_{view}", args=args)


def form_data(form, **changes) -> dict:
    """What a browser would post for `form` as the page shows it, with `changes`.

    A change of None leaves the field out (an unchecked checkbox)."""
    data = {}
    for bound in form:
        value = bound.value()
        if bound.widget_type == "checkbox":
            if value:
                data[bound.html_name] = "on"
            continue
        if isinstance(value, (list, tuple)):
            data[bound.html_name] = [str(v) for v in value]
        else:
            data[bound.html_name] = "" if value is None else str(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def page_form(client, url, context_key="adminform"):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    found = response.context[context_key]
    return getattr(found, "form", found)


@pytest.fixture
def prompt(acme) -> Prompt:
    """acme/greeting: v1 then v2 (the latest)."""
    prompt = PromptFactory(project=acme, name="greeting", description="Greets a customer.")
    make_version(prompt, V1, message="First greeting", author="ada")
    make_version(prompt, V2, message="Ask how we can help", author="grace")
    prompt.refresh_from_db()
    return prompt


@pytest.fixture
def example_set(acme):
    example_set = library.example_set_create(project=acme, name="greetings", description="Greeting pairs")
    library.example_set_version_create(
        example_set=example_set,
        examples=[
            {"input": {"name": "Linus", "company": "Initech"}, "output": "Hi Linus!", "tags": ["short"],
             "approved": True},
            {"input": "Say hello to Bob", "output": "Hello Bob.", "tags": [], "approved": False},
        ],
        message="Two examples",
        author="ada",
    )
    example_set.refresh_from_db()
    return example_set


@pytest.fixture
def chat_prompt(acme) -> Prompt:
    prompt = PromptFactory(project=acme, name="support-chat", kind=Prompt.KIND_CHAT)
    make_version(prompt, message="First chat")
    prompt.refresh_from_db()
    return prompt


# --- evals ---------------------------------------------------------------------------

CASES = [
    {"name": "ada", "variables": {"name": "Ada", "company": "Acme"}, "expected_output": "Hello Ada!",
     "assertions": [{"type": "contains", "value": "Ada"}, {"type": "max_tokens", "value": 20}]},
    {"name": "json-reply", "variables": {"name": "Bo", "company": "Initech"},
     "expected_output": '{"greeting": "Hi Bo"}', "assertions": [{"type": "is_json"}]},
]
RESULT_INPUT_TOKENS = 20  # what the "provider" reports for every call in these tests


@pytest.fixture
def provider(acme) -> Provider:
    # Nothing listens there: no test here calls a model.
    return Provider.objects.create(project=acme, name="fake", base_url="http://127.0.0.1:9/v1",
                                   model="gpt-4o-mini", api_key_env="FAKE_API_KEY")


@pytest.fixture
def suite(prompt, provider):
    """greeting's suite: two cases, each run twice against gpt-4o-mini."""
    return evals.eval_suite_update(prompt=prompt, cases=CASES, repeats=2, provider="fake")


def version_of(prompt: Prompt, number: int) -> PromptVersion:
    return PromptVersion.objects.get(prompt=prompt, number=number)


def finished_run(version: PromptVersion, outputs: dict[str, list[str | None]], *,
                 requested_by: str = "ada") -> EvalRun:
    """A manual run of the suite as it is now, carried through the real steps
    (static checks, one result per case and repeat, finalize) with `outputs` as
    the model's answers per case and repeat (None: the provider failed).

    Repeat r answers in 300 + 100·r ms with RESULT_INPUT_TOKENS input tokens."""
    run = evals.eval_run_request(version=version, requested_by=requested_by)
    evals.eval_run_start(run_id=run.pk)
    price = ModelPrice.objects.in_force(project=version.prompt.project, model=run.provider["model"])
    for case in run.cases:
        for repeat, output in enumerate(outputs[case["name"]]):
            result = EvalCaseResult(run=run, case_name=case["name"], repeat_index=repeat)
            if output is None:
                result.status, result.error = EvalCaseResult.ERROR, "provider failed: HTTP 503 after 3 retries"
            else:
                verdicts = [checks.check(output, a, case["expected_output"]) for a in case["assertions"]]
                result.output = output
                result.latency_ms = 300 + 100 * repeat
                result.input_tokens = RESULT_INPUT_TOKENS
                result.output_tokens = count_text_tokens(output)
                if price is not None:  # an unpriced model's calls have no cost, as in evals.eval_case_execute
                    result.cost = call_cost(price, input_tokens=result.input_tokens,
                                            output_tokens=result.output_tokens)
                result.assertions = [v.as_dict() for v in verdicts]
                result.status = EvalCaseResult.PASSED if all(v.passed for v in verdicts) else EvalCaseResult.FAILED
            result.save()
    finished = evals.eval_run_finalize(run_id=run.pk)
    assert finished.is_finished, "every case needs one output per repeat"
    return finished


GOOD_OUTPUTS = {"ada": ["Hello Ada!", "Hello Ada!"], "json-reply": ['{"greeting": "Hi Bo"}'] * 2}
MIXED_OUTPUTS = {
    "ada": ["Hello Ada! How can we help?", "Hi there"],  # the second misses "Ada"
    "json-reply": ['{"greeting": "Hi Bo"}', "Sure! Here is your JSON."],  # the second is not JSON
}


# --- fine-tuning advice ------------------------------------------------------------------


@pytest.fixture
def triage(db) -> Prompt:
    """The demo's fine-tuning candidate, made by the same demo code demo_setup
    runs but without the rest of the demo (so the random daily volumes differ a
    little from the full demo's): demo/ticket-triage with 600 approved examples,
    stable since October, 60 days of usage, and the daily advice pass run once
    (so it has an AdviceState and one alert)."""
    project, _ = library.project_get_or_create(name="demo")
    prompt = demo.triage_prompt_create(project)
    demo.usage_generate(project)
    advice.advice_pass_all()
    return prompt


# --- the browser -----------------------------------------------------------------------


@pytest.fixture
def browser():
    """Headless Debian chromium through Selenium, with a throwaway profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.admin.chromium import CHROMEDRIVER, CHROMIUM, WIDTH

    profile = tempfile.mkdtemp(prefix="pl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Where the browser tests of the admin's workplace save their screenshots.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
PASSWORD = "correct horse battery"


@pytest.fixture
def shots(monkeypatch):
    """chromium.screenshot, into test-artifacts/admin/."""
    from tests.admin import chromium

    monkeypatch.setattr(chromium, "SCREENSHOTS", ARTIFACTS)
    return chromium.screenshot


@pytest.fixture
def page(live_server, browser, django_user_model):
    """The browser, logged in as the superuser ada; `page.open(path)` opens an admin URL."""
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("ada", "ada@example.com", PASSWORD)
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.ID, "user-tools")
    browser.open = lambda path: browser.get(live_server.url + path)
    return browser


# --- page layout in the browser ------------------------------------------------------


def set_inner_width(browser, width: int, height: int = 1000) -> None:
    """Size the window so the page itself (window.innerWidth) is `width` px wide."""
    browser.set_window_size(width, height)
    inner, outer = browser.execute_script("return [window.innerWidth, window.outerWidth]")
    if inner != width:
        browser.set_window_size(width + (outer - inner), height)
    assert browser.execute_script("return window.innerWidth") == width


def page_overflow(browser) -> dict:
    """How far the page scrolls sideways, and the widest elements that stick out."""
    return browser.execute_script("""
        const limit = window.innerWidth;
        const wide = [];
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          if (r.right > limit + 1 && r.width > 0) {
            wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                      + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
                      + ' right=' + Math.round(r.right));
          }
        }
        return {scroll: document.documentElement.scrollWidth, inner: limit, wide: wide.slice(0, 8)};
    """)
