"""The promptledger CLI: get, render (locally), push; exit codes 0 / 1 / 2."""

from __future__ import annotations

import json

import pytest

from promptledger.cli import main
from prompts_app.models import PromptVersion
from prompts_app.services import library
from tests.factories import PromptFactory, make_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env(monkeypatch, server_url, sdk_key):
    monkeypatch.setenv("PROMPTLEDGER_URL", server_url)
    monkeypatch.setenv("PROMPTLEDGER_API_KEY", sdk_key)


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_get_prints_the_resolved_json(env, reply, capsys):
    code, out, err = cli(capsys, "get", "reply", "--label", "production")
    assert code == 0, err
    payload = json.loads(out)
    assert (payload["prompt"], payload["version"], payload["label"]) == ("reply", 1, "production")
    assert payload["template"] == "Hello {{ name }}, this is v1."

    code, out, _ = cli(capsys, "get", "reply", "--version", "2")
    assert code == 0 and json.loads(out)["version"] == 2


def test_get_reports_api_errors_with_exit_code_1(env, reply, capsys):
    code, out, err = cli(capsys, "get", "nope")
    assert code == 1 and out == ""
    assert "No prompt named 'nope'" in err and "404" in err


def test_render_renders_locally_with_vars_from_the_command_line_and_files(
    env, reply, capsys, tmp_path
):
    code, out, err = cli(capsys, "render", "reply", "--var", "name=Ada")
    assert (code, out) == (0, "Hello Ada, this is v1.\n"), err

    name_file = tmp_path / "name.txt"
    name_file.write_text("Grace")
    code, out, _ = cli(capsys, "render", "reply", "--version", "2", "--var", f"name=@{name_file}")
    assert (code, out) == (0, "Hello Grace, this is v2.\n")

    code, out, _ = cli(capsys, "render", "reply", "--var", "name=Ada", "--json")
    assert code == 0
    assert json.loads(out)["text"] == "Hello Ada, this is v1." and json.loads(out)["version"] == 1


def test_render_chat_prints_json_messages_and_takes_json_variables(env, acme, capsys, tmp_path):
    prompt = PromptFactory(project=acme, name="helper", kind="chat")
    make_version(
        prompt,
        messages=[
            {"role": "system", "content": "Team {{ team }}: {{ scores | join(', ') }}"},
            {"role": "user", "content": "{{ question }}"},
        ],
    )
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"team": "Ops", "question": "Why?"}))
    code, out, err = cli(
        capsys,
        "render",
        "helper",
        "--vars",
        str(variables),
        "--json-var",
        "scores=[1, 2]",
        "--var",
        "question=How?",
    )
    assert code == 0, err
    assert json.loads(out) == [
        {"role": "system", "content": "Team Ops: 1, 2"},
        {"role": "user", "content": "How?"},
    ]


def test_render_errors_exit_1_with_the_renderers_message(env, reply, capsys):
    code, out, err = cli(capsys, "render", "reply")
    assert code == 1 and out == ""
    assert "name" in err and "missing_variables" in err


def test_push_a_text_file_creates_the_next_version(env, reply, capsys, tmp_path):
    source = tmp_path / "reply.j2"
    source.write_text("Hi {{ name }}, v3 here.\n")
    code, out, err = cli(
        capsys, "push", str(source), "--prompt", "reply", "--message", "Friendlier"
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["number"] == 3 and created["message"] == "Friendlier"
    stored = PromptVersion.objects.get(prompt=reply, number=3)
    assert stored.template == "Hi {{ name }}, v3 here.\n"


def test_push_json_and_yaml_bodies(env, acme, capsys, tmp_path):
    prompt = PromptFactory(project=acme, name="helper", kind="chat")
    make_version(prompt)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ q }}"}]
    as_list = tmp_path / "messages.json"
    as_list.write_text(json.dumps(messages))
    code, out, err = cli(capsys, "push", str(as_list), "--prompt", "helper")
    assert code == 0, err
    assert json.loads(out)["number"] == 2 and json.loads(out)["messages"] == messages

    full = tmp_path / "version.yaml"
    full.write_text(
        "messages:\n"
        "  - {role: system, content: 'Be kind.'}\n"
        "  - {role: user, content: '{{ q }}'}\n"
        "model_config: {model: gpt-4o-mini, temperature: 0.1}\n"
        "message: from yaml\n"
    )
    code, out, err = cli(capsys, "push", str(full), "--prompt", "helper")
    assert code == 0, err
    created = json.loads(out)
    assert (created["number"], created["message"]) == (3, "from yaml")
    assert created["model_config"]["temperature"] == 0.1


def test_push_reports_the_servers_validation_message(env, reply, capsys, tmp_path):
    broken = tmp_path / "broken.txt"
    broken.write_text("Hi {{ name ")
    code, out, err = cli(capsys, "push", str(broken), "--prompt", "reply")
    assert code == 1 and out == ""
    assert "template_syntax" in err and "line 1" in err
    assert PromptVersion.objects.filter(prompt=reply).count() == 2


def test_push_without_the_write_scope_is_an_api_error(
    monkeypatch, env, acme, reply, capsys, tmp_path
):
    _, read_only = library.api_key_create(project=acme, scopes=["read"], name="ro")
    monkeypatch.setenv("PROMPTLEDGER_API_KEY", read_only)
    source = tmp_path / "t.txt"
    source.write_text("x")
    code, _, err = cli(capsys, "push", str(source), "--prompt", "reply")
    assert code == 1 and "write" in err and "403" in err


def test_usage_errors_exit_2(env, reply, capsys, monkeypatch, tmp_path):
    assert cli(capsys, "push", "x.txt")[0] == 2  # no --prompt
    assert cli(capsys, "render", "reply", "--var", "novalue")[0] == 2
    assert cli(capsys, "render", "reply", "--label", "a", "--version", "1")[0] == 2
    assert cli(capsys, "push", str(tmp_path / "missing.txt"), "--prompt", "reply")[0] == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = cli(capsys, "push", str(bad), "--prompt", "reply")
    assert code == 2 and "not valid JSON" in err
    assert cli(capsys)[0] == 2  # no command
    assert cli(capsys, "--help")[0] == 0
    monkeypatch.delenv("PROMPTLEDGER_URL")
    code, _, err = cli(capsys, "get", "reply")
    assert code == 2 and "PROMPTLEDGER_URL" in err
