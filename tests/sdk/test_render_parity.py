"""The SDK renders every demo prompt byte for byte as the server's render endpoint
does: production, every label and every version, with the demo's sample variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from promptledger import PromptLedger, RenderError
from prompts_app.management.commands.demo_setup import load_demo_fixture
from prompts_app.models import Label, PromptVersion
from prompts_app.services import library
from tests.sdk.conftest import api

pytestmark = pytest.mark.django_db(transaction=True)

VARIABLES = json.loads((Path(settings.BASE_DIR) / "fixtures" / "demo_variables.json").read_text())


@pytest.fixture
def demo(db):
    loaded = load_demo_fixture()
    assert loaded, "the demo fixture did not load"
    _, raw = library.api_key_create(project=loaded[0].project, scopes=["read"], name="parity")
    return loaded, raw


def selectors_of(prompt) -> list[dict]:
    found: list[dict] = [{}]  # the default: production, else latest
    found += [
        {"label": name}
        for name in Label.objects.filter(prompt=prompt).values_list("name", flat=True)
    ]
    found.append({"label": "latest"})
    found += [
        {"version": n}
        for n in PromptVersion.objects.filter(prompt=prompt)
        .order_by("number")
        .values_list("number", flat=True)
    ]
    return found


def test_every_demo_prompt_renders_exactly_as_the_server_renders_it(demo, live_server):
    prompts, key = demo
    compared = 0
    with (
        PromptLedger(base_url=live_server.url, api_key=key) as client,
        api(live_server.url, key) as http,
    ):
        for prompt in prompts:
            variables = VARIABLES[prompt.name]
            for selector in selectors_of(prompt):
                server = http.post(
                    f"/api/v1/prompts/{prompt.name}/render",
                    json={"variables": variables, **selector},
                )
                fetched = client.get_prompt(prompt.name, **selector)
                if server.status_code != 200:  # then the SDK fails the same way
                    error = server.json()["error"]
                    with pytest.raises(RenderError) as raised:
                        fetched.render(**variables)
                    assert (raised.value.code, raised.value.message) == (
                        error["code"],
                        error["message"],
                    )
                    continue
                expected = server.json()
                assert (fetched.version, fetched.content_hash) == (
                    expected["version"],
                    expected["content_hash"],
                )
                rendered = fetched.render(**variables)
                if prompt.kind == "chat":
                    assert expected["text"] is None
                    assert rendered == expected["messages"], (prompt.name, selector)
                    # byte for byte, not just equal after decoding
                    assert json.dumps(rendered, ensure_ascii=False) == json.dumps(
                        expected["messages"], ensure_ascii=False
                    )
                else:
                    assert rendered == expected["text"], (prompt.name, selector)
                compared += 1
    assert compared >= 9 + 3  # every version of every prompt, plus production per prompt


def test_render_errors_match_the_server_for_missing_and_invalid_variables(demo, live_server):
    _, key = demo
    with (
        PromptLedger(base_url=live_server.url, api_key=key) as client,
        api(live_server.url, key) as http,
    ):
        for variables in ({}, {"customer_name": 42, "order_id": "A", "issue": "x", "tone": "warm"}):
            server = http.post(
                "/api/v1/prompts/support-reply/render", json={"variables": variables}
            )
            assert server.status_code == 400
            error = server.json()["error"]
            with pytest.raises(RenderError) as raised:
                client.get_prompt("support-reply").render(variables)
            assert raised.value.code == error["code"]
            assert raised.value.message == error["message"]
            assert raised.value.details == error["details"]


CORPUS = Path(settings.BASE_DIR) / "fixtures" / "chat_templates"


def test_whitespace_options_raise_exception_and_reserved_names_behave_alike_in_sdk_and_server(
    acme, live_server
):
    """A chat template stored with trim/lstrip renders the same bytes in the SDK; its
    raise_exception branch, a printed function and a caller's ``examples`` variable fail
    with the same code and message on both sides."""
    from tests.factories import PromptFactory

    _, key = library.api_key_create(project=acme, scopes=["read"], name="parity")
    cases = [
        c for c in json.loads((CORPUS / "cases.json").read_text()) if c["file"] == "llama-2-chat.jinja"
    ]
    prompt = PromptFactory(project=acme, name="llama2")
    library.prompt_version_create(
        prompt=prompt,
        template=(CORPUS / "llama-2-chat.jinja").read_text(),
        template_options={"trim_blocks": True, "lstrip_blocks": True},
    )
    broken = PromptFactory(project=acme, name="prints-a-method")
    library.prompt_version_create(prompt=broken, template="ok\n{{ name.upper }}")
    attempts = [("llama2", c["variables"]) for c in cases]
    attempts += [("llama2", {**cases[0]["variables"], "examples": []})]
    attempts += [("prints-a-method", {"name": "ada"})]
    with (
        PromptLedger(base_url=live_server.url, api_key=key) as client,
        api(live_server.url, key) as http,
    ):
        outcomes = set()
        for name, variables in attempts:
            server = http.post(f"/api/v1/prompts/{name}/render", json={"variables": variables})
            fetched = client.get_prompt(name)
            assert fetched.template_options == (
                {"trim_blocks": True, "lstrip_blocks": True}
                if name == "llama2"
                else {"trim_blocks": False, "lstrip_blocks": False}
            )
            if server.status_code == 200:
                assert fetched.render(variables) == server.json()["text"]
                outcomes.add("rendered")
                continue
            error = server.json()["error"]
            with pytest.raises(RenderError) as raised:
                fetched.render(variables)
            assert (raised.value.code, raised.value.message) == (error["code"], error["message"])
            outcomes.add(error["code"])
    assert outcomes == {"rendered", "template_raised", "reserved_variable", "unprintable_value"}
