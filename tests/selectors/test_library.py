"""Library reads the admin pages make through selectors: the example search
(values, not the JSON text), and the counts that lists show per row."""

from __future__ import annotations

import pytest

from prompts_app.selectors import library as selectors
from prompts_app.services import library
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

EXAMPLES = [
    {"input": {"name": "Linus", "company": "Initech"}, "output": "Hi Linus!"},
    {"input": "Say hello to BOB", "output": "Hello Bob."},
    {"input": {"customer": {"tier": "Gold", "orders": [17, {"sku": "AB-99"}]}}, "output": "Thanks."},
    {"input": {"discount": "50%_off"}, "output": "Half price."},
]


@pytest.fixture
def version(acme):
    example_set = library.example_set_create(project=acme, name="greetings", examples=EXAMPLES)
    return example_set.versions.get()


def _found(version, search: str) -> list[int]:
    return [example.position for example in selectors.example_list(version=version, search=search)]


@pytest.mark.parametrize("search", ["name", "company", "input", "customer", "sku", '"', "{", ":"])
def test_searching_a_key_name_or_json_punctuation_finds_nothing(version, search):
    assert _found(version, search) == []


@pytest.mark.parametrize(("search", "positions"), [
    ("linus", [0]),              # an input value, any case (and the output)
    ("INITECH", [0]),            # an input value only
    ("bob", [1]),                # a string input, and the output
    ("say hello", [1]),          # a string input only
    ("gold", [2]),               # a value nested in an object
    ("ab-9", [2]),               # a value in a list in an object
    ("17", [2]),                 # a number
    ("thanks", [2]),             # the output only
    ("hello", [1]),
    ("50%_", [3]),               # LIKE's wildcards are taken as they are
    ("%", [3]),
    ("_", [3]),
])
def test_searching_a_value_finds_its_row(version, search, positions):
    assert _found(version, search) == positions


def test_an_empty_search_keeps_every_example_in_order(version):
    assert _found(version, "  ") == [0, 1, 2, 3]


def test_the_project_list_counts_prompts_and_active_keys(acme, django_assert_num_queries):
    PromptFactory(project=acme, name="one")
    PromptFactory(project=acme, name="two")
    library.api_key_create(project=acme, scopes=["read"], name="live")
    revoked, _ = library.api_key_create(project=acme, scopes=["read"], name="old")
    library.api_key_revoke(api_key=revoked)
    empty, _ = library.project_get_or_create(name="empty")
    base = type(acme).objects.order_by("name")

    with django_assert_num_queries(1):
        rows = {p.name: (p.prompts_total, p.active_keys_total)
                for p in selectors.project_list_counted(projects=base)}

    # Each prompt counted once, not once per key: the two joins multiply.
    assert rows == {"acme": (2, 1), "empty": (0, 0)}


def test_example_set_versions_count_their_examples_and_approvals(version):
    library.example_set_examples_approve(
        example_set=version.example_set, base_version=1, approvals={0: True, 2: True}, author="ada")

    rows = [(v.number, v.example_count, v.approved_count)
            for v in selectors.example_set_version_list_counted(example_set=version.example_set)]

    assert rows == [(2, 4, 2), (1, 4, 0)]
