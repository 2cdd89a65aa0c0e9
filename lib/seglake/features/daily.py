"""gold.customer_daily_events: the events per customer and UTC day, kept current so a
snapshot aggregates customer-days instead of every event.

Each feature run brings the table up to the latest version of silver.events:
- only the days whose events changed since the version it reflects are recomputed, each
  day whole, from silver.events read at one version. Those days are found in the change
  feed of silver.events: new events, and stored ones re-stitched to another customer,
  re-flagged as bots or moved to another session, with their day before and after;
- every day is recomputed on the first run, when silver.events was rebuilt (another
  table id) or its change feed for the versions needed is gone, and when the configured
  categories or operating systems (the table's columns) or this module's format change.

What the table reflects (silver.events' id and version, the configuration's fingerprint)
is recorded in the same commit as the rows (`userMetadata`), so a run that stops half
way leaves the table as it was, and the next run starts from there.

When only some days changed, the days as they will be after the commit are readable
before it (the stored days the change left alone, and the recomputed ones): the feature
job computes its snapshot from them while the commit runs, rather than after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_DAILY_EVENTS, SILVER_EVENTS, Catalog
from seglake.config.schema import FeaturesConfig
from seglake.features.snapshot import event_days

# Raise when event_days changes what a row holds: stored days are then recomputed.
FORMAT = 1


@dataclass(frozen=True)
class DaysState:
    """What gold.customer_daily_events was computed from."""

    events_table: str
    events_version: int
    fingerprint: str

    def to_json(self) -> str:
        return json.dumps({"customer_daily_events": asdict(self)}, sort_keys=True)

    @staticmethod
    def from_json(text: str | None) -> DaysState | None:
        try:
            fields = json.loads(text or "")["customer_daily_events"]
            return DaysState(str(fields["events_table"]), int(fields["events_version"]), str(fields["fingerprint"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class DaysUpdate:
    """What a run did to gold.customer_daily_events."""

    days: int  # days recomputed (0: already current)
    rebuilt: bool  # every day recomputed
    reason: str

    def describe(self) -> str:
        if self.rebuilt:
            return f"gold.customer_daily_events rebuilt ({self.days:,} days; {self.reason})"
        if self.days:
            return f"gold.customer_daily_events: {self.days:,} changed days recomputed"
        return "gold.customer_daily_events: current"


def fingerprint(cfg: FeaturesConfig) -> str:
    """The configuration the rows depend on (their columns)."""
    text = json.dumps({"format": FORMAT, "categories": cfg.categories, "os_names": cfg.os_names})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DaysRefresh:
    """What bringing gold.customer_daily_events up to the latest silver.events takes.

    `days` is the table as it will be once `write` has run, readable before and while it
    runs, so a snapshot can be computed alongside the write; None when every day is
    recomputed (a snapshot then reads the table once written)."""

    days: DataFrame | None
    write: Callable[[], DaysUpdate]


def update_event_days(spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog) -> DaysUpdate:
    """Bring gold.customer_daily_events up to the latest version of silver.events."""
    return refresh_event_days(spark, cfg, catalog).write()


def refresh_event_days(spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog) -> DaysRefresh:
    """Find what gold.customer_daily_events lacks of the latest silver.events (see the
    module's docstring); nothing is written until the returned refresh's `write`."""
    version = catalog.version(spark, SILVER_EVENTS)
    now = DaysState(catalog.table_id(spark, SILVER_EVENTS), version, fingerprint(cfg))
    events = catalog.read(spark, SILVER_EVENTS, version=version)
    changed = _days_to_recompute(spark, catalog, now)
    if isinstance(changed, str):
        return _recompute_every_day(spark, cfg, catalog, events, now, reason=changed)
    # Read at its current version: Spark recomputes the kept results of any plan reading
    # a table's latest version when the table is written, and a snapshot computed from
    # these days is kept while the write below runs.
    table = catalog.read(spark, GOLD_CUSTOMER_DAILY_EVENTS, version=catalog.version(spark, GOLD_CUSTOMER_DAILY_EVENTS))
    # No changed day (only file compactions since): nothing to write. The version reached
    # is not recorded then; the next run reads those few commits' (empty) changes again.
    if not changed:
        return DaysRefresh(table, lambda: DaysUpdate(0, False, "current"))
    # silver.events.event_date is to_date(ts) (UTC): the day event_days groups by.
    fresh = event_days(events.where(F.col("event_date").isin(changed)), cfg)
    listed = ", ".join(f"'{d.isoformat()}'" for d in changed)
    months = ", ".join(sorted({f"'{d.replace(day=1).isoformat()}'" for d in changed}))

    def write() -> DaysUpdate:
        predicate = f"month IN ({months}) AND day IN ({listed})"
        catalog.replace_where(fresh, GOLD_CUSTOMER_DAILY_EVENTS, predicate, user_metadata=now.to_json())
        return DaysUpdate(len(changed), False, "changed days")

    days = table.where(~F.col("day").isin(changed)).unionByName(fresh)
    return DaysRefresh(days, write)


def _days_to_recompute(spark: SparkSession, catalog: Catalog, now: DaysState) -> list[date] | str:
    """The days whose events changed since the version the table reflects; or why every
    day must be recomputed."""
    if not catalog.exists(spark, GOLD_CUSTOMER_DAILY_EVENTS):
        return "first run"
    stored = DaysState.from_json(catalog.last_user_metadata(spark, GOLD_CUSTOMER_DAILY_EVENTS))
    if stored is None:  # e.g. a change by hand or a compaction committed after the last run
        return "its latest commit does not say which version of silver.events it reflects"
    reason = _rebuild_reason(spark, catalog, stored, now)
    if reason is not None:
        return reason
    if stored.events_version == now.events_version:
        return []
    first = stored.events_version + 1
    try:
        return _changed_days(spark, catalog, first, now.events_version)
    except AnalysisException as exc:  # e.g. the change feed was not on for those versions
        return f"no change feed of silver.events since version {first}: {_first_line(exc)}"


def _recompute_every_day(
    spark: SparkSession, cfg: FeaturesConfig, catalog: Catalog, events: DataFrame, now: DaysState, reason: str
) -> DaysRefresh:
    def write() -> DaysUpdate:
        catalog.overwrite(event_days(events, cfg), GOLD_CUSTOMER_DAILY_EVENTS, user_metadata=now.to_json())
        days = catalog.read(spark, GOLD_CUSTOMER_DAILY_EVENTS).select("day").distinct().count()
        return DaysUpdate(days, True, reason)

    return DaysRefresh(None, write)


def _rebuild_reason(spark: SparkSession, catalog: Catalog, stored: DaysState, now: DaysState) -> str | None:
    if stored.fingerprint != now.fingerprint:
        return "the configured categories or operating systems changed"
    if stored.events_table != now.events_table:
        return "silver.events was rebuilt"
    if stored.events_version > now.events_version:
        return "silver.events is older than the days computed from it"
    if stored.events_version < now.events_version and not catalog.has_commit(
        spark, SILVER_EVENTS, stored.events_version + 1
    ):
        return f"the history of silver.events since version {stored.events_version + 1} is gone"
    return None


def _changed_days(spark: SparkSession, catalog: Catalog, first: int, last: int) -> list[date]:
    """Days of the events inserted, updated (before and after) or deleted in versions
    first..last: a few dates, collected to the driver to prune the recomputation."""
    changes = catalog.changes(spark, SILVER_EVENTS, first, last)
    return sorted(r[0] for r in changes.select(F.to_date("ts")).distinct().collect() if r[0] is not None)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
