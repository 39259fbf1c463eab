"""Reads, one module per domain: library, evals, ledger, advice (alerts)."""
