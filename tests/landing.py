"""Write small, readable landing folders for tests (the input contract, by hand)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

from seglake.contract import PROFILE_COLUMNS
from seglake.generate.commerce import TRANSACTION_COLUMNS

# The sample company's order columns (mapped in conf/) and the canonical CRM columns.
ORDER_HEADER = list(TRANSACTION_COLUMNS)
PROFILE_HEADER = list(PROFILE_COLUMNS)


def event(
    message_id: str,
    ts: str,
    *,
    type: str = "track",
    event: str | None = "Product Viewed",
    user_id: str | None = None,
    anonymous_id: str | None = "a-1",
    properties: dict[str, Any] | None = None,
    device: str = "desktop",
    campaign: dict[str, str] | None = None,
    user_agent: str = "Mozilla/5.0",
    **extra: Any,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "device": {"type": device},
        "userAgent": user_agent,
        "ip": "10.0.0.1",
        "location": {"country": "fr", "city": "lyon"},
    }
    if campaign:
        context["campaign"] = campaign
    return {
        "type": type,
        "event": event,
        "messageId": message_id,
        "userId": user_id,
        "anonymousId": anonymous_id,
        "timestamp": ts,
        "properties": properties or {},
        "context": context,
        **extra,
    }


def write_lines(path: Path, lines: list[str], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def write_events(landing: Path, name: str, records: list[dict[str, Any] | str], gz: bool = False) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return write_lines(landing / "events" / name, lines, gz=gz)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_orders(landing: Path, name: str, rows: list[list[Any]]) -> Path:
    return write_csv(landing / "transactions" / name, ORDER_HEADER, rows)


def write_profiles(landing: Path, name: str, rows: list[list[Any]]) -> Path:
    return write_csv(landing / "profiles" / name, PROFILE_HEADER, rows)


def write_reviews(landing: Path, name: str, records: list[dict[str, Any] | str]) -> Path:
    return write_lines(landing / "reviews" / name, [r if isinstance(r, str) else json.dumps(r) for r in records])


def profile(
    customer_id: str,
    *,
    consent_profiling: str = "true",
    updated_at: str = "2025-01-01T00:00:00Z",
    birth_date: str = "1990-06-15",
    email: str = "someone@example.com",
) -> list[Any]:
    return [
        customer_id,
        email,
        "Ann",
        "Smith",
        "+33 6 12 34 56 78",
        birth_date,
        "F",
        "Lyon",
        "69001",
        "FR",
        "30-50k",
        "2",
        "true",
        consent_profiling,
        updated_at,
    ]


def small_landing(root: Path) -> Path:
    """A landing folder exercising every source, with a few dirty records."""
    landing = root / "landing"
    order_completed = event(
        "m4",
        "2025-03-01T10:07:00+01:00",
        event="Order Completed",
        user_id="C1",
        anonymous_id="a-1",
        properties={"order_id": "O1", "revenue": "42.5", "currency": "eur"},
    )
    write_events(
        landing,
        "part-0.json.gz",
        [
            event("m1", "2025-03-01T10:00:00+01:00", type="page", event=None, anonymous_id="a-1"),
            event(
                "m2",
                "2025-03-01T10:05:00+01:00",
                anonymous_id="a-1",
                properties={"product_id": "p1", "price": "19.9"},
                experiment="checkout-B",  # a field seglake does not parse: schema drift
            ),
            event("m3", "2025-03-01T10:06:00+01:00", type="identify", event=None, anonymous_id="a-1", user_id="C1"),
            order_completed,
            order_completed,  # re-sent by the device: same messageId, same line
            '{"type": "track", "messageId": "broken',
            event("m5", "2025-03-01T10:08:00Z", user_id=None, anonymous_id=None),
            event("m6", "not a time", anonymous_id="a-2"),
            event("m7", "2031-01-01T00:00:00Z", anonymous_id="a-2"),
            event("m8", "2025-03-02T09:00:00Z", anonymous_id="a-3", properties={"price": "cheap"}),
            event("m9", "2025-03-02T09:00:00Z", anonymous_id="a-4", user_agent="Googlebot/2.1"),
        ],
        gz=True,
    )
    write_orders(
        landing,
        "orders-0.csv",
        [
            ["O1", "C1", "2025-03-01T09:07:00Z", "42.50", "EUR", "web", "1", ""],
            ["O2", "C2", "2025-03-05T12:00:00Z", "10.00", "EUR", "store", "2", "S1"],
            ["O2", "C2", "2025-03-05T12:00:00Z", "10.00", "EUR", "store", "2", "S1"],
            ["O3", "", "2025-03-05T12:00:00Z", "10.00", "EUR", "store", "2", "S1"],
            ["O4", "C2", "2025-03-06T12:00:00Z", "ten", "EUR", "web", "1", ""],
        ],
    )
    write_profiles(
        landing,
        "crm-0.csv",
        [
            profile("C1"),
            profile("C1"),  # the CRM export sent the same version twice
            profile("C2", consent_profiling="false"),
            profile("C2", consent_profiling="true", updated_at="2025-02-01T00:00:00Z"),
            profile("", updated_at="2025-02-01T00:00:00Z"),
        ],
    )
    write_reviews(
        landing,
        "reviews-0.jsonl",
        [
            {
                "review_id": "R1",
                "customer_id": "C1",
                "product_id": "p1",
                "timestamp": "2025-03-03T10:00:00Z",
                "rating": 5,
                "text": "Très bon produit",
                "language": "fr",
            },
            {
                "review_id": "R2",
                "customer_id": "C2",
                "product_id": "p1",
                "timestamp": "2025-03-03T10:00:00Z",
                "rating": 9,
                "text": "??",
                "language": "en",
            },
            "{not json",
        ],
    )
    return landing
