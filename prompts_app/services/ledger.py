"""The token-cost ledger: ingestion of usage batches and the daily rollups.

Each batch is validated event by event (good events are stored even when
others are rejected). An event's timestamp must fall in the window the ledger
can show: no older than its longest view (MAX_LEDGER_DAYS, or the shorter
settings.USAGE_MAX_AGE_DAYS) and no more than settings.USAGE_MAX_FUTURE_SECONDS
ahead of the server's clock. An event id already stored (or earlier in the
batch) is a duplicate when the event says the same thing, and a conflict when
it does not: the first version stands either way, and conflicts are listed per
event so the client learns that it reuses ids.

Input comes in three tiers: `input_tokens` counts every input token; of them
`cached_input_tokens` were cache reads and `cache_write_input_tokens` cache
writes (the rest uncached), each priced with its own price of the row in force
(`pricing.call_cost`). `reasoning_tokens` are part of `output_tokens` (billed as
output) and recorded for information. Clients that send neither of the two newer
counts are taken to mean 0.

Events are inserted with ON CONFLICT DO NOTHING RETURNING, so exactly the
rows this request inserted — never a duplicate from a retry or a concurrent
request — are added to the rollups, by atomic upserts taken in key order (no
lost updates, no deadlocks between batches). Costs are integers of
picodollars, computed at ingestion with the price in force at the event's
time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from prompts_app.errors import DomainError
from prompts_app.models import PICO, Label, ModelPrice, Project, Prompt, UsageEvent, UsageRollup
from prompts_app.services.pricing import call_cost

MAX_BATCH = 1000
MAX_TOKENS = 10_000_000
# The ledger's longest view (`days` of the ledger endpoints), today included.
MAX_LEDGER_DAYS = 400
EVENT_KEYS = {
    "event_id",
    "prompt",
    "version",
    "label",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms",
    "status",
    "timestamp",
}


class Rejected(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    unpriced: int = 0

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": sorted(self.conflicts, key=lambda c: c["index"]),
            "rejected": self.rejected,
            "unpriced": self.unpriced,
        }


def _int(event: dict, key: str, *, required: bool, upper: int = MAX_TOKENS) -> int | None:
    value = event.get(key)
    if value is None:
        if required:
            raise Rejected(f"'{key}' is required.", key)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
        raise Rejected(f"'{key}' must be a whole number from 0 to {upper:,}.", key)
    return value


def _str(event: dict, key: str, *, required: bool, limit: int) -> str:
    value = event.get(key)
    if value is None or value == "":
        if required:
            raise Rejected(f"'{key}' is required.", key)
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise Rejected(f"'{key}' must be a string of at most {limit} characters.", key)
    return value


def _shown(raw: str) -> str:
    return raw if len(raw) <= 40 else raw[:37] + "..."


def usage_max_age_days() -> int:
    """How many days back (today included) an event may be dated."""
    return max(1, min(settings.USAGE_MAX_AGE_DAYS, MAX_LEDGER_DAYS))


def usage_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and latest timestamps an event may carry at `now` (UTC)."""
    days = usage_max_age_days()
    today = now.astimezone(dt.UTC).date()
    earliest = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), tzinfo=dt.UTC)
    return earliest, now + dt.timedelta(seconds=settings.USAGE_MAX_FUTURE_SECONDS)


def _timestamp(event: dict, now: dt.datetime, window: tuple[dt.datetime, dt.datetime]):
    raw = event.get("timestamp")
    if raw is None:
        return now
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        # Well formed but no such moment: 2025-02-30, 23:59:60 (no leap seconds), hour 24.
        raise Rejected(
            f"'timestamp' {_shown(raw)} is not a real date-time ({exc}).", "timestamp"
        ) from None
    if parsed is None:
        raise Rejected(
            "'timestamp' must be an ISO 8601 date-time, e.g. 2026-11-28T14:03:00Z.", "timestamp"
        )
    if timezone.is_naive(parsed):
        raise Rejected("'timestamp' needs a time zone (end it with Z for UTC).", "timestamp")
    earliest, latest = window
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
        parsed = earliest - dt.timedelta(days=1) if parsed.year < 2 else latest + dt.timedelta(1)
    if parsed < earliest:
        days = usage_max_age_days()
        longest = ", the ledger's longest view" if days == MAX_LEDGER_DAYS else ""
        raise Rejected(
            f"'timestamp' {_shown(raw)} is older than the ledger keeps: events must be from "
            f"{earliest.date().isoformat()} on (the last {days} days{longest}), or no "
            "ledger view could ever show them.",
            "timestamp",
        )
    if parsed > latest:
        minutes = settings.USAGE_MAX_FUTURE_SECONDS / 60
        raise Rejected(
            f"'timestamp' {_shown(raw)} is in the future (more than {minutes:g} minutes past "
            f"the server's clock, now {now.astimezone(dt.UTC).isoformat(timespec='seconds')}):"
            " check the client's clock.",
            "timestamp",
        )
    return parsed


