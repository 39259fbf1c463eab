"""Row 2, render: ``promptledger.rendering.render`` of the realistic prompt (about 1.5 KB
of system text, 10 few-shot examples, 5 variables with a JSON Schema), µs per render,
against raw Jinja2: a plain ``SandboxedEnvironment`` rendering the same template
sources, compiled once beforehand, into the same output (checked byte for byte).
In-process; needs neither the database nor the server."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from promptledger import rendering
from prompts_app.bench import data
from prompts_app.bench.harness import Context, Metric, ratio_at_most, row, value_at_most

TARGET = ratio_at_most(1.5)
AGENT_PROMPT = Path(__file__).resolve().parents[3] / "fixtures" / "bench"


def agent_prompt() -> tuple[str, dict, list[dict]]:
    """A 172-line agent system prompt with seven macros, loops over orders, tools,
    policies and products, and its variables (fixtures/bench)."""
    source = (AGENT_PROMPT / "agent_system_prompt.jinja").read_text(encoding="utf-8")
    variables = json.loads(
        (AGENT_PROMPT / "agent_system_prompt_variables.json").read_text(encoding="utf-8")
    )
    examples = variables.pop("examples")
    return source, variables, examples


class RawJinja:
    """The baseline: what rendering these templates costs with Jinja2 alone."""

    def __init__(self) -> None:
        self.env = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.text = self.env.from_string(data.TEXT_TEMPLATE)
        self.system = self.env.from_string(data.CHAT_MESSAGES[0]["content"])
        self.user = self.env.from_string(data.CHAT_MESSAGES[1]["content"])

    def render_text(self, variables: dict, examples: list[dict]) -> str:
        return self.text.render({**variables, "examples": examples})

    def render_chat(self, variables: dict, examples: list[dict]) -> list[dict]:
        context = {**variables, "examples": examples}
        messages = [{"role": "system", "content": self.system.render(context)}]
        for example in examples:
            messages.append(
                {
                    "role": "user",
                    "content": self.user.render({**example["input"], "examples": examples}),
                }
            )
            messages.append({"role": "assistant", "content": example["output"]})
        messages.append({"role": "user", "content": self.user.render(context)})
        return messages


def _per_call_us(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def measure(ctx: Context) -> list[Metric]:
    raw = RawJinja()
    examples = data.examples()
    variables = data.VARIABLES
    schema = data.VARIABLES_SCHEMA
    agent_source, agent_variables, agent_examples = agent_prompt()
    agent_stock = raw.env.from_string(agent_source)
    cases = {
        "macros": (
            lambda: rendering.render(
                "text", agent_source, agent_variables, examples=agent_examples
            ),
            lambda: agent_stock.render({**agent_variables, "examples": agent_examples}),
        ),
        "chat": (
            lambda: rendering.render(
                "chat", data.CHAT_MESSAGES, variables, examples=examples, schema=schema
            ),
            lambda: raw.render_chat(variables, examples),
        ),
        "text": (
            lambda: rendering.render(
                "text", data.TEXT_TEMPLATE, variables, examples=examples, schema=schema
            ),
            lambda: raw.render_text(variables, examples),
        ),
    }
    runs, n = ctx.pick(5, 3), ctx.pick(1500, 300)
    metrics = []
    for kind, (ours, baseline) in cases.items():
        mine, theirs = ours(), baseline()  # also compiles (and caches) our templates
        if mine != theirs:
            raise AssertionError(
                f"the {kind} baseline does not render the same output as promptledger.rendering"
            )
        size = len(mine) if isinstance(mine, str) else sum(len(m["content"]) for m in mine)
        for _ in range(max(50, n // 10)):  # warm-up
            ours()
            baseline()
        ours_runs, base_runs = [], []
        for index in range(runs):
            ours_runs.append(_per_call_us(ours, n))
            base_runs.append(_per_call_us(baseline, n))
        ctx.progress(f"  render {kind}: {runs} runs x {n} renders each ({size:,} characters out)")
        metrics.append(
            Metric(
                row="render",
                metric=(
                    "172-line template with macros vs stock sandboxed Jinja"
                    if kind == "macros"
                    else f"{kind} prompt render (1.5 KB system, 10 examples, 5 vars)"
                ),
                unit="us",
                ours_runs=ours_runs,
                baseline_runs=base_runs,
                baseline_name="raw Jinja2 sandbox",
                target=TARGET,
                extra={"output_chars": size, "renders_per_run": n},
            )
        )
    return metrics


# Templates that run until the render deadline stops them (each one's cost is in a
# builtin operation the guards can only check between calls).
HOSTILE = [
    "{% for i in range(10000) %}{{ ('x ' * 50000)|title|length }}{% endfor %}",
    "{% for i in range(10000) %}{{ ('x ' * 50000)|wordcount }}{% endfor %}",
    "{% for i in range(10000) %}{{ (range(10000)|list)|sort|length }}{% endfor %}",
    "{% for i in range(10000) %}{{ ('%s' % (range(10000)|list))|length }}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{{ (j|string)[0:0] }}{% endfor %}"
    "{% endfor %}",
]


def measure_hostile(ctx: Context) -> Metric:
    """Seconds until a runaway template is refused, worst of the set, per run."""
    runs = []
    for _ in range(ctx.pick(3, 1)):
        worst = 0.0
        for source in HOSTILE:
            started = time.perf_counter()
            try:
                rendering.render("text", source, {})
            except rendering.RenderLimitExceeded:
                pass
            else:
                raise AssertionError(f"a runaway template rendered: {source}")
            worst = max(worst, time.perf_counter() - started)
        runs.append(worst)
    ctx.progress(f"  render hostile: worst of {len(HOSTILE)} runaway templates, {len(runs)} runs")
    return Metric(
        row="render",
        metric=f"runaway template refused after (worst of {len(HOSTILE)}; deadline "
        f"{rendering.DEFAULT_LIMITS.max_render_seconds:g} s)",
        unit="s",
        ours_runs=runs,
        target=value_at_most(1.5, "s"),
    )


@row("render", order=20, title="server-side render vs raw Jinja2 SandboxedEnvironment")
def render_row(ctx: Context) -> list[Metric]:
    return measure(ctx) + [measure_hostile(ctx)]
