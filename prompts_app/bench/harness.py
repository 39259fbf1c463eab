"""The benchmark harness: a registry of rows, the records they return, and the report.

A row is a function ``fn(ctx) -> list[Metric]`` registered with :func:`row`. It names
what it needs from the environment (``"db"``: the scratch database with the base data,
``"server"``: gunicorn on it); the harness starts those before it runs the row. Every
metric carries its own runs (ours and the baseline's, measured in the same run of the
command), their medians, the ratio ours / baseline and, where the project has one, the
target and whether it was met.

Adding a row: write ``prompts_app/bench/rows/<name>.py`` with a function decorated
``@row("<name>", order=N, needs=(...), title="...")`` returning ``list[Metric]``, and
import it in ``rows/__init__.py``; ``--rows <name>`` and the table pick it up.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """What "met" means for one metric.

    ``on`` is "ratio" (ours / baseline) or "ours" (the figure itself, in the metric's
    unit); ``op`` is "<=" or ">="; ``text`` is how the table shows it.
    """

    on: str
    op: str
    value: float
    text: str

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        figure = ratio if self.on == "ratio" else ours
        if figure is None or math.isnan(figure):
            return None
        return figure <= self.value if self.op == "<=" else figure >= self.value

    def as_dict(self) -> dict:
        return {"on": self.on, "op": self.op, "value": self.value, "text": self.text}


def ratio_at_least(value: float) -> Target:
    return Target("ratio", ">=", value, f">= {value:g}x")


def ratio_at_most(value: float) -> Target:
    return Target("ratio", "<=", value, f"<= {value:g}x")


def value_at_most(value: float, unit: str) -> Target:
    return Target("ours", "<=", value, f"<= {value:g} {unit}")


# --------------------------------------------------------------------------- results


def median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


@dataclass
class Metric:
    """One line of the table. ``ours_runs`` / ``baseline_runs`` are the per-run figures;
    ``ours`` / ``baseline`` their medians (or given directly, for a derived figure)."""

    row: str
    metric: str
    unit: str
    ours_runs: list[float]
    baseline_runs: list[float] = field(default_factory=list)
    baseline_name: str = ""
    target: Target | None = None
    notes: str = ""
    ours: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ours is None:
            self.ours = median(self.ours_runs)
        if self.baseline is None:
            self.baseline = median(self.baseline_runs)
        if self.ratio is None and self.ours is not None and self.baseline:
            self.ratio = self.ours / self.baseline

    @property
    def met(self) -> bool | None:
        return self.target.met(self.ours, self.ratio) if self.target else None

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "metric": self.metric,
            "unit": self.unit,
            "ours": _num(self.ours),
            "baseline": _num(self.baseline),
            "baseline_name": self.baseline_name,
            "ratio": _num(self.ratio),
            "target": self.target.as_dict() if self.target else None,
            "met": self.met,
            "runs": {
                "ours": [_num(v) for v in self.ours_runs],
                "baseline": [_num(v) for v in self.baseline_runs],
            },
            "notes": self.notes,
            **({"extra": self.extra} if self.extra else {}),
        }


def _num(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(f"{value:.6g}")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Row:
    name: str
    fn: Callable[[Context], list[Metric]]
    needs: tuple[str, ...]
    title: str
    order: int


ROWS: dict[str, Row] = {}


def row(name: str, *, order: int, needs: Iterable[str] = (), title: str = ""):
    """Register a row function under ``name``; rows run and print in ``order``."""

    def register(fn: Callable[[Context], list[Metric]]):
        ROWS[name] = Row(name=name, fn=fn, needs=tuple(needs), title=title or name, order=order)
        return fn

    return register


def registered_rows() -> dict[str, Row]:
    """Every row, in table order."""
    from prompts_app.bench import rows  # noqa: F401 - importing registers the rows

    return dict(sorted(ROWS.items(), key=lambda item: item[1].order))


# --------------------------------------------------------------------------- context


class Progress:
    """One line per step, prefixed with the time since the start, flushed at once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, message: str) -> None:
        self.stream.write(f"[{self.elapsed():6.1f}s] {message}\n")
        self.stream.flush()