class _Context:
    """What validating a batch needs, loaded with one query per kind."""

    def __init__(self, project: Project, events: list) -> None:
        names = {
            e.get("prompt")
            for e in events
            if isinstance(e, dict) and isinstance(e.get("prompt"), str)
        }
        self.prompts = {p.name: p for p in Prompt.objects.filter(project=project, name__in=names)}
        self.labels = {
            (label.prompt_id, label.name): label.version.number
            for label in Label.objects.filter(prompt__in=self.prompts.values()).select_related(
                "version"
            )
        }
        models = {
            e.get("model")
            for e in events
            if isinstance(e, dict) and isinstance(e.get("model"), str)
        }
        self.prices: dict[str, list[ModelPrice]] = defaultdict(list)
        for price in ModelPrice.objects.filter(project=project, model__in=models).order_by(
            "-effective_from"
        ):
            self.prices[price.model].append(price)

    def price_at(self, model: str, at: dt.datetime) -> ModelPrice | None:
        return next((p for p in self.prices.get(model, []) if p.effective_from <= at), None)


def _clean_event(
    event: Any, ctx: _Context, now: dt.datetime, window: tuple[dt.datetime, dt.datetime]
) -> dict:
    if not isinstance(event, dict):
        raise Rejected("Each event must be an object.")
    unknown = sorted(set(event) - EVENT_KEYS)
    if unknown:
        raise Rejected(f"Unknown keys: {', '.join(unknown)}.", unknown[0])
    event_id = _str(event, "event_id", required=True, limit=100)
    name = _str(event, "prompt", required=True, limit=100)
    prompt = ctx.prompts.get(name)
    if prompt is None:
        raise Rejected(f"No prompt named '{name}' in this project.", "prompt")
    label = _str(event, "label", required=False, limit=100)
    version = _int(event, "version", required=False, upper=2**31 - 1)
    if version is None:
        if not label:
            raise Rejected("Give 'version' (a number) or 'label'.", "version")
        if label == Label.LATEST:
            version = prompt.latest_version_number
        else:
            version = ctx.labels.get((prompt.pk, label))
            if version is None:
                raise Rejected(f"Prompt '{name}' has no label '{label}'.", "label")
    if not 1 <= version <= prompt.latest_version_number:
        raise Rejected(f"Prompt '{name}' has no version {version}.", "version")
    model = _str(event, "model", required=True, limit=200)
    input_tokens = _int(event, "input_tokens", required=True)
    # The optional counts: absent or null means none (0), as an older client sends them.
    cached = _int(event, "cached_input_tokens", required=False) or 0
    if cached > input_tokens:
        raise Rejected("'cached_input_tokens' cannot exceed 'input_tokens'.", "cached_input_tokens")
    written = _int(event, "cache_write_input_tokens", required=False) or 0
    if cached + written > input_tokens:
        raise Rejected(
            f"'cache_write_input_tokens' ({written:,}) plus 'cached_input_tokens' ({cached:,}) "
            f"cannot exceed 'input_tokens' ({input_tokens:,}): input counts every input token, "
            "cache reads and cache writes included.",
            "cache_write_input_tokens",
        )
    output_tokens = _int(event, "output_tokens", required=True)
    reasoning = _int(event, "reasoning_tokens", required=False) or 0
    if reasoning > output_tokens:
        raise Rejected(
            f"'reasoning_tokens' ({reasoning:,}) cannot exceed 'output_tokens' "
            f"({output_tokens:,}): output counts every output token, reasoning included.",
            "reasoning_tokens",
        )
    latency = _int(event, "latency_ms", required=False, upper=86_400_000)
    status = event.get("status", UsageEvent.STATUS_OK)
    if status not in (UsageEvent.STATUS_OK, UsageEvent.STATUS_ERROR):
        raise Rejected("'status' must be 'ok' or 'error'.", "status")
    occurred_at = _timestamp(event, now, window)
    price = ctx.price_at(model, occurred_at)
    cost_pico = None
    if price is not None:
        cost = call_cost(
            price,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_write_input_tokens=written,
        )
        cost_pico = int(cost * PICO)
    return {
        "event_id": event_id,
        "prompt_id": prompt.pk,
        "version_number": version,
        "label": label,
        "model": model,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "cache_write_input_tokens": written,
        "output_tokens": output_tokens,
        "reasoning_tokens": reasoning,
        "latency_ms": latency,
        "status": status,
        "occurred_at": occurred_at,
        "cost_pico": cost_pico,
        "priced": cost_pico is not None,
        # What the client said, as opposed to what the server filled in: a retry
        # that leaves out the timestamp or names a label that has since moved is
        # still the same event.
        "_compare": (
            *SAME_EVENT_FIELDS,
            *(("version_number",) if event.get("version") is not None else ()),
            *(("occurred_at",) if event.get("timestamp") is not None else ()),
        ),
    }


