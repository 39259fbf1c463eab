"""The benchmark's rows, in table order. Importing a module registers its row."""

from prompts_app.bench.rows import resolve, render, sdk, ingest, evals, growth  # noqa: F401
