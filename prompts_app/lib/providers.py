"""An OpenAI-compatible Chat Completions client (OpenAI, vLLM, Ollama, Together…).

Retries 429, 5xx and timeouts with exponential backoff (honouring a short
Retry-After), gives up with a ProviderError that says why, and reports the
usage numbers the provider returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


class ProviderError(Exception):
    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    latency_ms: int
    attempts: int


RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}

# One client per process: building one per call reloads the CA bundle each
# time, which was most of an eval case's own overhead (manage.py bench, eval row).
_shared_client: httpx.Client | None = None


def _client() -> httpx.Client:
    global _shared_client
    if _shared_client is None:
        _shared_client = httpx.Client()
    return _shared_client


MAX_RETRY_AFTER_SECONDS = 10.0


def _parse(response: httpx.Response, model: str) -> tuple[str, int, int, int]:
    try:
        body = response.json()
        message = body["choices"][0]["message"]
        text = message.get("content") or ""
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return (
            str(text),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("cached_tokens") or 0),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError(
            f"The provider's answer for model '{model}' is not a Chat Completions response "
            f"(HTTP {response.status_code}, starts {response.text[:120]!r}).",
            retryable=True,
            status=response.status_code,
        ) from None


def chat_completion(
    *,
    base_url: str,
    model: str,
    messages: list[dict],
    api_key: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    response_format: dict | None = None,
    timeout_seconds: float = 30.0,
    max_retries: int = 3,
    backoff_seconds: float = 0.5,
    client: httpx.Client | None = None,
) -> Completion:
    url = base_url.rstrip("/") + "/chat/completions"
    payload: dict = {"model": model, "messages": messages}
    if temperature is not None:
        payload["temperature"] = temperature
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    if response_format is not None:
        payload["response_format"] = response_format
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    http = client or _client()
    last_error: ProviderError | None = None
    for attempt in range(1, max_retries + 2):
        started = time.monotonic()
        delay = backoff_seconds * (2 ** (attempt - 1))
        try:
            response = http.post(url, json=payload, headers=headers, timeout=timeout_seconds)
        except httpx.TimeoutException:
            last_error = ProviderError(
                f"The provider did not answer within {timeout_seconds:g} s.", retryable=True
            )
        except httpx.HTTPError as exc:
            last_error = ProviderError(
                f"Could not reach the provider at {url}: {exc}.", retryable=True
            )
        else:
            latency_ms = int((time.monotonic() - started) * 1000)
            if response.status_code == 200:
                try:
                    text, prompt_tokens, completion_tokens, cached = _parse(response, model)
                except ProviderError as exc:
                    last_error = exc
                else:
                    return Completion(
                        text=text,
                        model=model,
                        input_tokens=prompt_tokens,
                        output_tokens=completion_tokens,
                        cached_input_tokens=cached,
                        latency_ms=latency_ms,
                        attempts=attempt,
                    )
            elif response.status_code in RETRYABLE_STATUS:
                last_error = ProviderError(
                    f"The provider answered HTTP {response.status_code}.",
                    retryable=True,
                    status=response.status_code,
                )
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
            else:
                raise ProviderError(
                    f"The provider refused the request: HTTP {response.status_code} "
                    f"{response.text[:200]!r}. Check the base URL, model name and API key.",
                    status=response.status_code,
                )
        if attempt <= max_retries:
            time.sleep(delay)
    assert last_error is not None
    raise ProviderError(
        f"{last_error.message} Gave up after {max_retries + 1} attempts.",
        retryable=False,
        status=last_error.status,
    )