# The fields that make two sends of one event id the same event (see "_compare").
SAME_EVENT_FIELDS = (
    "prompt_id",
    "label",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms",
    "status",
)
FIELD_NAMES = {"prompt_id": "prompt", "version_number": "version", "occurred_at": "timestamp"}


def _differences(row: dict, other: dict, *, both_said: bool = False) -> list[str]:
    """The fields in which `row` says something else than `other`: the fields the
    client of `row` gave (and, for two events of one batch, `other`'s client too)."""
    names = row["_compare"]
    if both_said:
        names = [name for name in names if name in other["_compare"]]
    return [FIELD_NAMES.get(name, name) for name in names if row[name] != other[name]]


def _conflict(row: dict, fields: list[str], where: str) -> dict:
    return {
        "index": row["_index"],
        "event_id": row["event_id"],
        "fields": fields,
        "reason": (
            f"Event id '{row['event_id']}' was {where} with different {', '.join(fields)}: the "
            "first version stands and this one was not counted. Give every event its own id."
        ),
    }


EVENT_COLUMNS = [
    "project_id",
    "event_id",
    "prompt_id",
    "version_number",
    "label",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms",
    "status",
    "occurred_at",
    "cost_pico",
    "priced",
    "received_at",
]
ROLLUP_SUMS = [
    "calls",
    "error_calls",
    "unpriced_calls",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "latency_ms_total",
    "cost_pico",
]


EVENT_TYPES = [
    "bigint",
    "text",
    "bigint",
    "integer",
    "text",
    "text",
    "integer",  # input_tokens
    "integer",
    "integer",
    "integer",
    "integer",
    "integer",  # latency_ms
    "text",
    "timestamptz",
    "bigint",
    "boolean",
    "timestamptz",
]
ROLLUP_COLUMNS = ["project_id", "prompt_id", "version_number", "model", "day", *ROLLUP_SUMS]
ROLLUP_TYPES = ["bigint", "bigint", "integer", "text", "date", *["bigint"] * len(ROLLUP_SUMS)]


