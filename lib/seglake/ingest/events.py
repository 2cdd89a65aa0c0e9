"""bronze.events -> silver events, identity map and sessions (pure transforms)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglake.config.schema import IngestConfig
from seglake.ingest.quality import with_reasons
from seglake.ingest.reference import country_code, currency_code

# Explicit schema of a Segment-spec event. Numbers arrive as strings so a wrong type is
# a quarantine reason we can name instead of a silently nulled record.
EVENT_SCHEMA = """
    type STRING, event STRING, messageId STRING, userId STRING, anonymousId STRING,
    timestamp STRING, sentAt STRING, receivedAt STRING,
    properties STRUCT<
        product_id: STRING, category: STRING, price: STRING, quantity: STRING,
        order_id: STRING, revenue: STRING, currency: STRING, depth: STRING,
        video_id: STRING, query: STRING, path: STRING, url: STRING, title: STRING>,
    context STRUCT<
        page: STRUCT<path: STRING, url: STRING, referrer: STRING, title: STRING>,
        device: STRUCT<type: STRING, model: STRING>,
        os: STRUCT<name: STRING, version: STRING>,
        locale: STRING, timezone: STRING,
        location: STRUCT<country: STRING, city: STRING>,
        campaign: STRUCT<source: STRING, medium: STRING, name: STRING>,
        userAgent: STRING, ip: STRING>,
    traits STRUCT<email: STRING>,
    _corrupt_record STRING
