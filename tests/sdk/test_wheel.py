"""The SDK as its own distribution: build promptledger-sdk's wheel from ./promptledger,
install it into a bare virtualenv (its dependencies come from the package index or
pip's cache), check that Django is not there, and use it against a live server:
get_prompt -> render -> log_usage, with the event stored by the server. The SDK's
Django-free tests (the renderer, the usage batcher) then run against the wheel."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from prompts_app.models import UsageEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = ROOT / "promptledger"
PYTEST_PIN = next(
    dep
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["dev"]
    if dep.startswith("pytest==")
)
# Modules whose import in a test module means it needs the server's side.
SERVER_MODULES = {"django", "prompts_app", "rest_framework", "config", "tests"}


def _env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would let the venv see this repository or
    its .venv (PIP_* settings stay: they say where packages come from)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(extra)
    return env


def _run(args: list, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory) -> Path:
    """A bare virtualenv with only the SDK wheel (and pytest) installed."""
    tmp = tmp_path_factory.mktemp("sdk-wheel")
    # Build from a copy: no build/ or *.egg-info left in the source tree.
    source = tmp / "src" / "promptledger"
    shutil.copytree(
        SDK_DIR,
        source,
        ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"),
    )
    dist = tmp / "dist"
    _ok(
        _run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source],
            cwd=tmp,
        )
    )
    (wheel,) = dist.glob("promptledger_sdk-*-py3-none-any.whl")

    venv = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], cwd=tmp))
    python = venv / "bin" / "python"
    _ok(_run([python, "-m", "pip", "install", "--quiet", wheel, PYTEST_PIN], cwd=tmp, timeout=300))
    return venv


def test_the_wheel_installs_without_django(sdk_venv):
    python = sdk_venv / "bin" / "python"
    tmp = sdk_venv.parent

    no_django = _run([python, "-c", "import django"], cwd=tmp)
    assert no_django.returncode != 0 and "No module named 'django'" in no_django.stderr

    where = _ok(
        _run(
            [
                python,
                "-c",
                "import promptledger, promptledger.rendering, promptledger.cli, sys;"
                "print(promptledger.__file__);"
                "print(sorted(m for m in sys.modules if m.split('.')[0] in"
                " {'django', 'prompts_app', 'rest_framework', 'celery'}))",
            ],
            cwd=tmp,
        )
    ).splitlines()
    assert where[0].startswith(str(sdk_venv)), where  # the wheel, not the checkout
    assert where[1] == "[]"

    (dist_info,) = (sdk_venv / "lib").glob("python3*/site-packages/promptledger_sdk-*.dist-info")
    assert (dist_info.parent / "promptledger" / "py.typed").exists()
    assert (dist_info.parent / "promptledger" / "README.md").exists()
    assert (sdk_venv / "bin" / "promptledger").exists()  # the console script


SCRIPT = """
import asyncio, json, sys
import promptledger
from promptledger import AsyncPromptLedger, PromptLedger

url, key = sys.argv[1], sys.argv[2]
with PromptLedger(url, key, flush_interval=0.05) as client:
    prompt = client.get_prompt("reply", label="production")
    text = prompt.render(name="Ada")
    event_id = client.log_usage(
        prompt, model="gpt-4o-mini", input_tokens=812, cached_input_tokens=512,
        output_tokens=164, latency_ms=930,
    )
    flushed = client.flush(timeout=15)
    stats = client.stats()
closed = client.close()


async def main():
    async with AsyncPromptLedger(url, key) as aclient:
        return (await aclient.get_prompt("reply", version=2)).render({"name": "Bo"})

print(json.dumps({
    "text": text, "version": prompt.version, "event_id": event_id, "flushed": flushed,
    "closed": closed, "stats": stats, "async_text": asyncio.run(main()),
    "file": promptledger.__file__,
    "server_modules": sorted(m for m in sys.modules if m.split(".")[0] in
                             {"django", "prompts_app", "rest_framework", "celery"}),
}))
"""


def test_get_prompt_render_and_log_usage_against_a_live_server(
    sdk_venv, server_url, sdk_key, reply
):
    tmp = sdk_venv.parent
    script = tmp / "use_sdk.py"
    script.write_text(SCRIPT)
    out = json.loads(_ok(_run([sdk_venv / "bin" / "python", script, server_url, sdk_key], tmp)))

    assert out["file"].startswith(str(sdk_venv)) and out["server_modules"] == []
    assert (out["text"], out["version"]) == ("Hello Ada, this is v1.", 1)
    assert out["async_text"] == "Hello Bo, this is v2."
    assert out["flushed"] and out["closed"]
    assert out["stats"]["accepted"] == 1 and out["stats"]["rejected"] == 0

    event = UsageEvent.objects.get(event_id=out["event_id"])
    assert (event.prompt_id, event.version_number, event.label) == (reply.pk, 1, "production")
    assert (event.model, event.input_tokens, event.cached_input_tokens, event.output_tokens) == (
        "gpt-4o-mini",
        812,
        512,
        164,
    )

    # The `promptledger` command comes with the wheel and renders locally.
    rendered = _run(
        [sdk_venv / "bin" / "promptledger", "render", "reply", "--var", "name=Cy"],
        tmp,
        PROMPTLEDGER_URL=server_url,
        PROMPTLEDGER_API_KEY=sdk_key,
    )
    assert _ok(rendered) == "Hello Cy, this is v1.\n"


def _django_free(module: Path) -> bool:
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name.split(".")[0] in SERVER_MODULES for name in names):
            return False
    return True


def test_the_sdks_django_free_tests_pass_against_the_wheel(sdk_venv):
    """tests/rendering and the Django-free modules of tests/sdk, copied next to the
    venv (so neither this checkout nor its conftest files are on the path)."""
    run = sdk_venv.parent / "run"
    modules = sorted(
        path
        for folder in ("tests/rendering", "tests/sdk")
        for path in (ROOT / folder).glob("test_*.py")
        if _django_free(path)
    )
    assert ROOT / "tests/sdk/test_batcher.py" in modules and len(modules) >= 5, modules
    for path in modules:
        target = run / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for package in {Path("tests")} | {path.relative_to(ROOT).parent for path in modules}:
        (run / package / "__init__.py").touch()
    shutil.copytree(ROOT / "fixtures" / "chat_templates", run / "fixtures" / "chat_templates")
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "markers"
    ]
    (run / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n"
        + "".join(f"    {marker}\n" for marker in markers)
    )
    (run / "conftest.py").write_text(  # which promptledger did the tests import?
        "import pathlib\n\nimport promptledger\n\n"
        "pathlib.Path('promptledger-origin.txt').write_text(promptledger.__file__)\n"
    )

    result = _run(
        [sdk_venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        run,
        timeout=300,
    )
    out = _ok(result)
    assert (run / "promptledger-origin.txt").read_text().startswith(str(sdk_venv))
    assert " passed" in out.splitlines()[-1] and "failed" not in out.splitlines()[-1]
