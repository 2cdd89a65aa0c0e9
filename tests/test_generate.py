"""The synthetic landing zone: layout, volumes, planted structure, dirt and determinism.

One small landing zone is generated for the module and inspected from several angles;
the determinism test makes its own, smaller ones.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from seglake.config.schema import DirtyRates, GeneratorConfig
from seglake.errors import ConfigError, InputError
from seglake.generate import PERSONA_NAMES, PERSONAS, GenerationSummary, generate_landing
from seglake.generate.vocab import BOT_USER_AGENTS, REVIEW_BODIES, REVIEW_CLOSERS

DIRTY = DirtyRates(
    malformed_json=0.01,
    wrong_type=0.01,
    duplicate=0.02,
    late=0.01,
    future=0.005,
    missing_id=0.005,
    bot_visitors=0.02,
)
CFG = GeneratorConfig(
    customers=300,
    events=20_000,
    seed=7,
    start_date="2025-01-01",
    days=365,
    customers_per_chunk=150,
    files_per_chunk=2,
    dirty=DIRTY,
)
INPUTS = ("events", "transactions", "profiles", "reviews")


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory) -> tuple[Path, GenerationSummary, list[str]]:
    landing = tmp_path_factory.mktemp("landing")
    messages: list[str] = []
    summary = generate_landing(spark, CFG, str(landing), progress=messages.append)
    return landing, summary, messages


@pytest.fixture(scope="module")
def landing(generated) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def event_lines(landing) -> list[str]:
    return text_lines(landing, "events")


@pytest.fixture(scope="module")
def events(event_lines) -> list[dict]:
    """The lines that parse as JSON objects."""
    parsed = []
    for line in event_lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return parsed


def text_lines(landing: Path, source: str) -> list[str]:
    lines: list[str] = []
    for path in sorted((landing / source).iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            lines.extend(f.read().splitlines())
    return lines


def csv_rows(landing: Path, source: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((landing / source).glob("*.csv")):
        rows.extend(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return rows


def digests(landing: Path) -> dict[str, str]:
    return {
        str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


def test_files_have_fixed_names_and_no_spark_leftovers(landing):
    chunks = range(2)
    expected = (
        {f"events/part-{c:05d}-{f:02d}.json.gz" for c in chunks for f in range(2)}
        | {f"{source}/part-{c:05d}.csv" for c in chunks for source in ("transactions", "profiles")}
        | {f"reviews/part-{c:05d}.json.gz" for c in chunks}
        | {f"_truth/customers/part-{c:05d}.csv" for c in chunks}
    )
    found = {str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file()}
    assert found == expected
    assert not [p for p in landing.rglob("*") if p.is_dir() and "scratch" in p.name]


def test_progress_is_reported_after_each_chunk(generated):
    _, summary, messages = generated
    assert [m.split(":")[0] for m in messages] == ["chunk 1/2", "chunk 2/2"]
    assert f"{summary.events_lines:,} event lines" in messages[-1]
    assert "s elapsed" in messages[-1]
    assert f"{summary.events_lines:,}" in str(summary)


def test_event_lines_hit_the_target_volume(generated, event_lines):
    _, summary, _ = generated
    assert len(event_lines) == summary.events_lines
    assert abs(len(event_lines) - CFG.events) <= 0.1 * CFG.events


def test_every_persona_is_planted_in_truth_and_hidden_from_inputs(generated, landing):
    _, summary, _ = generated
    truth = csv_rows(landing, "_truth/customers")
    customers = [r for r in truth if r["is_bot"] == "false"]
    bots = [r for r in truth if r["is_bot"] == "true"]
    assert len(customers) == CFG.customers and len(bots) == summary.bots > 0
    shares = Counter(r["persona"] for r in customers)
    assert set(shares) == set(PERSONA_NAMES) - {"bot"}
    assert min(shares.values()) >= 0.1 * CFG.customers
    assert {r["persona"] for r in bots} == {"bot"}
    assert all(r["customer_id"] == "" and r["anonymous_ids"].startswith("a-") for r in bots)

    for source in INPUTS:
        text = "\n".join(text_lines(landing, source))
        for word in ("persona", *(p.name for p in PERSONAS)):
            assert word not in text, f"{word!r} leaks into {source}"


def test_duplicates_reuse_the_message_id_at_about_the_configured_rate(events):
    by_id: dict[str, list[dict]] = {}
    for e in events:
        by_id.setdefault(e["messageId"], []).append(e)
    repeated = [group for group in by_id.values() if len(group) > 1]
    assert 0.5 * DIRTY.duplicate <= len(repeated) / len(events) <= 1.6 * DIRTY.duplicate
    assert all(len(group) == 2 for group in repeated)
    resent = sum(a["sentAt"] != b["sentAt"] for a, b in repeated)
    assert 0 < resent < len(repeated), "some duplicates are identical, others re-sent later"


def test_malformed_and_wrongly_typed_lines_are_present(event_lines, events):
    broken = len(event_lines) - len(events)
    assert 0.4 * DIRTY.malformed_json <= broken / len(event_lines) <= 2 * DIRTY.malformed_json
    epoch = [e for e in events if isinstance(e["timestamp"], int)]
    garbage = [e for e in events if e["timestamp"] == "Invalid Date"]
    text_money = [
        e
        for e in events
        if isinstance((e.get("properties") or {}).get("revenue"), str)
        or isinstance((e.get("properties") or {}).get("price"), str)
    ]
    assert epoch and garbage and text_money


def parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def test_late_future_anonymousless_bot_and_drifting_events_are_present(events):
    timed = [(e, parse_time(e["timestamp"]), parse_time(e["sentAt"])) for e in events]
    period_end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    future = [e for e, ts, _ in timed if ts and ts > period_end + timedelta(days=1)]
    late = [e for e, ts, sent in timed if ts and ts < period_end and sent - ts > timedelta(days=2)]
    no_ids = [e for e in events if "userId" not in e and "anonymousId" not in e]
    bots = [e for e in events if e["context"]["userAgent"] in BOT_USER_AGENTS[:-1]]
    drift = [e for e in events if "screen" in e["context"]]
    assert future and late and no_ids and bots and drift
    assert all("userId" not in e for e in bots)


def test_identity_needs_stitching(events, landing):
    devices_per_visitor = [r["anonymous_ids"].split(";") for r in csv_rows(landing, "_truth/customers")]
    devices = {a for ids in devices_per_visitor for a in ids}
    identified = {e["anonymousId"] for e in events if e.get("userId") and e.get("anonymousId")}
    assert any(len(ids) == 2 for ids in devices_per_visitor)
    anonymous_only = [e for e in events if e.get("anonymousId") in identified and "userId" not in e]
    assert anonymous_only, "events before login carry only the anonymousId"
    assert len(identified) < len(devices), "some devices are never linked by an identify"
    identifies = [e for e in events if e["type"] == "identify"]
    assert identifies and all(e["traits"]["email"] for e in identifies)
    # Identify calls carry the userId, except those whose ids were dropped as dirt.
    assert sum("userId" not in e for e in identifies) <= 3 * DIRTY.missing_id * len(identifies) + 2


def test_online_transactions_are_the_order_completed_events(landing, events):
    transactions = csv_rows(landing, "transactions")
    clean = [
        r
        for r in transactions
        if re.fullmatch(r"\d+\.\d\d", r["total_amount"]) and r["client_id"] and r["order_timestamp"].endswith("Z")
    ]
    assert len(clean) < len(transactions), "a few defective rows are expected"
    online = {r["order_ref"]: r for r in clean if r["channel"] in ("web", "app")}
    orders = {e["properties"]["order_id"]: e for e in events if e.get("event") == "Order Completed"}
    assert orders and set(orders) <= set(online)
    # Only orders whose event line was garbled may be missing from the events.
    assert len(set(online) - set(orders)) <= 0.05 * len(online)
    for order_id, e in orders.items():
        row = online[order_id]
        if "userId" in e:
            assert row["client_id"] == e["userId"]
        if isinstance(e["properties"]["revenue"], float):
            assert row["total_amount"] == f"{e['properties']['revenue']:.2f}"
    assert any(r["channel"] == "store" and r["store_id"] for r in clean)
    assert {r["currency"] for r in clean} >= {"EUR", "GBP", "USD"}


def test_profiles_have_one_row_per_customer_plus_later_updates(landing):
    rows = csv_rows(landing, "profiles")
    by_customer: dict[str, list[dict]] = {}
    for r in rows:
        by_customer.setdefault(r["customer_id"], []).append(r)
    assert len([c for c in by_customer if c]) == CFG.customers
    updated = [group for c, group in by_customer.items() if c and len({r["updated_at"] for r in group}) == 2]
    assert 0.01 * CFG.customers <= len(updated) <= 0.12 * CFG.customers
    for group in updated:
        ordered = sorted(group, key=lambda r: r["updated_at"])
        first, later = ordered[0], ordered[-1]
        changed = {k for k in first if first[k] != later[k]} - {"updated_at"}
        assert changed & {"city", "consent_marketing", "email"}
    assert any(r["birth_date"] == "" for r in rows)


def test_reviews_are_in_french_and_english_with_matching_sentiment(landing, events):
    reviews = [json.loads(line) for line in text_lines(landing, "reviews")]
    assert {r["language"] for r in reviews} == {"fr", "en"}
    # Reviews are of a product the customer put in the cart (added before login, maybe).
    owner = {a: r["customer_id"] for r in csv_rows(landing, "_truth/customers") for a in r["anonymous_ids"].split(";")}
    added = {
        (owner.get(e.get("anonymousId")), e["properties"]["product_id"])
        for e in events
        if e.get("event") == "Product Added"
    }
    reviewed = [(r["customer_id"], r["product_id"]) for r in reviews]
    assert sum(pair in added for pair in reviewed) >= 0.9 * len(reviewed)
    for r in reviews:
        sentiment = 2 if r["rating"] >= 4 else 1 if r["rating"] == 3 else 0
        vocabulary = set(REVIEW_BODIES[(r["language"], sentiment)]) | set(REVIEW_CLOSERS[(r["language"], sentiment)])
        assert any(phrase in r["text"] for phrase in vocabulary), r


def test_bargain_hunters_shop_in_the_evening_more_than_loyal_customers(spark, landing):
    events = spark.read.json(str(landing / "events"))
    truth = spark.read.csv(str(landing / "_truth/customers"), header=True)
    local_hour = F.substring(F.col("timestamp").cast("string"), 12, 2).try_cast("int")
    shares = (
        events.where(F.col("timestamp").cast("string").rlike(r"^\d{4}-\d\d-\d\dT.*[+-]\d\d:\d\d$"))
        .join(truth, events["userId"] == truth["customer_id"], "inner")
        .groupBy("persona")
        .agg(F.avg((local_hour >= 18).cast("double")).alias("evening"))
    )
    evening = {r["persona"]: r["evening"] for r in shares.collect()}
    assert evening["bargain_mobile"] > evening["loyal_high_value"] + 0.3


def test_same_seed_gives_the_same_bytes_and_reruns_replace_output(spark, tmp_path):
    small = GeneratorConfig(customers=60, events=3_000, seed=11, customers_per_chunk=30, files_per_chunk=2)
    first, second = tmp_path / "first", tmp_path / "second"
    generate_landing(spark, small, str(first), progress=lambda _: None)
    generate_landing(spark, GeneratorConfig(**{**vars(small), "seed": 12}), str(second), progress=lambda _: None)
    assert digests(second) != digests(first)
    (second / "notes.txt").write_text("not generated")

    generate_landing(spark, small, str(second), progress=lambda _: None)
    rerun = digests(second)
    assert rerun.pop("notes.txt")
    assert rerun == digests(first)


@pytest.mark.parametrize(
    ("cfg", "landing", "error", "message"),
    [
        (GeneratorConfig(customers=100, events=50), "/tmp/x", ConfigError, "generator.events (50)"),
        (GeneratorConfig(dirty=DirtyRates(duplicate=-0.1)), "/tmp/x", ConfigError, "generator.dirty.duplicate"),
        (GeneratorConfig(customers_per_chunk=0), "/tmp/x", ConfigError, "generator.customers_per_chunk"),
        (GeneratorConfig(start_date="01/02/2025"), "/tmp/x", ConfigError, "generator.start_date"),
        (GeneratorConfig(), " ", InputError, "landing path is empty"),
    ],
)
def test_invalid_config_is_rejected_with_a_clear_message(spark, cfg, landing, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate_landing(spark, cfg, landing, progress=lambda _: None)