"""

KNOWN_TYPES = ("track", "page", "screen", "identify", "group", "alias")

# Fields EVENT_SCHEMA reads, plus Segment-spec fields seglake knowingly ignores (library
# and delivery metadata), at the top level and under `context`. Anything else in an event
# is schema drift: not lost (bronze keeps the raw line) but reported, so a field a source
# started sending is noticed. `properties` vary by event by design and are not checked.
KNOWN_TOP_FIELDS = (
    "type", "event", "messageId", "userId", "anonymousId", "timestamp", "sentAt", "receivedAt",
    "properties", "context", "traits",
    "integrations", "originalTimestamp", "version", "channel", "writeKey", "name",
)  # fmt: skip
KNOWN_CONTEXT_FIELDS = (
    "page", "device", "os", "locale", "timezone", "location", "campaign", "userAgent", "ip",
    "library", "app", "network", "active", "groupId",
)  # fmt: skip

# Segment e-commerce spec names (and our custom ones) -> one canonical event type.
EVENT_TYPES = {
    "Product Viewed": "product_view",
    "Product Added": "cart_add",
    "Product Removed": "cart_remove",
    "Checkout Started": "checkout_start",
    "Order Completed": "order",
    "Products Searched": "search",
    "Scroll Depth Reached": "scroll",
    "Video Playback Started": "video_start",
    "Video Playback Completed": "video_complete",
}

_OFFSET_SUFFIX = r"[+-][0-9]{2}:?[0-9]{2}$"


def parse_events(bronze: DataFrame) -> DataFrame:
    """Parse raw lines with the explicit schema; keep bronze lineage columns."""
    parsed = F.from_json("_raw", EVENT_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})
    return bronze.select("_raw", "_record_id", "_source_file", "_run_id", "_ingested_at", parsed.alias("e"))


def unparsed_fields(parsed: DataFrame, with_total: bool = False) -> DataFrame:
    """(field, records): how many events carry each field seglake does not know. With
    `with_total`, a row with a null field counts all events (one pass for both)."""

    def keys(json: Column) -> Column:
        return F.coalesce(F.json_object_keys(json), F.array().cast("array<string>"))

    top = F.array_except(keys(F.col("_raw")), F.array(*map(F.lit, KNOWN_TOP_FIELDS)))
    context = F.array_except(keys(F.get_json_object("_raw", "$.context")), F.array(*map(F.lit, KNOWN_CONTEXT_FIELDS)))
    unknown = F.concat(top, F.transform(context, lambda k: F.concat(F.lit("context."), k)))
    if with_total:
        unknown = F.concat(unknown, F.array(F.lit(None).cast("string")))
    return parsed.select(F.explode(unknown).alias("field")).groupBy("field").agg(F.count(F.lit(1)).alias("records"))


def validate_events(parsed: DataFrame, cfg: IngestConfig) -> DataFrame:
    """Add `_reasons` for every rule an event breaks.

    "Future" is judged against when the record was received (`_ingested_at`), not when
    silver runs, so rebuilding silver later gives the same answer."""
    e = F.col("e")
    ts = F.try_to_timestamp(e["timestamp"])
    numeric = [e["properties"][f] for f in ("price", "quantity", "revenue", "depth")]
    wrong_type = F.lit(False)
    for c in numeric:
        wrong_type = wrong_type | (c.isNotNull() & c.try_cast("double").isNull())
    too_long = F.length("_raw") > cfg.max_string_length * 4
    rules = {
        "malformed_json": e["_corrupt_record"].isNotNull() | e.isNull(),
        "missing_message_id": F.trim(e["messageId"]).eqNullSafe("") | e["messageId"].isNull(),
        "missing_identity": e["userId"].isNull() & e["anonymousId"].isNull(),
        "unknown_type": ~F.coalesce(e["type"].isin(*KNOWN_TYPES), F.lit(False)),
        "invalid_timestamp": ts.isNull(),
        "future_timestamp": ts > F.col("_ingested_at") + F.expr(f"INTERVAL {cfg.future_tolerance_hours} HOURS"),
        "wrong_type": wrong_type,
        "oversized_record": too_long,
    }
    # A malformed line breaks every other rule too; name only the root cause.
    malformed = rules["malformed_json"]
    rules = {k: (v if k == "malformed_json" else (~malformed & v)) for k, v in rules.items()}
    return with_reasons(parsed.withColumn("_ts", ts), rules)


def normalise_events(valid: DataFrame, pii_secret: str) -> DataFrame:
    """Flatten, type and normalise valid events; pseudonymise IP addresses."""
    e = F.col("e")
    ctx = e["context"]
    props = e["properties"]
    ts_text = F.trim(e["timestamp"])
    # Wall-clock time where the event happened, from the offset the device sent; events
    # sent in UTC (`Z`) keep UTC because a free-text time zone may not be a valid zone id.
    local_ts = F.when(ts_text.rlike(_OFFSET_SUFFIX), F.try_to_timestamp(F.substring(ts_text, 1, 19))).otherwise(
        F.col("_ts")
    )
    event_type = F.coalesce(
        F.when(e["type"] == "page", F.lit("page_view")),
        F.when(e["type"] == "screen", F.lit("screen_view")),
        F.when(e["type"] == "identify", F.lit("identify")),
        F.create_map(*[F.lit(x) for kv in EVENT_TYPES.items() for x in kv])[F.trim(e["event"])],
        F.lit("other"),
    )
    return valid.select(
        F.trim(e["messageId"]).alias("message_id"),
        F.lower(F.trim(e["type"])).alias("type"),
        F.trim(e["event"]).alias("event"),
        event_type.alias("event_type"),
        F.nullif(F.trim(e["userId"]), F.lit("")).alias("user_id"),
        F.nullif(F.trim(e["anonymousId"]), F.lit("")).alias("anonymous_id"),
        F.col("_ts").alias("ts"),
        F.to_date("_ts").alias("event_date"),
        # When the collector got the event (else when the device sent it); far after `ts`
        # means it arrived late. Unknown when the event carries neither.
        F.coalesce(F.try_to_timestamp(e["receivedAt"]), F.try_to_timestamp(e["sentAt"])).alias("received_at"),
        local_ts.alias("local_ts"),
        F.trim(props["product_id"]).alias("product_id"),
        F.lower(F.trim(props["category"])).alias("category"),
        props["price"].try_cast("double").alias("price"),
        props["quantity"].try_cast("double").cast("int").alias("quantity"),
        F.trim(props["order_id"]).alias("order_id"),
        props["revenue"].try_cast("double").alias("revenue"),
        currency_code(props["currency"]).alias("currency"),
        props["depth"].try_cast("double").alias("scroll_depth"),
        F.coalesce(ctx["page"]["path"], props["path"]).alias("page_path"),
        ctx["page"]["referrer"].alias("referrer"),
        F.lower(ctx["device"]["type"]).alias("device_type"),
        ctx["os"]["name"].alias("os_name"),
        ctx["locale"].alias("locale"),
        ctx["timezone"].alias("timezone"),
        country_code(ctx["location"]["country"]).alias("country"),
        F.initcap(F.trim(ctx["location"]["city"])).alias("city"),
        F.lower(ctx["campaign"]["source"]).alias("utm_source"),
        F.lower(ctx["campaign"]["medium"]).alias("utm_medium"),
        F.lower(ctx["campaign"]["name"]).alias("utm_campaign"),
        ctx["userAgent"].alias("user_agent"),
        F.when(ctx["ip"].isNotNull(), F.sha2(F.concat(F.lit(pii_secret), ctx["ip"]), 256)).alias("ip_hash"),
        F.col("_raw"),
        F.col("_record_id"),
        F.col("_source_file"),
        F.col("_run_id"),
        F.col("_ingested_at"),
    )


def visitor_key(customer_id: Column, anonymous_id: Column) -> Column:
    """Whom an event belongs to: the stitched customer, else the anonymous visitor."""
    return F.coalesce(customer_id, F.concat(F.lit("anon:"), anonymous_id))


def flag_bots(events: DataFrame, cfg: IngestConfig) -> DataFrame:
    """`is_bot`: a bot user agent, or a visitor sending more events in one minute than a
    person can. Bots stay in silver (flagged) so their volume can be reported."""
    pattern = "(?i)(" + "|".join(cfg.bot_user_agent_patterns) + ")"
    per_minute = Window.partitionBy("visitor_key", F.date_trunc("minute", "ts"))
    return events.withColumn(
        "is_bot",
        F.coalesce(F.col("user_agent").rlike(pattern), F.lit(False))
        | (F.count(F.lit(1)).over(per_minute) > cfg.bot_max_events_per_minute),
    )


def identity_links(events: DataFrame) -> DataFrame:
    """anonymous_id -> customer_id from every event carrying both (identify, logged-in
    events). An anonymous id seen with several customers (shared device) goes to the
    first one it was linked to; the others are kept as candidates."""
    links = events.where(F.col("anonymous_id").isNotNull() & F.col("user_id").isNotNull())
    return links.groupBy("anonymous_id").agg(
        F.min_by("user_id", F.struct("ts", "user_id")).alias("customer_id"),
        F.min("ts").alias("linked_at"),
        F.sort_array(F.collect_set("user_id")).alias("candidates"),
    )


def merge_identity_links(known: DataFrame, new: DataFrame) -> DataFrame:
    """Combine stored links with a batch's links (same columns): the earliest link still
    wins and candidates accumulate, so the result does not depend on batch boundaries."""
    cols = ["anonymous_id", "customer_id", "linked_at", "candidates"]
    both = known.select(*cols).unionByName(new.select(*cols))
    return both.groupBy("anonymous_id").agg(
        F.min_by("customer_id", F.struct("linked_at", "customer_id")).alias("customer_id"),
        F.min("linked_at").alias("linked_at"),
        F.sort_array(F.array_distinct(F.flatten(F.collect_list("candidates")))).alias("candidates"),
    )


def stitch_identities(events: DataFrame, identity_map: DataFrame) -> DataFrame:
    """customer_id = the event's user id, else the customer its anonymous id links to,
    so events before login are attributed to the person once they identify."""
    linked = identity_map.select("anonymous_id", F.col("customer_id").alias("_linked_customer"))
    return (
        events.drop("customer_id", "visitor_key")
        .join(linked, on="anonymous_id", how="left")
        .withColumn("customer_id", F.coalesce("user_id", "_linked_customer"))
        .withColumn("visitor_key", visitor_key(F.col("customer_id"), F.col("anonymous_id")))
        .drop("_linked_customer")
    )


def sessionize(events: DataFrame, gap_minutes: int) -> DataFrame:
    """Assign `session_id` per `visitor_key` (the stitched person, so a login mid-visit
    does not split the session).

    A session starts after more than `gap_minutes` without events, or when a hit carries
    a UTM campaign other than the session's (a visit that began untagged and then comes
    in from a campaign is a new session). Both rules look only at the events since the
    last gap, so sessionising a visitor's events from any session start onwards gives the
    same sessions as sessionising the whole history: incremental runs rely on it. The id
    is a hash of the visitor and the session's first timestamp, so a session keeps its id
    when later events extend it."""
    ordered = Window.partitionBy("visitor_key").orderBy("ts", "message_id")
    prev_ts = F.lag("ts").over(ordered)
    after_gap = prev_ts.isNull() | ((F.unix_micros("ts") - F.unix_micros(prev_ts)) > gap_minutes * 60_000_000)
    visits = events.withColumn("_after_gap", after_gap).withColumn(
        "_visit_no", F.sum(F.col("_after_gap").cast("int")).over(ordered.rowsBetween(Window.unboundedPreceding, 0))
    )
    in_visit = Window.partitionBy("visitor_key", "_visit_no").orderBy("ts", "message_id")
    campaign = F.nullif(F.concat_ws("/", "utm_source", "utm_medium", "utm_campaign"), F.lit(""))
    visit_campaign = F.last(campaign, ignorenulls=True).over(in_visit.rowsBetween(Window.unboundedPreceding, -1))
    starts = F.col("_after_gap") | (campaign.isNotNull() & ~campaign.eqNullSafe(visit_campaign))
    numbered = visits.withColumn(
        "_session_no", F.sum(starts.cast("int")).over(in_visit.rowsBetween(Window.unboundedPreceding, 0))
    )
    session_start = F.min("ts").over(Window.partitionBy("visitor_key", "_visit_no", "_session_no"))
    return numbered.withColumn(
        "session_id",
        F.substring(F.sha2(F.concat_ws("|", "visitor_key", F.unix_micros(session_start).cast("string")), 256), 1, 24),
    ).drop("_after_gap", "_visit_no", "_session_no")


def session_facts(events: DataFrame) -> DataFrame:
    """One row per session with the facts segmentation and rules need."""
    is_type = lambda t: (F.col("event_type") == t).cast("int")  # noqa: E731
    first = lambda c: F.min_by(c, F.struct("ts", "message_id"))  # noqa: E731
    return (
        events.groupBy("session_id")
        .agg(
            F.first("visitor_key").alias("visitor_key"),
            F.max("customer_id").alias("customer_id"),
            F.min("ts").alias("session_start"),
            F.max("ts").alias("session_end"),
            first("local_ts").alias("local_start"),
            F.count(F.lit(1)).alias("events"),
            F.sum(is_type("page_view")).alias("page_views"),
            F.sum(is_type("product_view")).alias("product_views"),
            F.max("scroll_depth").alias("max_scroll_depth"),
            F.sum(is_type("video_start")).alias("video_starts"),
            F.sum(is_type("video_complete")).alias("video_completions"),
            F.sum(is_type("cart_add")).alias("cart_adds"),
            (F.sum(is_type("checkout_start")) > 0).alias("checkout_started"),
            (F.sum(is_type("order")) > 0).alias("order_placed"),
            first("page_path").alias("landing_page"),
            first("referrer").alias("referrer"),
            first("utm_source").alias("utm_source"),
            first("utm_medium").alias("utm_medium"),
            first("utm_campaign").alias("utm_campaign"),
            first("device_type").alias("device_type"),
            F.max(F.col("is_bot").cast("int")).cast("boolean").alias("is_bot"),
        )
        .withColumn("duration_seconds", F.unix_seconds("session_end") - F.unix_seconds("session_start"))
        .withColumn("session_date", F.to_date("session_start"))
    )
