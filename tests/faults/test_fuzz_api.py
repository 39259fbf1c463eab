"""Fuzz the whole API from its own OpenAPI schema with schemathesis, over HTTP
against a live server: no 5xx, and every response (errors included) matches
the schema. The schemathesis CLI prints each failure with a curl line to
reproduce it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import LOG_DIR

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def fuzz_key(transactional_db):
    from prompts_app.services import library
    from tests.factories import PromptFactory, make_version

    project, _ = library.project_get_or_create(name="fuzz")
    prompt = PromptFactory(project=project, name="greet")
    make_version(prompt, "Hello {{ name }}")
    library.label_move(prompt=prompt, label="production", version_number=1, actor="fuzz")
    _, raw = library.api_key_create(
        project=project, scopes=["read", "write", "ingest"], name="fuzz"
    )
    return raw


def test_api_never_errors_and_matches_its_schema(live_server, fuzz_key, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 1_000_000  # the fuzzer sends broken auth headers too
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Bearer {fuzz_key}",
            "--checks",
            "all",
            # A random prompt name is a 404, not a bug: "valid by the schema" is not "exists".
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            os.environ.get("FUZZ_EXAMPLES", "10"),
            "--seed",
            "20261128",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    (LOG_DIR / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
