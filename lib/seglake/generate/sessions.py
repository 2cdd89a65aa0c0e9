"""Visitor rows -> session rows, each carrying the arrays that define its events.

A session is drawn independently (day from the persona's seasonal/weekday calendar, hour
from its local-time profile, outcome, length), then sessions of a visitor are ordered and
pushed apart so that each one starts at least 35 minutes after the previous one ended —
later stages sessionise with a 30-minute gap and must find exactly these sessions.

The events of a session are described by two arrays built here: `kinds` (what happens at
each position) and `offsets_ms` (when, relative to the session start). Events, orders and
reviews are all derived from these rows, so they agree with each other by construction.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglake.generate.columns import Transform, hex_id, per_group
from seglake.generate.context import GenContext
from seglake.generate.personas import (
    ABANDON,
    ADDED,
    BROWSE,
    CHECKOUT,
    GROUPS,
    IDENTIFY,
    MIN_EVENTS,
    ORDERED,
    PAGE,
    PURCHASE,
    REMOVED,
    VIDEO_COMPLETED,
    VIDEO_STARTED,
    VIEWED,
)

MINUTE_MS = 60_000
# Idle time after a session: always above the 30-minute sessionisation gap.
MIN_IDLE_MS = 35 * MINUTE_MS
EXTRA_IDLE_MS = 25 * MINUTE_MS
# Share of devices whose events carry a UTC ("Z") timestamp instead of a local offset.
UTC_DEVICE_SHARE = 0.25
# Share of devices on the newer tracking library, which adds context.screen (schema drift).
NEW_LIBRARY_SHARE = 0.08


def session_outcome(ctx: GenContext, vkey: Column, s: Column, persona: Column) -> Column:
    """BROWSE, ABANDON or PURCHASE; also used for ground truth, so it must only depend
    on (vkey, s, persona)."""
    u = ctx.rng.uniform("outcome", vkey, s)
    purchase = per_group([p.purchase for p in GROUPS], persona)
    abandon = per_group([p.abandon for p in GROUPS], persona)
    return (
        F.when(u < purchase, F.lit(PURCHASE))
        .when(u < purchase + abandon, F.lit(ABANDON))
        .otherwise(F.lit(BROWSE))
    )


def anonymous_id(ctx: GenContext, vkey: Column, device: Column) -> Column:
    return hex_id("a-", ctx.rng.hash("anonymous_id", vkey, device.cast("int")))


def order_id(vkey: Column, s: Column) -> Column:
    return F.format_string("ORD-%08d-%04d", vkey + 1, s)


def sessions(ctx: GenContext) -> Transform:
    """Visitors -> sessions, partitioned by visitor into `files_per_chunk` partitions."""

    def transform(visitors: DataFrame) -> DataFrame:
        exploded = visitors.select(
            "*", F.explode(F.sequence(F.lit(0), F.col("n_sessions"))).alias("s")
        ).where(F.col("s") < F.col("n_sessions"))
        return (
            exploded.transform(with_session_draws(ctx))
            # Partitioning by visitor here serves both the window below and the output
            # files (one per partition), so events are never shuffled.
            .repartition(ctx.cfg.files_per_chunk, "vkey")
            .transform(with_resolved_starts)
            .transform(with_device(ctx))
            .transform(with_identity(ctx))
            .transform(with_event_arrays(ctx))
        )

    return transform


def with_session_draws(ctx: GenContext) -> Transform:
    rng, cal = ctx.rng, ctx.calendar

    def transform(df: DataFrame) -> DataFrame:
        vkey, s, persona = F.col("vkey"), F.col("s"), F.col("persona")
        keys = (vkey, s)
        df = df.withColumn("outcome", session_outcome(ctx, vkey, s, persona))
        outcome = F.col("outcome")
        min_events = F.element_at(F.array(*[F.lit(m) for m in MIN_EVENTS]), outcome + 1)
        events_per_session = per_group(
            [p.events_per_session for p in GROUPS[:-1]] + [ctx.budget.bot_events_per_session], persona
        )
        n_events = min_events + rng.count(
            rng.lognormal(events_per_session - min_events, 0.6, "n_events", *keys),
            "n_events/round", *keys,
        )
        day = cal.day_table.choose(persona, rng.uniform("day", *keys) * F.col("period_share"))
        second_of_day = cal.hour_table.choose(persona, rng.uniform("hour", *keys)) * 3600 + rng.below(
            3600, "second", *keys
        )
        # Wall-clock time in the visitor's zone, then converted: hour preferences are local.
        wall = F.timestamp_seconds(F.lit(cal.start_epoch) + day * 86_400 + second_of_day)
        start = F.unix_millis(F.to_utc_timestamp(wall, F.col("timezone"))) + rng.below(1000, "ms", *keys)
        gap_ms = per_group([p.gap_seconds * 1000 for p in GROUPS], persona)
        duration = (n_events * gap_ms * rng.lognormal(1.0, 0.4, "duration", *keys)).cast("long")
        campaign = F.when(
            rng.uniform("campaign", *keys) < per_group([p.campaign for p in GROUPS], persona),
            ctx.tables["campaign"].choose(persona, rng.uniform("campaign/which", *keys)),
        )
        amount = rng.lognormal(
            per_group([p.order_value_eur for p in GROUPS], persona) * F.col("fx"), 0.45, "amount", *keys
        )
        items = 1 + rng.count(
            rng.lognormal(per_group([max(p.items - 1, 0) for p in GROUPS], persona), 0.6, "items", *keys),
            "items/round", *keys,
        )
        return df.withColumns({
            "n_events": n_events.cast("int"),
            "raw_start_ms": start,
            "duration_ms": duration,
            "busy_ms": duration + MIN_IDLE_MS + rng.below(EXTRA_IDLE_MS, "idle", *keys),
            "device": F.when(
                (F.col("n_devices") == 2)
                & (rng.uniform("device", *keys) < per_group([p.second_device_use for p in GROUPS], persona)),
                F.lit(1),
            ).otherwise(F.lit(0)),
            "campaign": campaign,
            "focus_category": ctx.tables["category"].choose(persona, rng.uniform("focus", *keys)),
            "order_id": order_id(vkey, s),
            "revenue": F.greatest(F.round(amount, 2), F.lit(1.0)).cast("decimal(12,2)"),
            "items": items,
        })

    return transform


def with_resolved_starts(df: DataFrame) -> DataFrame:
    """Shift sessions so none starts before the previous one ended plus its idle time.

    start'_i = max(start_i, start'_{i-1} + busy_{i-1}) unrolls to
    start'_i = before_i + max_{j<=i}(start_j - before_j) with before_i the sum of busy_j
    over j < i: two window aggregates instead of a sequential loop.
    """
    ordered = Window.partitionBy("vkey").orderBy("raw_start_ms", "s")
    preceding = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    before = F.sum("busy_ms").over(preceding) - F.col("busy_ms")
    df = df.withColumns({"before_ms": before, "rank": (F.row_number().over(ordered) - 1).cast("int")})
    shift = F.max(F.col("raw_start_ms") - F.col("before_ms")).over(preceding)
    return df.withColumn("start_ms", F.col("before_ms") + shift).drop("before_ms", "raw_start_ms", "busy_ms")


def with_device(ctx: GenContext) -> Transform:
    """Attributes of the device a session runs on, fixed per (visitor, device)."""
    rng = ctx.rng

    def transform(df: DataFrame) -> DataFrame:
        keys = (F.col("vkey"), F.col("device"))
        kind = F.when(F.col("device") == 0, F.col("device_type0")).otherwise(F.col("device_type1"))
        octets = [rng.below(223, "ip/1", *keys) + 1] + [rng.below(256, f"ip/{i}", *keys) for i in (2, 3, 4)]
        return df.withColumns({
            "device_type": kind,
            "os": kind * 2 + rng.below(2, "os", *keys),
            "anonymous_id": anonymous_id(ctx, F.col("vkey"), F.col("device")),
            "utc_timestamps": rng.uniform("utc", *keys) < UTC_DEVICE_SHARE,
            "new_library": rng.uniform("library", *keys) < NEW_LIBRARY_SHARE,
            "ip": F.format_string("%d.%d.%d.%d", *octets),
            "bot_agent": rng.below(5, "bot_agent", F.col("vkey")),
        })

    return transform


def with_identity(ctx: GenContext) -> Transform:
    """Where the session logs in (an identify call) and from where events carry userId.

    A device is logged in from session rank login_afterN on: such sessions identify at
    position 1 or 2 (events before it are anonymous). Earlier sessions are anonymous, except
    purchases, which log in just before checkout (guest-to-login at the till).
    """
    rng = ctx.rng

    def transform(df: DataFrame) -> DataFrame:
        threshold = F.when(F.col("device") == 0, F.col("login_after0")).otherwise(F.col("login_after1"))
        logged = F.col("rank") >= threshold
        n = F.col("n_events")
        purchase = F.col("outcome") == PURCHASE
        identify_at = (
            F.when(logged, 1 + rng.below(2, "login_at", F.col("vkey"), F.col("s")))
            .when(purchase, n - 3)
            .otherwise(F.lit(-1))
        )
        added_at = (
            F.when(purchase & logged, n - 3)
            .when(purchase, n - 4)
            .when(F.col("outcome") == ABANDON, n - 2)
            .otherwise(F.lit(-1))
        )
        return df.withColumns({"identify_at": identify_at.cast("int"), "added_at": added_at.cast("int")})

    return transform


def with_event_arrays(ctx: GenContext) -> Transform:
    """`kinds` and `offsets_ms` arrays of the session's events, in time order."""
    rng = ctx.rng

    def kind_at(k: Column) -> Column:
        n, outcome = F.col("n_events"), F.col("outcome")
        keys = (F.col("vkey"), F.col("s"), k)
        exit_draw = rng.uniform("exit", *keys)
        abandon_exit = (
            F.when(exit_draw < 0.4, F.lit(CHECKOUT)).when(exit_draw < 0.7, F.lit(REMOVED)).otherwise(F.lit(VIEWED))
        )
        return (
            F.when(k == 0, F.lit(PAGE))
            .when((outcome == PURCHASE) & (k == n - 1), F.lit(ORDERED))
            .when((outcome == PURCHASE) & (k == n - 2), F.lit(CHECKOUT))
            .when(k == F.col("added_at"), F.lit(ADDED))
            .when((outcome == ABANDON) & (k == n - 1), abandon_exit)
            .when(k == F.col("identify_at"), F.lit(IDENTIFY))
            .otherwise(ctx.tables["filler"].choose(F.col("persona"), rng.uniform("filler", *keys)))
        )

    completion = per_group([p.video_completion for p in GROUPS], F.col("persona"))

    def completed_videos(kind: Column, k: Column) -> Column:
        # A filler right after a started video may be that video's completion. The
        # previous element is kinds[k] in element_at's 1-based indexing.
        follows_video = (k > 0) & (F.element_at(F.col("kinds"), k) == VIDEO_STARTED)
        completes = rng.uniform("video_completed", F.col("vkey"), F.col("s"), k) < completion
        return F.when((kind <= VIDEO_STARTED) & follows_video & completes, F.lit(VIDEO_COMPLETED)).otherwise(kind)

    def offset_at(k: Column) -> Column:
        spread = F.floor(rng.uniform("offset", F.col("vkey"), F.col("s"), k) * F.col("duration_ms"))
        return F.when(k == 0, F.lit(0)).otherwise(spread).cast("long")

    def transform(df: DataFrame) -> DataFrame:
        positions = F.sequence(F.lit(0), F.col("n_events") - 1)
        df = df.withColumns({
            "kinds": F.transform(positions, kind_at),
            # Sorted uniform points: exponential-like gaps of seconds to minutes.
            "offsets_ms": F.array_sort(F.transform(positions, offset_at)),
        })
        return df.withColumn("kinds", F.transform(F.col("kinds"), completed_videos))

    return transform
