"""Sending Celery tasks by name, for the services that enqueue work.

A broker outage never fails the write that asked for the job: the send is
logged and the job's own row stays pending, for the minute sweepers to send.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def send(task: str, **kwargs) -> bool:
    """Send `task` with keyword arguments; False (logged) if the broker is unreachable."""
    try:
        current_app.send_task(
            task,
            kwargs=kwargs,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure: a sweeper resends
        logger.warning("could not enqueue %s %s (a sweeper will retry): %s", task, kwargs, exc)
        return False
    return True
