"""Version numbers stay gap-free and unique when writers race."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from prompts_app.models import Prompt, PromptVersion
from prompts_app.services import library
from tests.factories import PromptFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_distinct_consecutive_numbers(acme):
    prompt = PromptFactory(project=acme, name="busy")
    writers = 8
    per_writer = 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                library.prompt_version_create(
                    prompt=Prompt.objects.get(pk=prompt.pk),
                    template=f"writer {index} edit {n} {{{{ x }}}}",
                    author=f"writer-{index}",
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    numbers = sorted(PromptVersion.objects.filter(prompt=prompt).values_list("number", flat=True))
    assert numbers == list(range(1, writers * per_writer + 1))
    assert Prompt.objects.get(pk=prompt.pk).latest_version_number == writers * per_writer
