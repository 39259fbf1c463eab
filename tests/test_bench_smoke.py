"""The benchmark command runs and writes its report. No speed is asserted here: the
figures are only read for their shape (performance is judged by `manage.py bench`,
as ratios to baselines measured in the same run, never by a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from prompts_app.bench import harness
from prompts_app.bench.load import parse_wrk

ROOT = Path(__file__).resolve().parent.parent

METRIC_FIELDS = {
    "row",
    "metric",
    "unit",
    "ours",
    "baseline",
    "baseline_name",
    "ratio",
    "target",
    "met",
    "runs",
    "notes",
}


def test_bench_render_row_writes_the_table_and_the_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "manage.py", "bench", "--quick", "--rows", "render", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== row render" in done.stdout  # progress lines
    header = next(line for line in done.stdout.splitlines() if line.startswith("row "))
    assert [c.strip() for c in header.split("|")] == [
        "row",
        "metric",
        "ours",
        "baseline",
        "ratio",
        "target",
        "met?",
    ]
    report = json.loads(out.read_text())
    assert report["meta"]["quick"] is True
    assert report["meta"]["rows_requested"] == ["render"]
    assert report["meta"]["wall_seconds"] > 0
    assert [row["name"] for row in report["rows"]] == ["render"]
    assert report["rows"][0]["error"] is None
    metrics = report["metrics"]
    renders = [m for m in metrics if m["unit"] == "us"]
    assert {m["metric"].split(" prompt")[0].split(" template")[0] for m in renders} == {
        "chat",
        "text",
        "172-line",
    }
    for metric in renders:
        assert METRIC_FIELDS <= set(metric)
        assert metric["row"] == "render"
        assert metric["baseline_name"] == "raw Jinja2 sandbox"
        assert len(metric["runs"]["ours"]) >= 3 and len(metric["runs"]["baseline"]) >= 3
        assert metric["ours"] > 0 and metric["baseline"] > 0
        assert metric["ratio"] is not None
        assert metric["target"] == {"on": "ratio", "op": "<=", "value": 1.5, "text": "<= 1.5x"}
    (runaway,) = [m for m in metrics if m["unit"] == "s"]
    assert runaway["metric"].startswith("runaway template refused after")
    assert runaway["ours"] > 0 and runaway["target"]["on"] == "ours"
    assert report["summary"]["targets"] == 4


def test_every_issue_row_is_registered():
    assert list(harness.registered_rows()) == [
        "resolve",
        "render",
        "sdk",
        "ingest",
        "eval",
        "growth",
    ]


def test_unknown_rows_are_refused():
    done = subprocess.run(
        [sys.executable, "manage.py", "bench", "--rows", "render,nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "Unknown row(s): nope" in done.stderr


def test_a_metric_computes_medians_ratio_and_target():
    metric = harness.Metric(
        "r", "m", "ms", [3.0, 1.0, 2.0], [1.0, 1.0, 4.0], "base", harness.ratio_at_most(1.5)
    )
    assert (metric.ours, metric.baseline, metric.ratio, metric.met) == (2.0, 1.0, 2.0, False)
    assert (
        harness.Metric("r", "m", "ns", [500.0], target=harness.value_at_most(1000, "ns")).met
        is True
    )


def test_wrk_output_is_read():
    result = parse_wrk(
        "Running 2s test @ http://127.0.0.1:1/x\n  1 threads and 4 connections\n"
        "  Latency Distribution\n     50%    1.91ms\n     75%    2.10ms\n     90%    2.50ms\n     99%  812.00us\n"
        "  4000 requests in 2.00s, 10.20MB read\n  Non-2xx or 3xx responses: 3\n"
        "Requests/sec:   1999.71\nTransfer/sec:      5.10MB\n"
    )
    assert (result.rps, result.p50_ms, result.p99_ms, result.requests, result.errors) == (
        1999.71,
        1.91,
        0.812,
        4000,
        3,
    )
