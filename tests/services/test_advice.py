"""The advisor fed from the ledger, alerts that fire once, and the fine-tuning export.

Hand-worked case (DESIGN.md's reference case, built from real rows): a text
prompt whose static text is 850 tokens (" hello" × 850), 50 of which stay as
the residual instruction → 800 tokens removable; 1,000,000 calls in the last
30 days; $2.00 per 1M input tokens before and after tuning; no output tokens;
training priced at $0 with a $10,000 data-preparation cost.
  saving per call = 800 × $2 / 1M = $0.0016 → × 1,000,000 = $1,600.00 a month
  payback = $10,000 / $1,600 = 6.25 months (within 12)
  break-even = 10,000 / (12 × 0.0016) = 520,833.3… → 520,834 calls/month
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal

import httpx
import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from prompts_app.models import (
    AdvisorSettings,
    Alert,
    ModelPrice,
    UsageRollup,
    Webhook,
    WebhookDelivery,
)
from prompts_app.services import advice, alerts, library
from tests.factories import PromptFactory
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def tuned(acme):
    ModelPrice.objects.create(
        project=acme,
        model="acme-model",
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        input_per_1m=Decimal("2"),
        output_per_1m=Decimal("8"),
        ft_input_per_1m=Decimal("2"),
        ft_output_per_1m=Decimal("8"),
        training_per_1m=Decimal("0"),
    )
    AdvisorSettings.objects.create(
        project=acme, data_preparation_cost=Decimal("10000"), alert_emails="ops@acme.test"
    )
    example_set = library.example_set_create(project=acme, name="qa")
    examples = [
        {"input": {"q": f"question {i}"}, "output": f"answer {i}", "approved": True}
        for i in range(500)
    ]
    esv = library.example_set_version_create(example_set=example_set, examples=examples)
    prompt = PromptFactory(project=acme, name="faq", description="Answer support questions.")
    library.prompt_version_create(
        prompt=prompt,
        template="{{ q }}" + " hello" * 850,
        model_config={"model": "acme-model"},
        example_set_version=esv,
    )
    return prompt


def usage(prompt, calls, *, days_ago=29, input_per_call=1000):
    UsageRollup.objects.update_or_create(
        prompt=prompt,
        version_number=1,
        model="acme-model",
        day=timezone.now().date() - dt.timedelta(days=days_ago),
        defaults={
            "project": prompt.project,
            "calls": calls,
            "input_tokens": calls * input_per_call,
        },
    )


def test_reference_case_from_the_ledger(tuned):
    usage(tuned, 1_000_000)
    result = advice.prompt_advice(prompt=tuned)
    assert result["static_tokens"] == {
        "prompt_tokens": 850,
        "example_tokens": 0,
        "residual_instruction_tokens": 50,
    }
    assert result["inputs"]["tokens_removable"] == "800"
    assert result["inputs"]["calls_per_month"] == "1000000"
    assert result["inputs"]["approved_examples"] == 500
    figures = result["figures"]
    assert figures["monthly_savings"] == "1600.00"
    assert figures["one_time_cost"] == "10000.00"
    assert figures["payback_months"] == "6.25"
    assert figures["break_even_calls_per_month"] == "520834"
    assert result["verdict"] == "fine_tune"
    assert any("1,600.00" in reason for reason in result["reasons"])


def test_volume_is_scaled_to_a_month_when_fewer_days_were_observed(tuned):
    usage(tuned, 100_000, days_ago=9)  # 10 days observed → × 3
    result = advice.prompt_advice(prompt=tuned)
    assert Decimal(result["inputs"]["calls_per_month"]) == 300_000


def test_too_little_volume_keeps_prompting(tuned):
    usage(tuned, 40_000)
    result = advice.prompt_advice(prompt=tuned)
    assert result["verdict"] == "keep_prompting"
    assert result["checks"]["volume"] is False


def test_a_model_without_a_fine_tuning_offer_keeps_prompting(tuned):
    ModelPrice.objects.filter(model="acme-model").update(ft_input_per_1m=None)
    result = advice.prompt_advice(prompt=tuned)
    assert result["verdict"] == "keep_prompting"
    assert "no fine-tuning offer" in result["reasons"][0]


def test_advice_api_and_outsider(reader, outsider, tuned):
    usage(tuned, 1_000_000)
    body = reader.client.get("/api/v1/prompts/faq/advice").json()
    assert body["verdict"] == "fine_tune"
    assert len(body["payback_schedule"]) == 24
    assert body["payback_schedule"][6]["net"] == str(Decimal(1600) * 7 - 10000) + ".00"
    assert outsider.client.get("/api/v1/prompts/faq/advice").status_code == 404


class TestWhatIf:
    REFERENCE = {
        "calls_per_month": 1_000_000,
        "avg_input_tokens": 1000,
        "avg_output_tokens": 0,
        "tokens_removable": 800,
        "input_price_per_1m": "2.00",
        "output_price_per_1m": "8",
        "one_time_cost": 10000,
        "approved_examples": 500,
        "versions_last_30_days": 1,
    }

    def test_reference_case(self, reader):
        body = reader.client.post("/api/v1/advice/what-if", self.REFERENCE, format="json").json()
        assert body["verdict"] == "fine_tune"
        assert body["figures"]["monthly_savings"] == "1600.00"
        assert body["figures"]["payback_months"] == "6.25"
        assert body["figures"]["break_even_calls_per_month"] == "520834"
        assert (
            body["inputs"]["ft_input_price_per_1m"] == "2.00"
            or Decimal(body["inputs"]["ft_input_price_per_1m"]) == 2
        )

    def test_never_pays_back_when_the_tuned_model_costs_more(self, reader):
        body = reader.client.post(
            "/api/v1/advice/what-if",
            {
                **self.REFERENCE,
                "ft_input_price_per_1m": "20",
                "ft_output_price_per_1m": "80",
                "avg_output_tokens": 100,
            },
            format="json",
        ).json()
        assert body["figures"]["payback_months"] is None
        assert body["figures"]["break_even_calls_per_month"] is None
        assert body["verdict"] == "keep_prompting"

    @pytest.mark.parametrize(
        "change, field",
        [
            ({"calls_per_month": None}, "calls_per_month"),
            ({"cached_input_share": "1.5"}, "cached_input_share"),
            ({"avg_input_tokens": "lots"}, "avg_input_tokens"),
            ({"one_time_cost": -1}, "one_time_cost"),
            ({"colour": "blue"}, "colour"),
        ],
    )
    def test_bad_inputs_are_a_400_naming_the_field(self, reader, change, field):
        body = {**self.REFERENCE, **change}
        body = {k: v for k, v in body.items() if v is not None}
        response = reader.client.post("/api/v1/advice/what-if", body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["field"] == field


VERDICT_KINDS = (Alert.KIND_FINE_TUNE, Alert.KIND_NO_LONGER)


def verdict_alert(raised):
    """The one fine-tuning verdict alert among those raised, or None."""
    found = [alert for alert in raised if alert.kind in VERDICT_KINDS]
    assert len(found) <= 1
    return found[0] if found else None


class TestAlerts:
    def test_an_alert_fires_once_when_the_verdict_becomes_fine_tune_and_once_when_it_stops(
        self, tuned, django_capture_on_commit_callbacks
    ):
        usage(tuned, 1_000_000)
        with django_capture_on_commit_callbacks(execute=False):
            first = verdict_alert(advice.advice_evaluate(prompt=tuned))
            again = verdict_alert(advice.advice_evaluate(prompt=tuned))
        assert first.kind == Alert.KIND_FINE_TUNE and again is None
        assert first.figures["monthly_savings"] == "1600.00"
        usage(tuned, 10_000)
        with django_capture_on_commit_callbacks(execute=False):
            stopped = verdict_alert(advice.advice_evaluate(prompt=tuned))
            quiet = verdict_alert(advice.advice_evaluate(prompt=tuned))
        assert stopped.kind == Alert.KIND_NO_LONGER and quiet is None
        assert Alert.objects.filter(kind__in=VERDICT_KINDS).count() == 2

    def test_keep_prompting_from_the_start_raises_nothing(self, tuned):
        usage(tuned, 10)
        assert verdict_alert(advice.advice_evaluate(prompt=tuned)) is None
        assert advice.advice_pass_all() == {"prompts": 1, "alerts": 0}

    def test_alert_email_is_sent_once(self, tuned, django_capture_on_commit_callbacks):
        usage(tuned, 1_000_000)
        with django_capture_on_commit_callbacks(execute=False):
            alert = verdict_alert(advice.advice_evaluate(prompt=tuned))
        assert alerts.alert_email_send(alert_id=alert.pk) is True
        assert alerts.alert_email_send(alert_id=alert.pk) is False
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["ops@acme.test"]
        assert "1600.00" in mail.outbox[0].subject

    def test_webhook_is_retried_while_the_receiver_is_down_and_delivered_once(
        self, tuned, django_capture_on_commit_callbacks
    ):
        receiver = WebhookReceiver()
        url, port = receiver.url, receiver.port
        receiver.stop()  # down: connection refused
        Webhook.objects.create(project=tuned.project, url=url)
        usage(tuned, 1_000_000)
        with django_capture_on_commit_callbacks(execute=False):
            alert = verdict_alert(advice.advice_evaluate(prompt=tuned))
        delivery = WebhookDelivery.objects.get(alert=alert)
        assert alerts.webhook_deliver(delivery_id=delivery.pk) == WebhookDelivery.PENDING
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and "ConnectError" in delivery.last_error
        assert delivery.next_attempt_at > timezone.now()

        revived = WebhookReceiver(port=port)  # the receiver comes back on the same port
        try:
            assert alerts.webhook_deliver(delivery_id=delivery.pk) == WebhookDelivery.DELIVERED
            assert alerts.webhook_deliver(delivery_id=delivery.pk) == "skipped"
            assert len(revived.received) == 1
            assert revived.received[0]["prompt"] == "faq"
            assert revived.received[0]["figures"]["payback_months"] == "6.25"
            assert (
                revived.headers[0]["Idempotency-Key"]
                == f"promptledger-alert-{alert.pk}-{delivery.webhook_id}"
            )
        finally:
            revived.stop()

    @staticmethod
    def alert_of(prompt, django_capture_on_commit_callbacks):
        """An alert made in its own transaction, its emails and deliveries not enqueued."""
        with django_capture_on_commit_callbacks(execute=False), transaction.atomic():
            return alerts.alert_create(
                prompt=prompt,
                kind=Alert.KIND_FINE_TUNE,
                advice={"verdict": "fine_tune", "figures": {}, "reasons": ["pays off"]},
            )

    @staticmethod
    def row_is_locked(model, pk) -> bool:
        """Whether another connection (another worker) finds the row locked."""
        found: list[bool] = []

        def probe():
            try:
                with transaction.atomic():
                    model.objects.select_for_update(nowait=True).get(pk=pk)
                found.append(False)
            except DatabaseError:
                found.append(True)
            finally:
                connection.close()

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(timeout=10)
        return found[0]

    @pytest.mark.django_db(transaction=True)
    def test_a_webhook_is_posted_outside_any_transaction_and_lock_and_only_once(
        self, tuned, django_capture_on_commit_callbacks, monkeypatch
    ):
        receiver = WebhookReceiver()
        Webhook.objects.create(project=tuned.project, url=receiver.url)
        alert = self.alert_of(tuned, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(alert=alert)
        seen = []
        real_post = httpx.post

        def watched_post(*args, **kwargs):
            seen.append(
                {
                    "in_transaction": connection.in_atomic_block,
                    "row_locked": self.row_is_locked(WebhookDelivery, delivery.pk),
                    # the same message redelivered to another worker meanwhile:
                    "redelivered": alerts.webhook_deliver(delivery_id=delivery.pk),
                }
            )
            return real_post(*args, **kwargs)

        monkeypatch.setattr(alerts.httpx, "post", watched_post)
        try:
            assert alerts.webhook_deliver(delivery_id=delivery.pk) == WebhookDelivery.DELIVERED
            assert alerts.webhook_deliver(delivery_id=delivery.pk) == "skipped"
        finally:
            receiver.stop()
        assert seen == [{"in_transaction": False, "row_locked": False, "redelivered": "skipped"}]
        assert len(receiver.received) == 1
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.claimed_until) == (1, None)

    def test_a_delivery_whose_worker_died_is_sent_once_its_claim_lapses(
        self, tuned, django_capture_on_commit_callbacks
    ):
        receiver = WebhookReceiver()
        Webhook.objects.create(project=tuned.project, url=receiver.url)
        alert = self.alert_of(tuned, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(alert=alert)
        now = timezone.now()
        try:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                claimed_until=now + dt.timedelta(minutes=1), attempts=1
            )
            assert alerts.webhook_deliver(delivery_id=delivery.pk, now=now) == "skipped"
            later = now + dt.timedelta(minutes=2)
            assert (
                alerts.webhook_deliver(delivery_id=delivery.pk, now=later)
                == WebhookDelivery.DELIVERED
            )
        finally:
            receiver.stop()
        assert len(receiver.received) == 1
        delivery.refresh_from_db()
        assert delivery.attempts == 2

    @pytest.mark.django_db(transaction=True)
    def test_an_alert_email_is_sent_outside_any_transaction_and_lock_and_only_once(
        self, tuned, django_capture_on_commit_callbacks, monkeypatch
    ):
        alert = self.alert_of(tuned, django_capture_on_commit_callbacks)
        seen = []
        real_send_mail = alerts.send_mail

        def watched_send_mail(**kwargs):
            seen.append(
                {
                    "in_transaction": connection.in_atomic_block,
                    "row_locked": self.row_is_locked(Alert, alert.pk),
                    "redelivered": alerts.alert_email_send(alert_id=alert.pk),
                }
            )
            return real_send_mail(**kwargs)

        monkeypatch.setattr(alerts, "send_mail", watched_send_mail)
        assert alerts.alert_email_send(alert_id=alert.pk) is True
        assert alerts.alert_email_send(alert_id=alert.pk) is False
        assert seen == [{"in_transaction": False, "row_locked": False, "redelivered": False}]
        assert len(mail.outbox) == 1

    def test_an_email_that_fails_to_send_is_tried_again(
        self, tuned, django_capture_on_commit_callbacks, monkeypatch
    ):
        alert = self.alert_of(tuned, django_capture_on_commit_callbacks)

        def smtp_down(**kwargs):
            raise ConnectionRefusedError("smtp down")

        with monkeypatch.context() as patched:
            patched.setattr(alerts, "send_mail", smtp_down)
            with pytest.raises(ConnectionRefusedError):
                alerts.alert_email_send(alert_id=alert.pk)
        alert.refresh_from_db()
        assert (alert.emailed_at, alert.email_claimed_until) == (None, None)
        assert alerts.alert_email_send(alert_id=alert.pk) is True
        assert len(mail.outbox) == 1

    def test_alerts_api_lists_and_acknowledges(
        self, writer, outsider, tuned, django_capture_on_commit_callbacks
    ):
        usage(tuned, 1_000_000)
        with django_capture_on_commit_callbacks(execute=False):
            raised = advice.advice_evaluate(prompt=tuned)
        alert = verdict_alert(raised)
        listed = writer.client.get("/api/v1/alerts/?state=new").json()["results"]
        assert sorted(a["id"] for a in listed) == sorted(a.pk for a in raised)
        assert outsider.client.post(f"/api/v1/alerts/{alert.pk}/acknowledge").status_code == 404
        acked = writer.client.post(f"/api/v1/alerts/{alert.pk}/acknowledge").json()
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "api-key:writer"
        still_new = writer.client.get("/api/v1/alerts/?state=new").json()["results"]
        assert alert.pk not in [a["id"] for a in still_new]
        assert len(still_new) == len(raised) - 1


def test_finetune_export_jsonl_and_stats(reader, tuned):
    response = reader.client.get("/api/v1/prompts/faq/finetune-export?split=train")
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    validation = [
        json.loads(line)
        for line in reader.client.get("/api/v1/prompts/faq/finetune-export?split=validation")
        .content.decode()
        .splitlines()
    ]
    assert len(lines) + len(validation) == 500
    assert 20 <= len(validation) <= 80  # about one in ten, chosen by content hash
    first = lines[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[0]["content"] == "Answer support questions."
    assert json.loads(first[1]["content"])["q"].startswith("question ")
    stats = reader.client.get("/api/v1/prompts/faq/finetune-export/stats").json()
    assert stats["train"]["examples"] == len(lines)
    assert stats["epochs"] == 3
    assert stats["training_tokens"] == stats["train"]["tokens"] * 3
    assert stats["estimated_training_cost"] == "0.00"


class TestWorldAlerts:
    """Besides the verdict: a strategy worth money, a version that broke the
    cache, a model about to shut down. Each fires once while it holds."""

    def kinds(self, raised):
        return sorted(alert.kind for alert in raised)

    def test_a_strategy_saving_the_threshold_alerts_once_and_again_after_it_cleared(
        self, tuned, django_capture_on_commit_callbacks
    ):
        usage(tuned, 1_000_000)  # the fine-tune saves $1,600.00 a month, nothing blocks it
        with django_capture_on_commit_callbacks(execute=False):
            first = advice.advice_evaluate(prompt=tuned)
            again = advice.advice_evaluate(prompt=tuned)
        # (the bundled catalogue's cheaper models alert too: moves worth ≥ $100 a month)
        saving = [a for a in first if a.kind == Alert.KIND_STRATEGY_SAVING]
        tune = [a for a in saving if a.figures["strategy"]["kind"] == "fine_tune"]
        assert len(tune) == 1
        assert "saves $1,600.00 a month (at least $100.00)" in tune[0].message
        assert "untested: run the eval suite on it first" in tune[0].message
        assert all(Decimal(a.figures["strategy"]["monthly_saving"]) >= 100 for a in saving)
        assert [a for a in again if a.kind == Alert.KIND_STRATEGY_SAVING] == []
        AdvisorSettings.objects.filter(project=tuned.project).update(
            strategy_alert_min_saving=Decimal("1600.01")
        )
        with django_capture_on_commit_callbacks(execute=False):
            cleared = advice.advice_evaluate(prompt=tuned)
        assert [a for a in cleared if a.kind == Alert.KIND_STRATEGY_SAVING] == []
        AdvisorSettings.objects.filter(project=tuned.project).update(
            strategy_alert_min_saving=Decimal("1600.00")
        )
        with django_capture_on_commit_callbacks(execute=False):
            back = advice.advice_evaluate(prompt=tuned)
        assert [a.figures["strategy"]["kind"] for a in back] == ["fine_tune"]

    def test_a_version_that_broke_the_cached_prefix_alerts_once(
        self, tuned, django_capture_on_commit_callbacks
    ):
        library.prompt_version_create(
            prompt=tuned, template="{{ q }} changed", model_config={"model": "acme-model"}
        )
        day = timezone.now().date() - dt.timedelta(days=3)
        for number, cached in ((1, 800), (2, 100)):  # 80% of input cached, then 10%
            UsageRollup.objects.create(
                project=tuned.project, prompt=tuned, version_number=number, model="acme-model",
                day=day, calls=10, input_tokens=10_000, cached_input_tokens=cached * 10,
            )
        with django_capture_on_commit_callbacks(execute=False):
            first = advice.advice_evaluate(prompt=tuned)
            again = advice.advice_evaluate(prompt=tuned)
        dropped = [a for a in first if a.kind == Alert.KIND_CACHE_DROP]
        assert len(dropped) == 1
        assert dropped[0].message.startswith(
            "'faq' v2 hits the prompt cache on 10% of input tokens, down from 80% on v1"
        )
        assert dropped[0].figures["drop"] == "0.7"
        assert [a for a in again if a.kind == Alert.KIND_CACHE_DROP] == []

    def test_a_model_shutting_down_within_60_days_alerts_with_its_replacements(
        self, tuned, django_capture_on_commit_callbacks
    ):
        today = timezone.now().date()
        ModelPrice.objects.filter(project=tuned.project, model="acme-model").update(
            provider="acme", shutdown_date=today + dt.timedelta(days=60)
        )
        ModelPrice.objects.create(
            project=tuned.project, model="acme-next", provider="acme",
            effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            input_per_1m=Decimal("1"), output_per_1m=Decimal("4"),
        )
        usage(tuned, 1000)
        with django_capture_on_commit_callbacks(execute=False):
            first = advice.advice_evaluate(prompt=tuned)
            again = advice.advice_evaluate(prompt=tuned)
        soon = [a for a in first if a.kind == Alert.KIND_SHUTDOWN_SOON]
        assert len(soon) == 1
        assert f"shuts down on {(today + dt.timedelta(days=60)).isoformat()} (in 60 days)" in (
            soon[0].message
        )
        assert "Replacement candidates: acme-next (untested, $1.00 a month)" in soon[0].message
        assert soon[0].figures["candidates"][0]["model"] == "acme-next"
        assert [a for a in again if a.kind == Alert.KIND_SHUTDOWN_SOON] == []

    def test_a_shutdown_61_days_away_is_not_yet_an_alert(self, tuned):
        ModelPrice.objects.filter(project=tuned.project, model="acme-model").update(
            shutdown_date=timezone.now().date() + dt.timedelta(days=61)
        )
        usage(tuned, 1000)
        assert [
            a for a in advice.advice_evaluate(prompt=tuned) if a.kind == Alert.KIND_SHUTDOWN_SOON
        ] == []
