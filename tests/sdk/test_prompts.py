"""Fetching prompts: cache hits, revalidation, stale-while-revalidate, fallbacks,
the disk cache, errors and single flight under many threads."""

from __future__ import annotations

import json
import threading
import time

import pytest

from promptledger import AuthenticationError, PromptLedger, PromptNotFound, ServerUnavailable
from prompts_app.services import library
from tests.factories import PromptFactory, make_version
from tests.sdk.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_get_prompt_returns_the_resolved_version_and_a_hit_makes_no_request(
    make_client, reply, transport
):
    client = make_client()
    prompt = client.get_prompt("reply", label="production")
    assert prompt.name == "reply"
    assert prompt.kind == "text"
    assert prompt.version == 1
    assert prompt.label == "production"
    assert prompt.model_config == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert len(prompt.content_hash) == 64
    assert prompt.is_fallback is False
    assert prompt.render(name="Ada") == "Hello Ada, this is v1."
    assert len(transport.resolves()) == 1

    for _ in range(100):
        assert client.get_prompt("reply", label="production") is prompt
    assert len(transport.resolves()) == 1

    # other keys are other cache entries: by version, by the default selector
    assert client.get_prompt("reply", version=2).version == 2
    default = client.get_prompt("reply")
    assert (default.version, default.label) == (1, "production")
    assert len(transport.resolves()) == 3


def test_after_the_ttl_the_prompt_is_revalidated_with_if_none_match_and_a_304(
    make_client, reply, transport
):
    client = make_client(cache_ttl=0.2)
    first = client.get_prompt("reply", label="production")
    etag = transport.resolves()[0]
    assert etag.status == 200
    time.sleep(0.3)

    # stale: served at once, one background revalidation
    assert client.get_prompt("reply", label="production") is first
    revalidation = wait_for(lambda: transport.resolves()[1:])[0]
    assert revalidation.status == 304
    assert revalidation.if_none_match and revalidation.if_none_match.startswith('"')
    # fresh again after the 304: no further request, same object
    wait_for(lambda: client.get_prompt("reply", label="production") is first)
    count = len(transport.resolves())
    assert client.get_prompt("reply", label="production") is first
    assert len(transport.resolves()) == count


def test_stale_reads_trigger_one_background_refresh_only(make_client, reply, transport):
    client = make_client(cache_ttl=0.2)
    client.get_prompt("reply", label="production")
    time.sleep(0.3)
    barrier = threading.Barrier(16)

    def reader():
        barrier.wait()
        for _ in range(200):
            client.get_prompt("reply", label="production")

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: len(transport.resolves()) >= 2)
    time.sleep(0.05)
    # 3,200 stale reads inside one TTL window: one revalidation (maybe a second if the
    # readers outlived the renewed TTL, never one per read)
    assert 2 <= len(transport.resolves()) <= 3


def test_a_label_move_is_seen_after_the_ttl(make_client, reply, transport):
    client = make_client(cache_ttl=0.2)
    assert client.get_prompt("reply", label="production").version == 1
    library.label_move(prompt=reply, label="production", version_number=2, actor="test")
    # within the TTL the cached copy is served
    assert client.get_prompt("reply", label="production").version == 1
    time.sleep(0.25)
    # after it: the stale copy at once, then the new version once the refresh lands
    assert client.get_prompt("reply", label="production").version == 1
    prompt = wait_for(
        lambda: (p := client.get_prompt("reply", label="production")).version == 2 and p
    )
    assert prompt.render(name="Ada") == "Hello Ada, this is v2."
    statuses = [s.status for s in transport.resolves()]
    assert statuses[0] == 200 and 200 in statuses[1:]


def test_a_server_that_goes_down_keeps_serving_the_last_good_copy(make_client, reply, transport):
    client = make_client(cache_ttl=0.1)
    good = client.get_prompt("reply", label="production")
    transport.set_down(True)
    time.sleep(0.15)
    assert client.get_prompt("reply", label="production") is good
    wait_for(lambda: any(s.status is None for s in transport.resolves()))  # the refresh failed
    for _ in range(20):
        assert client.get_prompt("reply", label="production") is good
        time.sleep(0.01)

    # back up: the next refresh picks up changes again
    library.label_move(prompt=reply, label="production", version_number=2, actor="test")
    transport.set_down(False)
    wait_for(lambda: client.get_prompt("reply", label="production").version == 2)


