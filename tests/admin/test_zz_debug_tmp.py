import base64, time
import pytest
from tests.admin.test_browser import browser  # noqa
from tests.factories import PromptFactory, make_version
from prompts_app import services

@pytest.mark.browser
def test_shot(live_server, browser, django_user_model):
    from selenium.webdriver.common.by import By
    django_user_model.objects.create_superuser("ada", "a@x.com", "pw-pw-pw-pw")
    project, _ = services.project_get_or_create(name="acme")
    p = PromptFactory(project=project, name="greeting")
    make_version(p, "Hello {{ name }}")
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("ada")
    browser.find_element(By.NAME, "password").send_keys("pw-pw-pw-pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.get(live_server.url + f"/admin/prompts_app/prompt/{p.pk}/change/")
    browser.execute_script("document.getElementById('fieldset-0-1-heading').scrollIntoView()")
    time.sleep(0.5)
    browser.save_screenshot("/tmp/shot_viewport.png")
    data = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    open("/tmp/shot_full.png", "wb").write(base64.b64decode(data["data"]))
