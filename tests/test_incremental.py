"""Incremental silver: a second batch merged into silver gives exactly the tables a full
rebuild over all of bronze gives, including the stored rows the batch had to change."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener

from seglake.catalog import (
    SILVER_CHANGED_DATES,
    SILVER_DUPLICATES,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_QUARANTINE,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.ingest.bronze import ingest_bronze
from seglake.ingest.silver import SILVER_TABLES, build_silver
from seglake.runs import RunContext

from conftest import make_config
from landing import event, profile, small_landing, write_events, write_orders, write_profiles

# Every silver table but the per-batch log of changed dates (batches differ by design).
COMPARED = tuple(t for t in SILVER_TABLES if t is not SILVER_CHANGED_DATES)
# Written by the run, not derived from the data.
RUN_COLUMNS = ("quarantined_at", "removed_at", "run_id")


class QueryStarts(StreamingQueryListener):
    """Counts the streaming queries started while it is registered."""

    def __init__(self) -> None:
        self.started = 0

    def onQueryStarted(self, event) -> None:  # noqa: N802 - Spark's listener interface
        self.started += 1

    def onQueryProgress(self, event) -> None:  # noqa: N802
        pass

    def onQueryIdle(self, event) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event) -> None:  # noqa: N802
        pass


def build_counting_queries(spark, cfg, catalog: Catalog, run: RunContext):
    starts = QueryStarts()
    spark.streams.addListener(starts)
    try:
        return build_silver(spark, cfg, catalog, run), starts.started
    finally:
        spark.streams.removeListener(starts)


def snapshot(spark, catalog: Catalog) -> dict[str, list[tuple]]:
    out = {}
    for t in COMPARED:
        df = catalog.read(spark, t).drop(*RUN_COLUMNS)
        out[t.name] = sorted(map(tuple, df.select(sorted(df.columns)).collect()), key=repr)
    return out


@pytest.fixture(scope="module")
def two_batches(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    landing = small_landing(root)
    # A phone browsing anonymously on day 1; it is linked to C1 only in the second batch.
    write_events(
        landing,
        "phone-0.json",
        [
            event("p1", "2025-03-04T08:00:00Z", anonymous_id="a-phone", device="mobile"),
            event("p2", "2025-03-04T08:10:00Z", anonymous_id="a-phone", device="mobile"),
        ],
    )
    cfg = make_config(root)
    catalog = Catalog(cfg.paths.lake)
    first = RunContext("run-1", datetime(2025, 6, 1))
    ingest_bronze(spark, cfg, catalog, first)
    build_silver(spark, cfg, catalog, first)
    after_first = snapshot(spark, catalog)

    write_events(
        landing,
        "part-1.json",
        [
            # Happened 10 minutes before C1's first visit but arrived days later: the
            # visit now starts earlier, so its stored events change session.
            event("n1", "2025-03-01T08:50:00Z", anonymous_id="a-1", receivedAt="2025-03-05T00:00:00Z"),
            event(
                "n2", "2025-03-01T09:20:00Z", anonymous_id="a-1", receivedAt="2025-03-01T09:20:01Z"
            ),  # extends the same visit
            event("m2", "2025-03-01T10:05:00+01:00", anonymous_id="a-1"),  # re-sent: a duplicate
            event(
                "p3",
                "2025-03-09T12:00:00Z",
                type="identify",
                event=None,
                anonymous_id="a-phone",
                user_id="C1",
                receivedAt="2025-03-09T12:00:01Z",
            ),
        ],
    )
    resent_o1 = ["O1", "C1", "2025-03-01T09:07:00Z", "42.50", "EUR", "web", "1", ""]
    write_orders(
        landing, "orders-1.csv", [resent_o1, ["O5", "C1", "2025-03-09T12:05:00Z", "5.00", "EUR", "web", "1", ""]]
    )
    write_profiles(landing, "crm-1.csv", [profile("C1", consent_profiling="false", updated_at="2025-03-10T00:00:00Z")])
    second = RunContext("run-2", datetime(2025, 6, 2))
    ingest_bronze(spark, cfg, catalog, second)
    result, queries = build_counting_queries(spark, cfg, catalog, second)
    incremental = snapshot(spark, catalog)
    build_silver(spark, cfg, catalog, RunContext("run-3", datetime(2025, 6, 3)), full_refresh=True)
    rebuilt = snapshot(spark, catalog)
    return catalog, after_first, result, incremental, rebuilt, queries


def test_incremental_run_equals_a_full_rebuild(two_batches) -> None:
    _, after_first, _, incremental, rebuilt, _ = two_batches
    for name in incremental:
        assert incremental[name] == rebuilt[name], name
    assert incremental != after_first


def test_the_batch_changed_only_what_it_had_to(two_batches) -> None:
    _, _, result, _, _, _ = two_batches
    events = next(s for s in result.sources if s.source == "events")
    assert events.this_run.bronze_rows == 4
    assert events.this_run.silver_rows == 3  # n1, n2, p3
    assert events.this_run.duplicates_removed == 1  # m2 again
    # m1..m4 moved to the session n1 now starts; p1, p2 re-attributed to C1.
    assert events.this_run.changed_rows == 6
    assert events.this_run.late_rows == 1
    assert result.changed_dates == ["2025-03-01", "2025-03-04", "2025-03-09", "2025-03-10"]
    assert all(s.balanced for s in result.sources)


def test_device_linked_later_is_re_attributed_with_its_sessions(spark, two_batches) -> None:
    catalog = two_batches[0]
    phone = catalog.read(spark, SILVER_EVENTS).where("anonymous_id = 'a-phone'")
    assert {r["customer_id"] for r in phone.collect()} == {"C1"}
    sessions = catalog.read(spark, SILVER_SESSIONS)
    assert sessions.where("visitor_key = 'anon:a-phone'").count() == 0
    c1 = sessions.where("customer_id = 'C1'").orderBy("session_start").select("events", "session_start").collect()
    assert [r["events"] for r in c1] == [6, 2, 1]  # n1 + m1..m4 + n2; p1 + p2; p3
    assert c1[0]["session_start"] == datetime(2025, 3, 1, 8, 50)


def test_orders_and_profiles_merge_by_key(spark, two_batches) -> None:
    catalog = two_batches[0]
    assert sorted(r[0] for r in catalog.read(spark, SILVER_ORDERS).select("order_id").collect()) == ["O1", "O2", "O5"]
    c1 = catalog.read(spark, SILVER_PROFILES).where("customer_id = 'C1'").orderBy("updated_at")
    assert [r["consent_profiling"] for r in c1.collect()] == [True, False]
    dups = catalog.read(spark, SILVER_DUPLICATES).groupBy("source").agg(F.count(F.lit(1)).alias("n"))
    assert {r["source"]: r["n"] for r in dups.collect()} == {"events": 2, "transactions": 2, "profiles": 1}


def test_a_run_with_no_new_bronze_changes_nothing(spark, two_batches) -> None:
    catalog = two_batches[0]
    before = snapshot(spark, catalog)
    cfg = make_config(Path(catalog.lake_root).parent)
    result, queries = build_counting_queries(spark, cfg, catalog, RunContext("run-4", datetime(2025, 6, 4)))
    assert snapshot(spark, catalog) == before
    assert all(s.this_run.bronze_rows == 0 for s in result.sources)
    # Nothing moved in bronze or silver.events: not one streaming query is started.
    assert queries == 0


def test_only_streams_with_new_input_are_started(two_batches) -> None:
    # The second batch brought events, orders and a CRM file but no reviews; the sessions
    # query runs once, after the events (it was caught up before them).
    assert two_batches[5] == 4


def test_a_batch_failing_half_way_is_replayed_without_repeating_its_writes(spark, tmp_path, monkeypatch) -> None:
    """The events batch dies after its quarantine, duplicates and changed dates were
    committed, before its new events are: the next run replays the batch, skips what it
    finds committed under the batch's tags and ends with the tables of a full rebuild."""
    small_landing(tmp_path)  # under tmp_path/landing, where make_config points
    cfg = make_config(tmp_path)
    catalog = Catalog(cfg.paths.lake)
    ingest_bronze(spark, cfg, catalog, RunContext("run-1", datetime(2025, 6, 1)))
    append = Catalog.append

    def dies_before_new_events(self, df, t, once=None):
        if t is SILVER_EVENTS:
            raise RuntimeError("killed")
        append(self, df, t, once)

    monkeypatch.setattr(Catalog, "append", dies_before_new_events)
    with pytest.raises(RuntimeError, match="killed"):
        build_silver(spark, cfg, catalog, RunContext("run-1", datetime(2025, 6, 1)))
    monkeypatch.undo()
    quarantine = catalog.read(spark, SILVER_QUARANTINE)
    assert quarantine.where("source = 'events'").count() == 5, "the events batch wrote its quarantine"

    build_silver(spark, cfg, catalog, RunContext("run-2", datetime(2025, 6, 2)))
    resumed = snapshot(spark, catalog)
    dates = catalog.read(spark, SILVER_CHANGED_DATES).where("source = 'events'")
    assert dates.count() == dates.select("date").distinct().count()  # one row per date, not two
    build_silver(spark, cfg, catalog, RunContext("run-3", datetime(2025, 6, 3)), full_refresh=True)
    assert resumed == snapshot(spark, catalog)
    assert len(resumed["events"]) == 5
