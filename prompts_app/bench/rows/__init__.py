"""The benchmark's rows. Importing a module registers its row; ``order`` in each
``@row(...)`` places it in the table."""

from prompts_app.bench.rows import evals, growth, ingest, render, resolve, sdk  # noqa: F401
