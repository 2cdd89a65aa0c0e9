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
# Longest mean gap between a session's events; gaps stay below twice this (see offset_at).
MAX_STEP_MS = 12 * MINUTE_MS
# Share of devices whose events carry a UTC ("Z") timestamp instead of a local offset.
UTC_DEVICE_SHARE = 0.25
# Share of devices on the newer tracking library, which adds context.screen (schema drift).
NEW_LIBRARY_SHARE = 0.08
# Share of logged-in sessions where the site remembers the customer: no identify call.
REMEMBERED_SHARE = 0.4


def session_outcome(ctx: GenContext, vkey: Column, s: Column, persona: Column) -> Column:
    """BROWSE, ABANDON or PURCHASE; also used for ground truth, so it must only depend
    on (vkey, s, persona)."""
    u = ctx.rng.uniform("outcome", vkey, s)
    purchase = per_group([p.purchase for p in GROUPS], persona)
    abandon = per_group([p.abandon for p in GROUPS], persona)
    return F.when(u < purchase, F.lit(PURCHASE)).when(u < purchase + abandon, F.lit(ABANDON)).otherwise(F.lit(BROWSE))


def anonymous_id(ctx: GenContext, vkey: Column, device: Column) -> Column:
    return hex_id("a-", ctx.rng.hash("anonymous_id", vkey, device.cast("int")))


def order_id(vkey: Column, s: Column) -> Column:
    return F.format_string("ORD-%08d-%04d", vkey + 1, s)


def sessions(ctx: GenContext) -> Transform:
    """Visitors -> sessions, partitioned by visitor into `files_per_chunk` partitions."""
    steps = [session_draws(ctx), resolved_starts(), device(ctx), identity(ctx), event_arrays(ctx)]

    def transform(visitors: DataFrame) -> DataFrame:
        exploded = visitors.select("*", F.explode(F.sequence(F.lit(0), F.col("n_sessions"))).alias("s")).where(
            F.col("s") < F.col("n_sessions")
        )
        draws, starts, *rest = steps
        # Partitioning by visitor here serves both the window and the output files (one
        # per partition), so the far more numerous events are never shuffled.
        df = exploded.transform(draws).repartition(ctx.cfg.files_per_chunk, "vkey").transform(starts)
        for step in rest:
            df = df.transform(step)
        return df

    return transform


def session_draws(ctx: GenContext) -> Transform:
    """Independent per-session draws: outcome, length, local start time, device, campaign."""
    rng, cal = ctx.rng, ctx.calendar
    vkey, s, persona = F.col("vkey"), F.col("s"), F.col("persona")
    keys = (vkey, s)
    outcome = F.col("outcome")
    min_events = F.element_at(F.array(*[F.lit(m) for m in MIN_EVENTS]), outcome + 1)
    events_per_session = per_group(
        [p.events_per_session for p in GROUPS[:-1]] + [ctx.budget.bot_events_per_session], persona
    )
    n_events = min_events + rng.count(
        rng.lognormal(events_per_session - min_events, 0.6, "n_events", *keys), "n_events/round", *keys
    )
    day = cal.day_table.choose(persona, rng.uniform("day", *keys) * F.col("period_share"))
    second_of_day = cal.hour_table.choose(persona, rng.uniform("hour", *keys)) * 3600 + rng.below(3600, "second", *keys)
    # Wall-clock time in the visitor's zone, then converted: hour preferences are local.
    wall = F.timestamp_seconds(F.lit(cal.start_epoch) + day * 86_400 + second_of_day)
    start = F.unix_millis(F.to_utc_timestamp(wall, F.col("timezone"))) + rng.below(1000, "ms", *keys)
    gap_ms = per_group([p.gap_seconds * 1000 for p in GROUPS], persona)
    step = F.least(rng.lognormal(gap_ms, 0.5, "step", *keys), F.lit(float(MAX_STEP_MS))).cast("long")
    amount = rng.lognormal(per_group([p.order_value_eur for p in GROUPS], persona) * F.col("fx"), 0.45, "amount", *keys)
    items = 1 + rng.count(
        rng.lognormal(per_group([max(p.items - 1, 0) for p in GROUPS], persona), 0.6, "items", *keys),
        "items/round",
        *keys,
    )
    draws = {
        "n_events": n_events.cast("int"),
        "raw_start_ms": start,
        "step_ms": step,
        "device": F.when(
            (F.col("n_devices") == 2)
            & (rng.uniform("device", *keys) < per_group([p.second_device_use for p in GROUPS], persona)),
            F.lit(1),
        ).otherwise(F.lit(0)),
        "campaign": F.when(
            rng.uniform("campaign", *keys) < per_group([p.campaign for p in GROUPS], persona),
            ctx.tables["campaign"].choose(persona, rng.uniform("campaign/which", *keys)),
        ),
        "focus_category": ctx.tables["category"].choose(persona, rng.uniform("focus", *keys)),
        "order_id": order_id(vkey, s),
        "revenue": F.greatest(F.round(amount, 2), F.lit(1.0)).cast("decimal(12,2)"),
        "items": items,
    }
    # The last event is at most (n - 1) steps after the start.
    last_event = F.col("step_ms") * (F.col("n_events") - 1)
    timing = {"busy_ms": last_event + MIN_IDLE_MS + rng.below(EXTRA_IDLE_MS, "idle", *keys)}
    outcome_column = session_outcome(ctx, vkey, s, persona)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("outcome", outcome_column).withColumns(draws).withColumns(timing)

    return transform


