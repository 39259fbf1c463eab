"""Writes, one module per domain: library (projects, keys, prompts, versions, labels,
example sets), evals, ledger (usage ingestion), pricing, finetune, advice, alerts;
validation holds the input cleaners they share."""
