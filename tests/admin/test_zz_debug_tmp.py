import pytest
from tests.admin.test_browser import browser, _screenshot  # noqa
from tests.admin.conftest import V1, V2
from tests.factories import PromptFactory, make_version
from prompts_app import services
from prompts_app.models import Prompt

@pytest.mark.browser
def test_shots(live_server, browser, django_user_model, monkeypatch):
    from selenium.webdriver.common.by import By
    django_user_model.objects.create_superuser("ada", "a@x.com", "pw-pw-pw-pw")
    project, _ = services.project_get_or_create(name="acme")
    es = services.example_set_create(project=project, name="greetings")
    esv = services.example_set_version_create(example_set=es, examples=[
        {"input": {"name": "Linus", "company": "Initech"}, "output": "Hi Linus!\nWelcome.", "tags": ["short"], "approved": True},
        {"input": "Say hello to Bob", "output": "Hello Bob.", "approved": False}], message="Two examples", author="ada")
    p = PromptFactory(project=project, name="greeting")
    make_version(p, V1, message="first")
    make_version(p, V2, message="second", example_set_version=esv, model_config={"model": "gpt-4o-mini", "temperature": 0.2})
    c = PromptFactory(project=project, name="support-chat", kind=Prompt.KIND_CHAT)
    make_version(c, message="First chat")
    services.prompt_update(prompt=p, protect_production=True)
    u = live_server.url
    browser.get(u + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("pw-pw-pw-pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.find_element(By.LINK_TEXT, "Prompts")
    browser.get(u + f"/admin/prompts_app/exampleset/{es.pk}/change/"); _screenshot(browser, "x-es-rows")
    browser.get(u + f"/admin/prompts_app/exampleset/{es.pk}/change/?mode=json"); _screenshot(browser, "x-es-json")
    browser.get(u + f"/admin/prompts_app/prompt/{p.pk}/promote/?version=2")
    browser.find_element(By.NAME, "reason").send_keys("Ship it")
    browser.find_element(By.NAME, "_promote").click(); _screenshot(browser, "x-promote-refused")
    browser.get(u + f"/admin/prompts_app/prompt/{c.pk}/change/"); _screenshot(browser, "x-chat-page")
    browser.get(u + f"/admin/prompts_app/prompt/{c.pk}/preview/")
    browser.find_element(By.NAME, "var__company").send_keys("Acme")
    browser.find_element(By.NAME, "_render").click(); _screenshot(browser, "x-chat-preview")
    browser.get(u + f"/admin/prompts_app/prompt/{p.pk}/change/")
    body = browser.find_element(By.NAME, "body"); body.clear(); body.send_keys("Hello {{ name }\n")
    browser.find_element(By.NAME, "_continue").click(); _screenshot(browser, "x-syntax-error")
    browser.get(u + f"/admin/prompts_app/prompt/{p.pk}/preview/")
    browser.find_element(By.NAME, "_render").click(); _screenshot(browser, "x-preview-error")
    browser.get(u + "/admin/prompts_app/promptversion/"); _screenshot(browser, "x-versions-list")
    browser.get(u + f"/admin/prompts_app/promptversion/{p.versions.get(number=2).pk}/change/"); _screenshot(browser, "x-version-page")
    browser.get(u + f"/admin/prompts_app/examplesetversion/{esv.pk}/change/"); _screenshot(browser, "x-esv-page")
    browser.get(u + "/admin/prompts_app/prompt/add/"); _screenshot(browser, "x-prompt-add")
    browser.get(u + "/admin/prompts_app/apikey/add/")
    browser.find_element(By.CSS_SELECTOR, "select[name=project] option[value='%d']" % project.pk).click()
    browser.find_element(By.NAME, "name").send_keys("bot")
    browser.find_element(By.NAME, "_save").click(); _screenshot(browser, "x-key-created")
    browser.get(u + "/admin/prompts_app/apikey/"); _screenshot(browser, "x-key-list")
    browser.get(u + f"/admin/prompts_app/prompt/{p.pk}/diff/?from=1&to=2"); _screenshot(browser, "x-diff-all")
