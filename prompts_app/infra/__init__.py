"""Plumbing shared by every domain: the resolve cache, the API-key cache, sending
Celery jobs, the input-hygiene middleware."""
