import pytest
from selenium.webdriver.common.by import By
from prompts_app import evals, services
from prompts_app.models import Provider, ModelPrice, UsageEvent
from django.utils import timezone
from tests.admin.conftest import CASES, GOOD_OUTPUTS, MIXED_OUTPUTS, finished_run
from tests.admin.test_browser import browser, _screenshot  # noqa
from tests.factories import PromptFactory, make_version

pytestmark = [pytest.mark.browser]

def test_shots(live_server, browser, django_user_model):
    django_user_model.objects.create_superuser("ada", "ada@example.com", "pw")
    project, _ = services.project_get_or_create(name="acme")
    prompt = PromptFactory(project=project, name="greeting")
    make_version(prompt, "Hello {{ name }}, welcome to {{ company }}.", author="ada")
    make_version(prompt, "Hello {{ name }}!\nWelcome to {{ company }}.", author="ada")
    Provider.objects.create(project=project, name="fake", base_url="http://127.0.0.1:9/v1", model="gpt-4o-mini", api_key_env="OPENAI_API_KEY")
    suite = evals.eval_suite_update(prompt=prompt, cases=CASES, repeats=2, provider="fake")
    finished_run(prompt.versions.get(number=1), GOOD_OUTPUTS)
    finished_run(prompt.versions.get(number=2), {**MIXED_OUTPUTS, "ada": ["Hello Ada! " + "We are here to help you with anything. " * 8, None]})
    price = ModelPrice.objects.filter(project=project, model="gpt-4o-mini").first()
    UsageEvent.objects.create(project=project, event_id="e1", prompt=prompt, version_number=1, model="gpt-4o-mini",
        input_tokens=1000, output_tokens=100, occurred_at=timezone.now(), priced=True, cost_pico=210_000_000)
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    for name, url in [("s1-prompt", f"/admin/prompts_app/prompt/{prompt.pk}/change/"),
                      ("s2-suite", f"/admin/prompts_app/evalsuite/{suite.pk}/change/"),
                      ("s3-provider-add", "/admin/prompts_app/provider/add/"),
                      ("s4-price", f"/admin/prompts_app/modelprice/{price.pk}/change/"),
                      ("s5-runs", "/admin/prompts_app/evalrun/"),
                      ("s6-versions", "/admin/prompts_app/promptversion/"),
                      ("s7-providers", "/admin/prompts_app/provider/"),
                      ("s8-prices", "/admin/prompts_app/modelprice/"),
                      ("s9-v2", f"/admin/prompts_app/promptversion/{prompt.versions.get(number=2).pk}/change/")]:
        browser.get(live_server.url + url)
        _screenshot(browser, name)
    # a bad assertion in the suite editor
    browser.get(live_server.url + f"/admin/prompts_app/evalsuite/{suite.pk}/change/")
    area = browser.find_element(By.NAME, "case-1-assertions")
    area.clear(); area.send_keys('[{"type": "regex", "pattern": "("}]')
    browser.find_element(By.NAME, "_continue").click()
    _screenshot(browser, "s10-suite-error")
