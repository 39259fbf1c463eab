"""Input hygiene in the admin: an over-large or malformed post is a form error or
a clear page in the admin's look, never Django's error page or a 500, and it
saves nothing."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from prompts_app.models import ExampleSetVersion, PromptVersion
from tests.admin.conftest import admin_url, form_data, page_form

pytestmark = pytest.mark.django_db


def prompt_post(client, prompt, **changes):
    url = admin_url("prompt", "change", prompt.pk)
    return client.post(url, form_data(page_form(client, url), **changes))


def assert_refused_page(response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'id="site-name"' in page  # the admin's look, with its header
    assert "RequestDataTooBig" not in page and "Traceback" not in page
    assert "nothing was saved" in page or "nothing was stored" in page
    for needle in needles:
        assert needle in page
    return page


def urlencoded(data: dict) -> dict:
    """A post the way a browser sends a form without file inputs."""
    return {"data": urlencode(data), "content_type": "application/x-www-form-urlencoded"}


def test_an_over_large_template_is_a_clear_page_naming_the_limit(admin_user, prompt):
    # A real browser session: CSRF enforced, so the CSRF check (which reads the
    # body first) runs too. The template is 2.3 MB; form-encoded it is over 2.5 MB.
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    template = "Dear {{ name }}, thanks! " * 92_000
    assert 2_200_000 < len(template) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    url = admin_url("prompt", "change", prompt.pk)
    response = client.post(url, **urlencoded({"body": template, "message": "huge"}))
    page = assert_refused_page(response, 413, "2,621,440 bytes", "2.5 MB", "Back")
    assert f'href="{url}"' in page
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_an_over_large_multipart_post_is_the_same_page(admin_client, prompt):
    # Multipart bodies are measured as Django parses them (file data does not count).
    url = admin_url("prompt", "change", prompt.pk)
    response = admin_client.post(url, {"body": "x" * 3_000_000, "message": "huge"})
    assert_refused_page(response, 413, "2,621,440 bytes")
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_a_template_over_the_cap_but_under_the_body_limit_is_a_form_error(admin_client, prompt):
    response = prompt_post(admin_client, prompt, body="x" * 2_300_000, message="long")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "limit is 100000" in str(errors.get("body") or errors), errors
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_an_over_large_example_set_is_a_clear_page(admin_client, example_set):
    url = admin_url("exampleset", "change", example_set.pk) + "?mode=json"
    examples = [{"input": "Hi {{ x }} & more", "output": "y" * 1000}] * 3000
    data = {"mode": "json", "examples_json": json.dumps(examples), "message": "big"}
    response = admin_client.post(url, **urlencoded(data))
    assert_refused_page(response, 413, "2,621,440 bytes")
    assert ExampleSetVersion.objects.filter(example_set=example_set).count() == 1


def test_a_form_with_too_many_fields_is_a_clear_page(admin_client, example_set):
    url = admin_url("exampleset", "change", example_set.pk)
    data = {f"ex-{i}-output": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = admin_client.post(url, **urlencoded(data))
    assert_refused_page(response, 400, "1,000 fields")
    assert ExampleSetVersion.objects.filter(example_set=example_set).count() == 1


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("model_config", '{"model": "gpt\\u0000"}', "NUL"),
        ("model_config", '{"model": "gpt\\ud800"}', "surrogate"),
        ("model_config", '{"temperature": 1e999}', "infinity"),
        ("model_config", "[" * 100_000, "nested"),
        ("model_config", '{"a": ' + "[" * 80 + "]" * 80 + "}", "nested"),
        ("model_config", '{"temperature": NaN}', "not valid JSON"),
        ("variables_schema", '{"type": "object", "description": "\\ud800"}', "surrogate"),
        ("variables_schema", '{"type": "object", "title\\u0000": "x"}', "NUL"),
    ],
)
def test_json_fields_refuse_what_cannot_be_stored_as_a_form_error(
    admin_client, prompt, field, text, message
):
    response = prompt_post(admin_client, prompt, **{field: text, "message": "bad json"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field]), errors[field]
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


def test_a_nul_in_the_template_text_is_a_form_error(admin_client, prompt):
    response = prompt_post(admin_client, prompt, body="Hi \x00 {{ name }}", message="nul")
    assert response.status_code == 200
    assert "body" in response.context["adminform"].form.errors
    assert PromptVersion.objects.filter(prompt=prompt).count() == 2


@pytest.mark.parametrize(
    "text",
    ['[{"input": "hi", "output": "a\\u0000"}]', '[{"input": {"n\\udc00": 1}, "output": "a"}]'],
)
def test_the_example_set_json_editor_refuses_nul_and_surrogates(admin_client, example_set, text):
    url = admin_url("exampleset", "change", example_set.pk) + "?mode=json"
    response = admin_client.post(url, {"mode": "json", "examples_json": text, "message": "bad"})
    assert response.status_code == 200
    assert "examples_json" in response.context["adminform"].form.errors
    assert ExampleSetVersion.objects.filter(example_set=example_set).count() == 1


def test_a_nul_in_an_admin_url_is_a_400_not_a_500(admin_client, prompt):
    for url in (
        admin_url("prompt", "changelist") + "?q=a%00b",
        admin_url("prompt", "changelist") + "?project__id__exact=%00",
        admin_url("prompt", "preview", prompt.pk) + "?version=%00",
    ):
        response = admin_client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert b"NUL" in response.content


def test_preview_variables_with_hostile_json_are_never_a_500(admin_client, prompt):
    url = admin_url("prompt", "preview", prompt.pk)
    for text in ("[" * 100_000, '{"name": "\\ud800"}', '{"name": "a\\u0000"}', '{"n": 1e999}'):
        response = admin_client.post(
            url, {"version": "2", "variables_json": text, "var__name": "", "var__company": ""}
        )
        assert response.status_code == 200, (text[:20], response.status_code)
        assert "variables_json" in response.context["form"].errors