@dataclass
class Options:
    quick: bool = False
    rows: list[str] = field(default_factory=list)
    json_path: Path | None = None

    def pick(self, full: Any, quick: Any) -> Any:
        """A size or count: ``full`` for the whole run, ``quick`` for --quick."""
        return quick if self.quick else full


class Context:
    """What a row gets: the options, progress output, and the environment (started
    lazily: ``ctx.env`` is the running :class:`~prompts_app.bench.environment.Environment`)."""

    def __init__(self, options: Options, progress: Progress, env: Any = None) -> None:
        self.options = options
        self.progress = progress
        self.env = env
        self.quick = options.quick

    def pick(self, full: Any, quick: Any) -> Any:
        return self.options.pick(full, quick)


# --------------------------------------------------------------------------- running


@dataclass
class RowOutcome:
    name: str
    seconds: float
    metrics: list[Metric]
    error: str | None = None
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and the end


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def run_rows(
    ctx: Context, names: list[str], ensure: Callable[[tuple[str, ...]], None]
) -> list[RowOutcome]:
    """Run the named rows in registry order. A row that fails is recorded with its
    error (and the others still run); Ctrl-C stops everything."""
    rows = registered_rows()
    outcomes = []
    for name in [n for n in rows if n in names]:
        spec = rows[name]
        load_before = load_average()
        ctx.progress(
            f"== row {name}: {spec.title} (load average {load_before:.2f} on {os.cpu_count()} cpus)"
        )
        started = time.monotonic()
        try:
            ensure(spec.needs)
            metrics = spec.fn(ctx)
            error = None
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if getattr(exc, "fatal", False):  # the environment itself is broken: stop
                raise
            import traceback

            traceback.print_exc()
            metrics, error = [], f"{type(exc).__name__}: {exc}"
            ctx.progress(f"!! row {name} failed: {error}")
        seconds = time.monotonic() - started
        ctx.progress(f"== row {name} done in {seconds:.1f} s")
        outcomes.append(RowOutcome(name, seconds, metrics, error, (load_before, load_average())))
    return outcomes


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude == 0:
        text = "0"
    elif magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def table(outcomes: list[RowOutcome]) -> str:
    headers = ["row", "metric", "ours", "baseline", "ratio", "target", "met?"]
    lines: list[list[str]] = []
    for outcome in outcomes:
        if outcome.error:
            lines.append([outcome.name, f"FAILED: {outcome.error}"[:90], "", "", "", "", ""])
        for m in outcome.metrics:
            met = m.met
            lines.append(
                [
                    m.row,
                    m.metric + (f" (vs {m.baseline_name})" if m.baseline_name else ""),
                    _fmt(m.ours, m.unit),
                    _fmt(m.baseline, m.unit),
                    "-" if m.ratio is None else f"{m.ratio:.2f}x",
                    m.target.text if m.target else "",
                    "" if met is None else ("yes" if met else "NO"),
                ]
            )
    widths = [
        max(len(headers[i]), *(len(line[i]) for line in lines)) if lines else len(headers[i])
        for i in range(7)
    ]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(headers, widths)),
        "-+-".join("-" * w for w in widths),
    ]
    for line in lines:
        out.append(" | ".join(c.ljust(w) for c, w in zip(line, widths)))
    return "\n".join(out)


def report(outcomes: list[RowOutcome], *, options: Options, meta: dict) -> dict:
    metrics = [m for o in outcomes for m in o.metrics]
    targets = [m for m in metrics if m.target is not None]
    return {
        "meta": {
            "command": "manage.py bench" + (" --quick" if options.quick else ""),
            "quick": options.quick,
            "rows_requested": options.rows,
            "finished_at": dt.datetime.now(dt.UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            **meta,
        },
        "rows": [
            {
                "name": o.name,
                "seconds": round(o.seconds, 2),
                "error": o.error,
                "load_average": {"start": o.load[0], "end": o.load[1]},
                "metrics": [m.as_dict() for m in o.metrics],
            }
            for o in outcomes
        ],
        "metrics": [m.as_dict() for m in metrics],
        "summary": {
            "targets": len(targets),
            "met": sum(1 for m in targets if m.met),
            "missed": [f"{m.row}: {m.metric}" for m in targets if m.met is False],
            "failed_rows": [o.name for o in outcomes if o.error],
        },
    }


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