def _values_sql(columns: list[str], types: list[str], rows: list[list]) -> tuple[str, list]:
    """Rows as SQL: on PostgreSQL one typed array per column through unnest(), so
    the statement text is the same for every batch (psycopg re-parsed a
    7,500-placeholder VALUES list on each call: most of ingestion's time, per
    `manage.py bench`); elsewhere a plain VALUES list."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        return f"SELECT * FROM unnest({arrays})", [
            list(column) for column in zip(*rows, strict=True)
        ]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return "VALUES " + ", ".join([placeholders] * len(rows)), [
        value for row in rows for value in row
    ]


def _insert_events(project: Project, rows: list[dict], now: dt.datetime) -> set[str]:
    """Insert rows, skipping event ids already stored; the ids this call inserted."""
    table = UsageEvent._meta.db_table
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = [
                [project.pk, *(row[c] for c in EVENT_COLUMNS[1:-1]), now]
                for row in rows[start : start + 500]
            ]
            values, params = _values_sql(EVENT_COLUMNS, EVENT_TYPES, chunk)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) {values} "
                "ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id",
                params,
            )
            inserted.update(r[0] for r in cursor.fetchall())
    return inserted


def _upsert_rollups(project: Project, rows: list[dict]) -> None:
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(ROLLUP_SUMS))
    for row in rows:
        key = (row["prompt_id"], row["version_number"], row["model"], row["occurred_at"].date())
        sums = totals[key]  # in ROLLUP_SUMS order
        sums[0] += 1
        sums[1] += row["status"] == UsageEvent.STATUS_ERROR
        sums[2] += not row["priced"]
        sums[3] += row["input_tokens"]
        sums[4] += row["cached_input_tokens"]
        sums[5] += row["cache_write_input_tokens"]
        sums[6] += row["output_tokens"]
        sums[7] += row["reasoning_tokens"]
        sums[8] += row["latency_ms"] or 0
        sums[9] += row["cost_pico"] or 0
    if not totals:
        return
    table = UsageRollup._meta.db_table
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ROLLUP_SUMS)
    # Sorted keys: concurrent batches lock rollup rows in the same order.
    keys = sorted(totals)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), 500):
            chunk = [[project.pk, *key, *totals[key]] for key in keys[start : start + 500]]
            values, params = _values_sql(ROLLUP_COLUMNS, ROLLUP_TYPES, chunk)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(ROLLUP_COLUMNS)}) {values} "
                f"ON CONFLICT (prompt_id, version_number, model, day) DO UPDATE SET {updates}",
                params,
            )


def usage_ingest(*, project: Project, events: Any) -> IngestResult:
    """Store a batch of usage events; see the module docstring for the guarantees."""
    if not isinstance(events, list):
        raise DomainError("'events' must be a list of usage events.", field="events")
    if len(events) > MAX_BATCH:
        raise DomainError(
            f"A batch holds at most {MAX_BATCH:,} events; this one has {len(events):,}. Split it.",
            field="events",
        )
    now = timezone.now()
    window = usage_window(now)
    ctx = _Context(project, events)
    result = IngestResult()
    rows: list[dict] = []
    first_in_batch: dict[str, dict] = {}
    for index, event in enumerate(events):
        try:
            row = _clean_event(event, ctx, now, window)
        except Rejected as exc:
            event_id = event.get("event_id") if isinstance(event, dict) else None
            result.rejected.append(
                {
                    "index": index,
                    "event_id": event_id if isinstance(event_id, str) else None,
                    "reason": exc.reason,
                    "field": exc.field,
                }
            )
            continue
        row["_index"] = index
        first = first_in_batch.get(row["event_id"])
        if first is not None:
            fields = _differences(row, first, both_said=True)
            if fields:
                result.conflicts.append(_conflict(row, fields, "sent earlier in this batch"))
            else:
                result.duplicates += 1
            continue
        first_in_batch[row["event_id"]] = row
        rows.append(row)
    with transaction.atomic():
        inserted_ids = _insert_events(project, rows, now) if rows else set()
        inserted = [row for row in rows if row["event_id"] in inserted_ids]
        _upsert_rollups(project, inserted)
    if len(inserted) < len(rows):
        _sort_out_resends(
            project, [row for row in rows if row["event_id"] not in inserted_ids], result
        )
    result.accepted = len(inserted)
    result.unpriced = sum(not row["priced"] for row in inserted)
    return result


def _sort_out_resends(project: Project, resent: list[dict], result: IngestResult) -> None:
    """Event ids stored before this batch: duplicates when they say the same, conflicts not."""
    stored = {
        values["event_id"]: values
        for values in UsageEvent.objects.filter(
            project=project, event_id__in=[row["event_id"] for row in resent]
        ).values("event_id", "version_number", "occurred_at", *SAME_EVENT_FIELDS)
    }
    for row in resent:
        previous = stored.get(row["event_id"])
        fields = _differences(row, previous) if previous is not None else []
        if fields:
            result.conflicts.append(_conflict(row, fields, "already stored"))
        else:
            result.duplicates += 1


def pico_to_dollars(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value) / PICO