def test_cold_start_with_no_server_uses_the_fallback(make_client, reply, transport):
    transport.set_down(True)
    client = make_client(cache_ttl=1.0)  # after a failure, the server is retried after 1 s
    with pytest.raises(ServerUnavailable):
        client.get_prompt("reply", label="production")
    attempts = len(transport.resolves())

    prompt = client.get_prompt("reply", label="production", fallback="Hi {{ name }} (fallback)")
    assert prompt.is_fallback is True
    assert prompt.version is None
    assert prompt.label == "production"
    assert prompt.kind == "text"
    assert prompt.render(name="Ada") == "Hi Ada (fallback)"
    # within the pause after the failure: answered at once, no request
    with pytest.raises(ServerUnavailable):
        client.get_prompt("reply", label="production")  # no fallback given: the error
    assert len(transport.resolves()) == attempts

    chat = client.get_prompt(
        "reply",
        version=2,
        fallback=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{ q }}"}],
    )
    assert chat.is_fallback and chat.kind == "chat"
    assert chat.render(q="Hi?") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
    ]

    # the server comes back: a background retry finds the real prompt
    transport.set_down(False)
    real = wait_for(
        lambda: (
            not (p := client.get_prompt("reply", label="production", fallback="x")).is_fallback
            and p
        )
    )
    assert real.version == 1
    assert client.get_prompt("reply", label="production") is real


def test_the_disk_cache_lets_a_restarted_process_start_warm(
    make_client, reply, transport, tmp_path
):
    first = make_client(cache_dir=tmp_path)
    prompt = first.get_prompt("reply", label="production")
    first.close()

    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temp files left behind
    record = json.loads(files[0].read_text())
    assert record["payload"]["version"] == 1
    assert record["etag"].startswith('"')
    assert record["fetched_at"] == pytest.approx(time.time(), abs=60)

    transport.set_down(True)
    restarted = make_client(cache_dir=tmp_path)
    warm = restarted.get_prompt("reply", label="production")
    assert warm.is_fallback is False
    assert warm.version == 1 and warm.content_hash == prompt.content_hash
    assert warm.render(name="Ada") == "Hello Ada, this is v1."
    assert all(s.status is None for s in transport.resolves()[1:])  # nothing reached the server


def test_a_stale_disk_copy_is_served_and_revalidated(make_client, reply, transport, tmp_path):
    make_client(cache_dir=tmp_path, cache_ttl=0.1).get_prompt("reply", label="production")
    time.sleep(0.15)
    restarted = make_client(cache_dir=tmp_path, cache_ttl=0.1)
    assert restarted.get_prompt("reply", label="production").version == 1
    revalidation = wait_for(lambda: transport.resolves()[1:])[0]
    assert revalidation.status == 304


def test_errors_are_typed(make_client, reply, server_url):
    client = make_client()
    with pytest.raises(PromptNotFound) as missing:
        client.get_prompt("no-such-prompt")
    assert "no-such-prompt" in missing.value.message
    with pytest.raises(PromptNotFound):
        client.get_prompt("reply", label="nope")
    with pytest.raises(PromptNotFound):
        client.get_prompt("reply", version=99)
    with pytest.raises(ValueError):
        client.get_prompt("reply", label="production", version=1)
    bad = make_client(api_key="pl_not_a_key")
    with pytest.raises(AuthenticationError) as denied:
        bad.get_prompt("reply")
    assert denied.value.status_code == 401


def test_configuration_comes_from_the_environment(monkeypatch, reply, server_url, sdk_key):
    monkeypatch.setenv("PROMPTLEDGER_URL", server_url + "/api/v1/")
    monkeypatch.setenv("PROMPTLEDGER_API_KEY", sdk_key)
    with PromptLedger() as client:
        assert client.base_url == server_url
        assert client.get_prompt("reply").version == 1
    monkeypatch.delenv("PROMPTLEDGER_API_KEY")
    from promptledger import PromptLedgerError

    with pytest.raises(PromptLedgerError, match="PROMPTLEDGER_API_KEY"):
        PromptLedger()


def test_many_threads_missing_at_once_make_one_request(make_client, reply, transport):
    client = make_client()
    barrier = threading.Barrier(32)
    results: list = []
    errors: list = []

    def worker():
        try:
            barrier.wait()
            for _ in range(200):
                results.append(client.get_prompt("reply", label="production"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 32 * 200
    assert len({id(p) for p in results}) == 1
    assert len(transport.resolves()) == 1


def test_a_miss_that_fails_is_reported_to_every_waiting_thread(make_client, reply, transport):
    transport.set_down(True)
    client = make_client()
    barrier = threading.Barrier(8)
    outcomes: list = []

    def worker():
        barrier.wait()
        try:
            client.get_prompt("reply")
        except ServerUnavailable as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 8
    assert 1 <= len(transport.resolves()) <= 8


def test_chat_prompts_render_messages_with_their_examples(acme, make_client):
    example_set = library.example_set_create(project=acme, name="faq")
    esv = library.example_set_version_create(
        example_set=example_set,
        examples=[{"input": {"question": "Hours?"}, "output": "9 to 5."}],
        message="",
        author="test",
    )
    prompt = PromptFactory(project=acme, name="helper", kind="chat")
    make_version(prompt, example_set_version=esv)
    client = make_client()
    fetched = client.get_prompt("helper")
    assert fetched.kind == "chat" and fetched.label == "latest"
    assert fetched.render(company="Acme", question="Refunds?") == [
        {"role": "system", "content": "You are a helpful assistant for Acme."},
        {"role": "user", "content": "Hours?"},
        {"role": "assistant", "content": "9 to 5."},
        {"role": "user", "content": "Refunds?"},
    ]
