"""PromptLedger SDK: a Django-free client and the one prompt renderer shared with the server."""

__version__ = "0.1.0"
