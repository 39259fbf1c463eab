"""factory_boy factories: rows built through the same rules the product uses."""

from __future__ import annotations

import factory

from prompts_app.models import Project, Prompt
from prompts_app.services import library


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"project-{n}")


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"prompt-{n}")
    kind = Prompt.KIND_TEXT
    description = "A prompt made by a factory."


def make_version(prompt: Prompt, template: str | None = None, **kwargs):
    """A new version through the service, so numbering and hashing are the real ones."""
    if prompt.kind == Prompt.KIND_CHAT:
        kwargs.setdefault(
            "messages",
            [
                {"role": "system", "content": "You are a helpful assistant for {{ company }}."},
                {"role": "user", "content": "{{ question }}"},
            ],
        )
    else:
        kwargs["template"] = template or "Hello {{ name }}, welcome to {{ company }}."
    kwargs.setdefault("author", "factory")
    return library.prompt_version_create(prompt=prompt, **kwargs)
