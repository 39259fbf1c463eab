"""Admin test setup: a text prompt with two versions, a chat prompt, an example
set, and helpers that post an admin form the way a browser would."""

from __future__ import annotations

import pytest
from django.urls import reverse

from prompts_app import services
from prompts_app.models import Prompt
from tests.factories import PromptFactory, make_version

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
    example_set = services.example_set_create(project=acme, name="greetings", description="Greeting pairs")
    services.example_set_version_create(
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
