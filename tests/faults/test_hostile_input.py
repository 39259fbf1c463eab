"""Hostile input: auth brute force, keys kept out of logs, and deploy checks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from django.core.cache import cache

from tests.processes import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.django_db]


def test_brute_force_on_keys_is_throttled(anonymous, reader, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 5
    for attempt in range(5):
        anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer pl_guess{attempt}")
        assert anonymous.get("/api/v1/prompts/").status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer pl_guess-more")
    throttled = anonymous.get("/api/v1/prompts/")
    assert throttled.status_code == 429
    assert throttled["Retry-After"] == "60"
    # Guessing stays throttled for the window; a real key is never slowed down.
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer pl_guess-again")
    assert anonymous.get("/api/v1/prompts/").status_code == 429
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {reader.raw_key}")
    assert anonymous.get("/api/v1/prompts/").status_code == 200
    cache.delete("auth-fail:127.0.0.1")
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer pl_guess-after-the-window")
    assert anonymous.get("/api/v1/prompts/").status_code == 401


def test_keys_never_appear_in_logs(anonymous, reader, writer, caplog):
    caplog.set_level(logging.DEBUG)
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer pl_" + "x" * 43)
    anonymous.get("/api/v1/prompts/")
    reader.client.get("/api/v1/prompts/nope/")
    reader.client.post("/api/v1/prompts/", {"name": "x"}, format="json")  # 403 for a read key
    writer.client.post("/api/v1/prompts/", {"name": "bad name"}, format="json")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "expected the refusals to be logged"
    for secret in ("pl_" + "x" * 43, reader.raw_key, writer.raw_key):
        assert secret not in logged


def test_check_deploy_is_clean_under_production_settings():
    env = {
        **os.environ,
        "SECRET_KEY": "prod-" + "k3y" * 30,
        "HTTPS_ONLY": "true",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "prompts.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["HTTPS_ONLY"] = "true"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
