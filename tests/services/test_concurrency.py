"""Version numbers stay gap-free and unique when writers race, and of writers that
started from the same version exactly one saves."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection

from prompts_app.errors import Conflict
from prompts_app.models import Prompt, PromptVersion
from prompts_app.services import library
from tests.factories import PromptFactory


def race(writers: int, write: Callable[[int], None]) -> list[BaseException]:
    """Run `write(index)` in `writers` threads released at once, each on its own
    database connection; returns what they raised."""
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            write(index)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def version_numbers(prompt: Prompt) -> list[int]:
    return sorted(PromptVersion.objects.filter(prompt=prompt).values_list("number", flat=True))


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_distinct_consecutive_numbers(acme):
    prompt = PromptFactory(project=acme, name="busy")
    writers = 8
    per_writer = 5

    def write(index: int) -> None:
        for n in range(per_writer):
            library.prompt_version_create(
                prompt=Prompt.objects.get(pk=prompt.pk),
                template=f"writer {index} edit {n} {{{{ x }}}}",
                author=f"writer-{index}",
            )

    assert race(writers, write) == []
    assert version_numbers(prompt) == list(range(1, writers * per_writer + 1))
    assert Prompt.objects.get(pk=prompt.pk).latest_version_number == writers * per_writer


@pytest.mark.django_db(transaction=True)
def test_of_writers_with_the_same_base_exactly_one_wins(acme):
    prompt = PromptFactory(project=acme, name="contested")
    library.prompt_version_create(prompt=prompt, template="v1 {{ x }}")
    writers = 6
    saved: list[int] = []

    def write(index: int) -> None:
        version = library.prompt_version_create(
            prompt=Prompt.objects.get(pk=prompt.pk),
            template=f"writer {index} {{{{ x }}}}",
            based_on_version=1,
        )
        saved.append(version.number)

    refused = race(writers, write)
    assert saved == [2]
    assert len(refused) == writers - 1
    assert all(isinstance(exc, Conflict) for exc in refused), refused
    assert {exc.code for exc in refused} == {"stale_base"}
    assert {exc.details["latest_version"] for exc in refused} == {2}
    assert version_numbers(prompt) == [1, 2]
