"""AsyncPromptLedger: the same cache behaviour on asyncio."""

from __future__ import annotations

import asyncio
import time

import pytest

from promptledger import AsyncPromptLedger, ServerUnavailable
from prompts_app.services import library
from tests.sdk.conftest import AsyncCountingTransport, CountingTransport, ledger_totals

pytestmark = pytest.mark.django_db(transaction=True)


async def until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await condition() if asyncio.iscoroutinefunction(condition) else condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def run(coro):
    return asyncio.run(coro)


def make(server_url, key, transport, **kwargs):
    return AsyncPromptLedger(base_url=server_url, api_key=key, transport=transport, **kwargs)


def test_async_cache_hit_makes_no_request(reply, server_url, sdk_key):
    transport = AsyncCountingTransport()

    async def main():
        async with make(server_url, sdk_key, transport) as client:
            prompt = await client.get_prompt("reply", label="production")
            assert (prompt.version, prompt.label) == (1, "production")
            assert prompt.render(name="Ada") == "Hello Ada, this is v1."
            for _ in range(100):
                assert await client.get_prompt("reply", label="production") is prompt
        assert len(transport.resolves()) == 1

    run(main())


def test_async_concurrent_misses_share_one_request(reply, server_url, sdk_key):
    transport = AsyncCountingTransport()

    async def main():
        async with make(server_url, sdk_key, transport) as client:
            results = await asyncio.gather(*(client.get_prompt("reply") for _ in range(200)))
            assert len({id(p) for p in results}) == 1
        assert len(transport.resolves()) == 1

    run(main())


def test_async_stale_while_revalidate_sees_a_label_move(reply, server_url, sdk_key):
    transport = AsyncCountingTransport()

    async def main():
        async with make(server_url, sdk_key, transport, cache_ttl=0.2) as client:
            first = await client.get_prompt("reply", label="production")
            await asyncio.sleep(0.25)
            # stale: served at once; one background task revalidates (304)
            stale = await asyncio.gather(
                *(client.get_prompt("reply", label="production") for _ in range(50))
            )
            assert all(p is first for p in stale)
            await until(lambda: len(transport.resolves()) >= 2)
            await asyncio.sleep(0.05)
            assert [s.status for s in transport.resolves()] == [200, 304]
            assert transport.resolves()[1].if_none_match

            await asyncio.to_thread(
                library.label_move, prompt=reply, label="production", version_number=2, actor="t"
            )
            await asyncio.sleep(0.25)
            assert (
                await client.get_prompt("reply", label="production")
            ).version == 1  # stale, at once

            async def moved():
                return (await client.get_prompt("reply", label="production")).version == 2

            await until(moved)

    run(main())


def test_async_server_down_keeps_the_last_copy_and_fallback_covers_a_cold_start(
    reply, server_url, sdk_key, tmp_path
):
    transport = AsyncCountingTransport()

    async def main():
        async with make(
            server_url, sdk_key, transport, cache_ttl=0.1, cache_dir=tmp_path
        ) as client:
            good = await client.get_prompt("reply", label="production")
            transport.set_down(True)
            await asyncio.sleep(0.15)
            assert await client.get_prompt("reply", label="production") is good
            await until(lambda: any(s.status is None for s in transport.resolves()))
            assert await client.get_prompt("reply", label="production") is good

            with pytest.raises(ServerUnavailable):
                await client.get_prompt("reply", version=2)
            fallback = await client.get_prompt("reply", version=2, fallback="Hi {{ name }}")
            assert fallback.is_fallback and fallback.version is None
            assert fallback.render(name="Ada") == "Hi Ada"

        # a new client, server still down, same cache_dir: warm from disk
        async with make(server_url, sdk_key, transport, cache_dir=tmp_path) as restarted:
            warm = await restarted.get_prompt("reply", label="production")
            assert warm.version == 1 and not warm.is_fallback

    run(main())


def test_async_client_logs_usage_through_its_thread(reply, server_url, sdk_key):
    usage_transport = CountingTransport()

    async def main():
        client = make(
            server_url,
            sdk_key,
            AsyncCountingTransport(),
            usage_transport=usage_transport,
            batch_size=100,
            flush_interval=60,
        )
        prompt = await client.get_prompt("reply", label="production")
        for _ in range(4):
            client.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=2)
        assert await client.flush(timeout=10)
        client.log_usage(prompt, model="gpt-4o-mini", input_tokens=10, output_tokens=2)
        assert await client.aclose()
        assert client.stats()["sent"] == 5

    run(main())
    assert len(usage_transport.usage_posts()) == 2
    assert ledger_totals(server_url, sdk_key, "reply")["calls"] == 5