def resolved_starts() -> Transform:
    """Shift sessions so none starts before the previous one ended plus its idle time.

    start'_i = max(start_i, start'_{i-1} + busy_{i-1}) unrolls to
    start'_i = before_i + max_{j<=i}(start_j - before_j) with before_i the sum of busy_j
    over j < i: two window aggregates instead of a sequential loop.
    """
    ordered = Window.partitionBy("vkey").orderBy("raw_start_ms", "s")
    preceding = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    first = {
        "before_ms": F.sum("busy_ms").over(preceding) - F.col("busy_ms"),
        "rank": (F.row_number().over(ordered) - 1).cast("int"),
    }
    shift = F.max(F.col("raw_start_ms") - F.col("before_ms")).over(preceding)

    def transform(df: DataFrame) -> DataFrame:
        return (
            df.withColumns(first)
            .withColumn("start_ms", F.col("before_ms") + shift)
            .drop("before_ms", "raw_start_ms", "busy_ms")
        )

    return transform


def device(ctx: GenContext) -> Transform:
    """Attributes of the device a session runs on, fixed per (visitor, device)."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("device"))
    kind = F.when(F.col("device") == 0, F.col("device_type0")).otherwise(F.col("device_type1"))
    octets = [rng.below(223, "ip/1", *keys) + 1] + [rng.below(256, f"ip/{i}", *keys) for i in (2, 3, 4)]
    attributes = {
        "device_type": kind,
        "os": kind * 2 + rng.below(2, "os", *keys),
        "anonymous_id": anonymous_id(ctx, F.col("vkey"), F.col("device")),
        "utc_timestamps": rng.uniform("utc", *keys) < UTC_DEVICE_SHARE,
        "new_library": rng.uniform("library", *keys) < NEW_LIBRARY_SHARE,
        "ip": F.format_string("%d.%d.%d.%d", *octets),
        "bot_agent": rng.below(5, "bot_agent", F.col("vkey")),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(attributes)

    return transform


def identity(ctx: GenContext) -> Transform:
    """Where the session logs in (an identify call) and from where events carry userId.

    A device is logged in from session rank login_afterN on. Such a session is either
    remembered (userId on every event, no identify) or logs in at position 1 or 2, events
    before it being anonymous. Earlier sessions are anonymous, except purchases, which log
    in just before checkout (guest-to-login at the till). `user_from` is the first position
    carrying userId (-1: none); `identify_at` the identify's position (-1: none).
    """
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"))
    threshold = F.when(F.col("device") == 0, F.col("login_after0")).otherwise(F.col("login_after1"))
    logged = F.col("rank") >= threshold
    remembered = logged & (rng.uniform("remembered", *keys) < REMEMBERED_SHARE)
    n = F.col("n_events")
    purchase = F.col("outcome") == PURCHASE
    identify_at = (
        F.when(remembered, F.lit(-1))
        .when(logged, 1 + rng.below(2, "login_at", *keys))
        .when(purchase, n - 3)
        .otherwise(F.lit(-1))
    )
    added_at = (
        F.when(purchase & logged, n - 3)
        .when(purchase, n - 4)
        .when(F.col("outcome") == ABANDON, n - 2)
        .otherwise(F.lit(-1))
    )
    positions = {
        "identify_at": identify_at.cast("int"),
        "user_from": F.when(remembered, F.lit(0)).otherwise(identify_at).cast("int"),
        "added_at": added_at.cast("int"),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(positions)

    return transform


def event_arrays(ctx: GenContext) -> Transform:
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
        # Event k >= 1 falls anywhere in [(k - 1) * step, k * step): gaps are random but
        # always shorter than two steps, so no session is split by the 30-minute rule.
        jitter = rng.uniform("offset", F.col("vkey"), F.col("s"), k)
        return F.when(k == 0, F.lit(0)).otherwise(F.floor((k - 1 + jitter) * F.col("step_ms"))).cast("long")

    positions = F.sequence(F.lit(0), F.col("n_events") - 1)
    arrays = {
        "kinds": F.transform(positions, kind_at),
        "offsets_ms": F.transform(positions, offset_at),
    }
    with_completions = F.transform(F.col("kinds"), completed_videos)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(arrays).withColumn("kinds", with_completions)

    return transform
