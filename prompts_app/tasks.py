"""Thin Celery tasks: primary keys in, one service call each. Job state lives in
our rows (EvalRun, EvalCaseResult, Alert.emailed_at, WebhookDelivery), so every
task is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from prompts_app.services import advice, alerts, evals

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "max_retries": 5}


@shared_task(
    name="prompts_app.tasks.eval_run_execute", time_limit=120, soft_time_limit=110, **RETRY
)
def eval_run_execute(*, run_id: int) -> None:
    pending = evals.eval_run_start(run_id=run_id)
    for case_name, repeat_index in pending:
        evals.eval_case_enqueue(run_id=run_id, case_name=case_name, repeat_index=repeat_index)
    evals.eval_run_finalize(run_id=run_id)


@shared_task(
    name="prompts_app.tasks.eval_case_execute", time_limit=600, soft_time_limit=590, **RETRY
)
def eval_case_execute(*, run_id: int, case_name: str, repeat_index: int) -> None:
    evals.eval_case_execute(run_id=run_id, case_name=case_name, repeat_index=repeat_index)
    evals.eval_run_finalize(run_id=run_id)


@shared_task(name="prompts_app.tasks.eval_runs_sweep", time_limit=120, soft_time_limit=110)
def eval_runs_sweep() -> dict:
    return evals.eval_runs_sweep()


@shared_task(name="prompts_app.tasks.advice_pass_all", time_limit=3600, soft_time_limit=3500)
def advice_pass_all() -> dict:
    return advice.advice_pass_all()


@shared_task(name="prompts_app.tasks.alert_email_send", time_limit=60, soft_time_limit=50, **RETRY)
def alert_email_send(*, alert_id: int) -> bool:
    return alerts.alert_email_send(alert_id=alert_id)


@shared_task(name="prompts_app.tasks.webhook_deliver", time_limit=60, soft_time_limit=50, **RETRY)
def webhook_deliver(*, delivery_id: int) -> str:
    return alerts.webhook_deliver(delivery_id=delivery_id)


@shared_task(name="prompts_app.tasks.deliveries_sweep", time_limit=120, soft_time_limit=110)
def deliveries_sweep() -> int:
    return alerts.deliveries_sweep()
