"""`manage.py bench`: PromptLedger's benchmark, every figure a ratio to a baseline
measured in the same run.

- harness: the row registry, the result records, medians, the table and the JSON;
- environment: the scratch PostgreSQL database, Redis db 5, gunicorn and a Celery worker;
- data: the realistic prompt and the bulk SQL generators (prompts, usage, rollups);
- load: the HTTP load generator (wrk, or a Python fallback);
- rows: one module per row, each registering itself with the harness.
"""
