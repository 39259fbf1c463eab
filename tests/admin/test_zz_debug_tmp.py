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
    print(browser.title); open("/tmp/src.html","w").write(browser.page_source); browser.execute_script("window.scrollTo(0, 900)")
    time.sleep(0.5)
    print(browser.execute_script("""
      var out=[]; document.querySelectorAll('*').forEach(function(el){ var cs=getComputedStyle(el); var r=el.getBoundingClientRect();
        if (cs.backgroundColor=='rgb(65, 118, 144)' || cs.backgroundColor=='rgb(121, 174, 200)' ) out.push(el.tagName+'.'+el.className+' top='+Math.round(r.top)+' h='+Math.round(r.height)+' bg='+cs.backgroundColor);});
      return out.join(' ||| ');"""))
    browser.save_screenshot("/tmp/shot_viewport.png")
    data = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    open("/tmp/shot_full.png", "wb").write(base64.b64decode(data["data"]))
