"""The prompt library over HTTP: prompts, versions, labels, resolve, render, diff."""

from __future__ import annotations

import json

import pytest

from prompts_app.models import (
    AdvisorSettings,
    EvalRun,
    EvalSuite,
    LabelMove,
    Prompt,
    PromptVersion,
)
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db


def create_prompt(client, name="support-reply", kind="text", **extra):
    response = client.post("/api/v1/prompts/", {"name": name, "kind": kind, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create_version(client, name, **body):
    response = client.post(f"/api/v1/prompts/{name}/versions/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


class TestPrompts:
    def test_create_then_get_a_prompt(self, writer):
        created = create_prompt(writer.client, description="Replies to customers")
        assert created["name"] == "support-reply"
        assert created["kind"] == "text"
        assert created["latest_version"] == 0

        fetched = writer.client.get("/api/v1/prompts/support-reply/").json()
        assert fetched["description"] == "Replies to customers"

    def test_list_shows_only_this_projects_prompts(self, writer, outsider):
        create_prompt(writer.client, name="mine")
        create_prompt(outsider.client, name="theirs")
        names = [p["name"] for p in writer.client.get("/api/v1/prompts/").json()["results"]]
        assert names == ["mine"]

    def test_duplicate_name_is_a_conflict(self, writer):
        create_prompt(writer.client)
        response = writer.client.post("/api/v1/prompts/", {"name": "support-reply"}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["field"] == "name"

    @pytest.mark.parametrize("bad_name", ["has space", "a/b", "UPPER", "", "-leading", "x" * 101])
    def test_bad_names_are_rejected_with_the_field(self, writer, bad_name):
        response = writer.client.post("/api/v1/prompts/", {"name": bad_name}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "name"
        assert Prompt.objects.count() == 0

    def test_unknown_kind_is_rejected(self, writer):
        response = writer.client.post(
            "/api/v1/prompts/", {"name": "p", "kind": "audio"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "kind"

    def test_unknown_field_is_rejected_not_ignored(self, writer):
        response = writer.client.post(
            "/api/v1/prompts/", {"name": "p", "knd": "chat"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "knd"

    def test_malformed_json_is_a_400(self, writer):
        response = writer.client.generic(
            "POST", "/api/v1/prompts/", "{not json", content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "malformed_json"

    def test_unknown_prompt_is_a_404_naming_it(self, reader):
        response = reader.client.get("/api/v1/prompts/nope/")
        assert response.status_code == 404
        assert "nope" in response.json()["error"]["message"]

    def test_metadata_update_keeps_versions(self, writer):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="Hi {{ name }}")
        response = writer.client.patch(
            "/api/v1/prompts/support-reply/",
            {"tags": ["support"], "protect_production": True},
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["tags"] == ["support"]
        assert response.json()["latest_version"] == 1


class TestVersions:
    def test_versions_are_numbered_and_keep_what_was_written(self, writer):
        create_prompt(writer.client)
        v1 = create_version(
            writer.client, "support-reply", template="Hello {{ name }}", message="first"
        )
        v2 = create_version(
            writer.client,
            "support-reply",
            template="Hi {{ name }}, about order {{ order_id }}",
            model_config={"model": "gpt-4o-mini", "temperature": 0.2},
            message="mention the order",
        )
        assert (v1["number"], v2["number"]) == (1, 2)
        assert v1["author"] == "api-key:writer"
        assert v2["variables"]["required"] == ["name", "order_id"]
        assert v1["content_hash"] != v2["content_hash"]

        again = writer.client.get("/api/v1/prompts/support-reply/versions/1/").json()
        assert again["template"] == "Hello {{ name }}"
        assert again["message"] == "first"
        listed = writer.client.get("/api/v1/prompts/support-reply/versions/").json()["results"]
        assert [v["number"] for v in listed] == [2, 1]

    def test_chat_version_takes_messages(self, writer):
        create_prompt(writer.client, name="chat", kind="chat")
        v1 = create_version(
            writer.client,
            "chat",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "{{ q }}"},
            ],
        )
        assert v1["messages"][1] == {"role": "user", "content": "{{ q }}"}
        assert v1["template"] == ""

    def test_declared_variables_schema_is_kept(self, writer):
        create_prompt(writer.client)
        schema = {
            "type": "object",
            "properties": {"total": {"type": "number"}},
            "required": ["total"],
        }
        v1 = create_version(
            writer.client, "support-reply", template="Total: {{ total }}", variables=schema
        )
        assert v1["variables"] == schema

    @pytest.mark.parametrize(
        "body, field",
        [
            ({}, "template"),
            ({"template": 42}, "template"),
            (
                {"template": "ok", "model_config": {"temperature": "hot"}},
                "model_config.temperature",
            ),
            ({"template": "ok", "model_config": {"temprature": 1}}, "model_config"),
            ({"template": "ok", "model_config": {"temperature": 5}}, "model_config.temperature"),
            ({"template": "ok", "messages": [{"role": "user", "content": "x"}]}, "messages"),
            ({"template": "ok", "variables": "name"}, "variables"),
            ({"template": "ok", "example_set_version": {"name": "nope", "version": 1}}, "name"),
        ],
    )
    def test_bad_version_input_is_a_400_and_stores_nothing(self, writer, body, field):
        create_prompt(writer.client)
        response = writer.client.post(
            "/api/v1/prompts/support-reply/versions/", body, format="json"
        )
        assert response.status_code in (400, 404), response.content
        assert response.json()["error"]["field"] == field
        assert PromptVersion.objects.count() == 0
        assert Prompt.objects.get().latest_version_number == 0

    def test_syntax_error_gives_line_and_stores_nothing(self, writer):
        create_prompt(writer.client)
        response = writer.client.post(
            "/api/v1/prompts/support-reply/versions/",
            {"template": "line one\n{% if x %}\nno end"},
            format="json",
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "template_syntax"
        assert error["details"]["line"] >= 2
        assert "line" in error["message"]
        assert PromptVersion.objects.count() == 0

    def test_oversized_template_is_rejected(self, writer):
        create_prompt(writer.client)
        response = writer.client.post(
            "/api/v1/prompts/support-reply/versions/", {"template": "x" * 200_001}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "limit_exceeded"
        assert PromptVersion.objects.count() == 0

    @pytest.mark.parametrize(
        "template",
        [
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ cycler.__init__.__globals__.os }}",
            "{{ 'a' * 999999999 }}",
            "{% for i in range(100000000) %}{% endfor %}",
        ],
    )
    def test_hostile_templates_never_get_a_500(self, writer, template):
        create_prompt(writer.client)
        response = writer.client.post(
            "/api/v1/prompts/support-reply/versions/", {"template": template}, format="json"
        )
        if response.status_code == 201:
            # Saved (it may be harmless until rendered): rendering must then refuse it.
            rendered = writer.client.post(
                "/api/v1/prompts/support-reply/render", {"version": 1}, format="json"
            )
            assert rendered.status_code == 400, rendered.content
            assert rendered.json()["error"]["code"] in ("sandbox_violation", "limit_exceeded")
        else:
            assert response.status_code == 400
            assert response.json()["error"]["code"] in ("sandbox_violation", "limit_exceeded")
        # The worker is still healthy for the next request.
        healthy = writer.client.post(
            "/api/v1/render", {"template": "Hi {{ n }}", "variables": {"n": "Ada"}}, format="json"
        )
        assert healthy.json()["text"] == "Hi Ada"

    def test_versions_cannot_be_rewritten(self, writer):
        prompt = PromptFactory(project=writer.project)
        version = make_version(prompt, "Hi {{ name }}")
        version.template = "rewritten"
        with pytest.raises(Exception, match="immutable"):
            version.save()
        assert PromptVersion.objects.get(pk=version.pk).template == "Hi {{ name }}"


class TestProductionProtectionDefault:
    def test_a_new_prompt_has_production_protected_unless_asked_otherwise(self, writer):
        assert create_prompt(writer.client, name="on")["protect_production"] is True
        off = create_prompt(writer.client, name="off", protect_production=False)
        assert off["protect_production"] is False
        assert Prompt.objects.get(name="on").protect_production is True

    def test_a_project_can_turn_the_default_off(self, writer, acme):
        acme.protect_production_by_default = False
        acme.save()
        assert create_prompt(writer.client, name="open")["protect_production"] is False
        shut = create_prompt(writer.client, name="shut", protect_production=True)
        assert shut["protect_production"] is True


class TestStaleBase:
    def post(self, client, **body):
        return client.post("/api/v1/prompts/support-reply/versions/", body, format="json")

    def test_an_edit_based_on_an_older_version_is_a_409_and_stores_nothing(self, writer):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="v1 {{ a }}")
        create_version(writer.client, "support-reply", template="v2 {{ a }}")
        response = self.post(writer.client, template="mine {{ a }}", based_on_version=1)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "stale_base"
        assert error["field"] == "based_on_version"
        assert error["details"] == {"based_on_version": 1, "latest_version": 2}
        assert "based on version 1" in error["message"]
        assert "Fetch version 2" in error["message"]
        assert PromptVersion.objects.count() == 2
        assert Prompt.objects.get(name="support-reply").latest_version_number == 2
        assert EvalRun.objects.count() == 2

    def test_an_edit_based_on_the_latest_version_is_saved(self, writer):
        create_prompt(writer.client)
        first = self.post(writer.client, template="v1 {{ a }}", based_on_version=0)
        assert first.status_code == 201, first.content
        second = self.post(writer.client, template="v2 {{ a }}", based_on_version=1)
        assert second.status_code == 201, second.content
        assert second.json()["number"] == 2

    @pytest.mark.parametrize("base", [-1, "one", 1.5, True])
    def test_based_on_version_must_be_a_version_number(self, writer, base):
        create_prompt(writer.client)
        response = self.post(writer.client, template="x", based_on_version=base)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "based_on_version"
        assert PromptVersion.objects.count() == 0


class TestReadsWriteNothing:
    def test_reading_finetune_stats_advice_and_the_eval_suite_creates_no_rows(self, reader):
        prompt = PromptFactory(project=reader.project, name="faq")
        make_version(prompt, "Answer: {{ q }}", model_config={"model": "gpt-4o-mini"})
        stats = reader.client.get("/api/v1/prompts/faq/finetune-export/stats")
        assert stats.status_code == 200
        assert stats.json()["epochs"] == AdvisorSettings._meta.get_field("epochs").default
        assert reader.client.get("/api/v1/prompts/faq/advice").status_code == 200
        suite = reader.client.get("/api/v1/prompts/faq/eval-suite")
        assert suite.status_code == 200
        assert suite.json() == {"prompt": "faq", "provider": None, "repeats": 1, "cases": []}
        assert AdvisorSettings.objects.count() == 0
        assert EvalSuite.objects.count() == 0


class TestLabels:
    def test_move_label_and_read_its_history(self, writer):
        create_prompt(writer.client, protect_production=False)
        for text in ("v1 {{ a }}", "v2 {{ a }}", "v3 {{ a }}"):
            create_version(writer.client, "support-reply", template=text)
        first = writer.client.put(
            "/api/v1/prompts/support-reply/labels/production",
            {"version": 1, "reason": "launch"},
            format="json",
        )
        assert first.status_code == 200
        second = writer.client.put(
            "/api/v1/prompts/support-reply/labels/production",
            {"version": 3, "reason": "better tone"},
            format="json",
        )
        body = second.json()
        assert body["version"] == 3
        assert [(m["from_version"], m["to_version"], m["reason"]) for m in body["history"]] == [
            (1, 3, "better tone"),
            (None, 1, "launch"),
        ]
        assert body["history"][0]["moved_by"] == "api-key:writer"

        labels = writer.client.get("/api/v1/prompts/support-reply/labels/").json()
        assert [(label["name"], label["version"]) for label in labels] == [("production", 3)]

    def test_moving_to_the_same_version_records_nothing(self, writer):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="x")
        for _ in range(2):
            writer.client.put(
                "/api/v1/prompts/support-reply/labels/staging", {"version": 1}, format="json"
            )
        assert LabelMove.objects.count() == 1

    def test_unknown_version_or_label_is_a_404(self, writer):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="x")
        moved = writer.client.put(
            "/api/v1/prompts/support-reply/labels/production", {"version": 9}, format="json"
        )
        assert moved.status_code == 404
        assert "9" in moved.json()["error"]["message"]
        resolved = writer.client.get("/api/v1/prompts/support-reply/resolve?label=canary")
        assert resolved.status_code == 404
        assert "canary" in resolved.json()["error"]["message"]

    @pytest.mark.parametrize("label", ["latest", "Bad%20Label"])
    def test_reserved_or_bad_label_names_are_refused(self, writer, label):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="x")
        response = writer.client.put(
            f"/api/v1/prompts/support-reply/labels/{label}", {"version": 1}, format="json"
        )
        assert response.status_code == 400
        assert LabelMove.objects.count() == 0

    def test_version_must_be_an_integer(self, writer):
        create_prompt(writer.client)
        create_version(writer.client, "support-reply", template="x")
        response = writer.client.put(
            "/api/v1/prompts/support-reply/labels/production", {"version": "one"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "version"


@pytest.mark.django_db(transaction=True)  # cache invalidation runs on commit, as in production
class TestResolve:
    def setup_prompt(self, client):
        create_prompt(client, name="greet", protect_production=False)
        create_version(
            client, "greet", template="Hello {{ name }}", model_config={"model": "gpt-4o-mini"}
        )
        create_version(client, "greet", template="Hi {{ name }}")

    def test_without_production_resolve_falls_back_to_latest(self, writer):
        self.setup_prompt(writer.client)
        body = writer.client.get("/api/v1/prompts/greet/resolve").json()
        assert (body["version"], body["label"], body["template"]) == (2, "latest", "Hi {{ name }}")

    def test_resolve_by_label_and_by_version(self, writer):
        self.setup_prompt(writer.client)
        writer.client.put("/api/v1/prompts/greet/labels/production", {"version": 1}, format="json")
        by_default = writer.client.get("/api/v1/prompts/greet/resolve").json()
        assert (by_default["version"], by_default["label"]) == (1, "production")
        assert by_default["model_config"] == {"model": "gpt-4o-mini"}
        assert by_default["variables"]["required"] == ["name"]
        by_version = writer.client.get("/api/v1/prompts/greet/resolve?version=2").json()
        assert by_version["version"] == 2

    def test_etag_and_304(self, writer):
        self.setup_prompt(writer.client)
        first = writer.client.get("/api/v1/prompts/greet/resolve?label=latest")
        etag = first["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = writer.client.get(
            "/api/v1/prompts/greet/resolve?label=latest", HTTP_IF_NONE_MATCH=etag
        )
        assert again.status_code == 304
        assert again.content == b""
        assert again["ETag"] == etag

    def test_label_move_invalidates_the_cached_resolve_at_once(self, writer):
        self.setup_prompt(writer.client)
        writer.client.put("/api/v1/prompts/greet/labels/production", {"version": 1}, format="json")
        before = writer.client.get("/api/v1/prompts/greet/resolve?label=production")
        assert before.json()["version"] == 1
        writer.client.put("/api/v1/prompts/greet/labels/production", {"version": 2}, format="json")
        after = writer.client.get(
            "/api/v1/prompts/greet/resolve?label=production", HTTP_IF_NONE_MATCH=before["ETag"]
        )
        assert after.status_code == 200
        assert after.json()["version"] == 2
        assert after["ETag"] != before["ETag"]

    def test_new_version_invalidates_latest(self, writer):
        self.setup_prompt(writer.client)
        assert (
            writer.client.get("/api/v1/prompts/greet/resolve?label=latest").json()["version"] == 2
        )
        create_version(writer.client, "greet", template="Hey {{ name }}")
        assert (
            writer.client.get("/api/v1/prompts/greet/resolve?label=latest").json()["version"] == 3
        )

    def test_resolve_is_served_from_the_cache(self, writer, django_assert_num_queries):
        self.setup_prompt(writer.client)
        writer.client.get("/api/v1/prompts/greet/resolve?label=latest")
        # A cache hit touches no database at all: the key lookup is cached too.
        with django_assert_num_queries(0):
            response = writer.client.get("/api/v1/prompts/greet/resolve?label=latest")
        assert response.json()["version"] == 2

    def test_label_and_version_together_is_a_400(self, writer):
        self.setup_prompt(writer.client)
        response = writer.client.get("/api/v1/prompts/greet/resolve?label=latest&version=1")
        assert response.status_code == 400

    @pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5"])
    def test_bad_version_parameter_is_a_400(self, writer, version):
        self.setup_prompt(writer.client)
        response = writer.client.get(f"/api/v1/prompts/greet/resolve?version={version}")
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "version"


class TestRender:
    def test_render_text_with_token_count(self, writer):
        create_prompt(writer.client, name="greet")
        create_version(writer.client, "greet", template="Hello {{ name }}!")
        response = writer.client.post(
            "/api/v1/prompts/greet/render", {"variables": {"name": "Ada"}}, format="json"
        )
        body = response.json()
        assert body["text"] == "Hello Ada!"
        assert body["messages"] is None
        assert body["token_count"] == 3  # "Hello", " Ada", "!" in cl100k_base
        assert body["version"] == 1

    def test_render_chat_with_pinned_examples(self, writer):
        writer.client.post("/api/v1/example-sets/", {"name": "faq"}, format="json")
        writer.client.post(
            "/api/v1/example-sets/faq/versions/",
            {
                "examples": [
                    {
                        "input": {"question": "Where is my order?"},
                        "output": "Let me check.",
                        "approved": True,
                    },
                    {"input": "Plain user line", "output": "Plain answer"},
                ]
            },
            format="json",
        )
        create_prompt(writer.client, name="helper", kind="chat")
        create_version(
            writer.client,
            "helper",
            messages=[
                {"role": "system", "content": "You help {{ company }} customers."},
                {"role": "user", "content": "Q: {{ question }}"},
            ],
            example_set_version={"name": "faq", "version": 1},
        )
        body = writer.client.post(
            "/api/v1/prompts/helper/render",
            {"variables": {"company": "Acme", "question": "Can I return shoes?"}},
            format="json",
        ).json()
        assert body["messages"] == [
            {"role": "system", "content": "You help Acme customers."},
            {"role": "user", "content": "Q: Where is my order?"},
            {"role": "assistant", "content": "Let me check."},
            {"role": "user", "content": "Plain user line"},
            {"role": "assistant", "content": "Plain answer"},
            {"role": "user", "content": "Q: Can I return shoes?"},
        ]
        assert body["token_count"] > 20

    def test_text_prompt_sees_examples(self, writer):
        writer.client.post("/api/v1/example-sets/", {"name": "ex"}, format="json")
        writer.client.post(
            "/api/v1/example-sets/ex/versions/",
            {
                "examples": [
                    {"input": {"x": "1"}, "output": "one"},
                    {"input": {"x": "2"}, "output": "two"},
                ]
            },
            format="json",
        )
        create_prompt(writer.client, name="numbers")
        create_version(
            writer.client,
            "numbers",
            template="{% for e in examples %}{{ e.input.x }}={{ e.output }};{% endfor %}{{ x }}=",
            example_set_version={"name": "ex", "version": 1},
        )
        body = writer.client.post(
            "/api/v1/prompts/numbers/render", {"variables": {"x": "3"}}, format="json"
        ).json()
        assert body["text"] == "1=one;2=two;3="

    def test_missing_variables_are_listed_by_name(self, writer):
        create_prompt(writer.client, name="greet")
        create_version(
            writer.client,
            "greet",
            template="{{ greeting }} {{ customer_name }}, order {{ order_id }}",
        )
        response = writer.client.post(
            "/api/v1/prompts/greet/render", {"variables": {"greeting": "Hi"}}, format="json"
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "missing_variables"
        assert error["details"]["missing"] == ["customer_name", "order_id"]
        assert "customer_name" in error["message"] and "order_id" in error["message"]

    def test_schema_type_errors_name_the_variable(self, writer):
        create_prompt(writer.client, name="total")
        create_version(
            writer.client,
            "total",
            template="Total {{ order_total }}",
            variables={
                "type": "object",
                "properties": {"order_total": {"type": "number"}},
                "required": ["order_total"],
            },
        )
        response = writer.client.post(
            "/api/v1/prompts/total/render", {"variables": {"order_total": "twelve"}}, format="json"
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_variables"
        assert "order_total" in json.dumps(error)

    def test_variables_must_be_an_object(self, writer):
        create_prompt(writer.client, name="greet")
        create_version(writer.client, "greet", template="Hi")
        response = writer.client.post(
            "/api/v1/prompts/greet/render", {"variables": [1, 2]}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "variables"

    def test_draft_render_stores_nothing(self, reader):
        response = reader.client.post(
            "/api/v1/render",
            {
                "messages": [{"role": "system", "content": "Tone: {{ tone }}"}],
                "variables": {"tone": "warm"},
                "examples": [{"input": "hi", "output": "hello"}],
            },
            format="json",
        )
        body = response.json()
        assert response.status_code == 200
        assert body["messages"] == [
            {"role": "system", "content": "Tone: warm"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
        assert body["variables"] == ["tone"]
        assert Prompt.objects.count() == 0 and PromptVersion.objects.count() == 0

    def test_draft_render_needs_exactly_one_body(self, reader):
        response = reader.client.post(
            "/api/v1/render",
            {"template": "a", "messages": [{"role": "user", "content": "b"}]},
            format="json",
        )
        assert response.status_code == 400


class TestDiff:
    def test_diff_shows_changed_lines_per_section(self, writer):
        create_prompt(writer.client, name="greet")
        create_version(
            writer.client,
            "greet",
            template="Hello {{ name }}\nBye",
            model_config={"temperature": 0.2},
        )
        create_version(
            writer.client, "greet", template="Hi {{ name }}\nBye", model_config={"temperature": 0.7}
        )
        body = writer.client.get("/api/v1/prompts/greet/diff?from=1&to=2").json()
        assert body["from"] == 1 and body["to"] == 2
        assert body["changed"] == ["template", "model_config"]
        assert "-Hello {{ name }}" in body["sections"]["template"]
        assert "+Hi {{ name }}" in body["sections"]["template"]
        assert '+  "temperature": 0.7' in body["sections"]["model_config"]
        assert body["sections"]["examples"] == ""

    def test_diff_needs_both_versions(self, writer):
        create_prompt(writer.client, name="greet")
        create_version(writer.client, "greet", template="x")
        assert writer.client.get("/api/v1/prompts/greet/diff?from=1").status_code == 400
        assert writer.client.get("/api/v1/prompts/greet/diff?from=1&to=7").status_code == 404


class TestExampleSets:
    def test_example_set_versions(self, writer):
        assert (
            writer.client.post("/api/v1/example-sets/", {"name": "faq"}, format="json").status_code
            == 201
        )
        v1 = writer.client.post(
            "/api/v1/example-sets/faq/versions/",
            {
                "examples": [{"input": "a", "output": "b", "tags": ["t"], "approved": True}],
                "message": "seed",
            },
            format="json",
        ).json()
        assert v1["number"] == 1
        assert v1["examples"] == [
            {"position": 0, "input": "a", "output": "b", "tags": ["t"], "approved": True}
        ]
        v2 = writer.client.post(
            "/api/v1/example-sets/faq/versions/", {"examples": []}, format="json"
        ).json()
        assert v2["number"] == 2
        kept = writer.client.get("/api/v1/example-sets/faq/versions/1/").json()
        assert len(kept["examples"]) == 1
        assert writer.client.get("/api/v1/example-sets/faq/").json()["latest_version"] == 2

    def test_bad_examples_are_rejected(self, writer):
        writer.client.post("/api/v1/example-sets/", {"name": "faq"}, format="json")
        response = writer.client.post(
            "/api/v1/example-sets/faq/versions/",
            {"examples": [{"input": 5, "output": "b"}]},
            format="json",
        )
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "examples[0].input"

    def test_other_projects_example_set_cannot_be_pinned(self, writer, outsider):
        outsider.client.post("/api/v1/example-sets/", {"name": "secret"}, format="json")
        outsider.client.post(
            "/api/v1/example-sets/secret/versions/", {"examples": []}, format="json"
        )
        create_prompt(writer.client, name="greet")
        response = writer.client.post(
            "/api/v1/prompts/greet/versions/",
            {"template": "x", "example_set_version": {"name": "secret", "version": 1}},
            format="json",
        )
        assert response.status_code == 404
