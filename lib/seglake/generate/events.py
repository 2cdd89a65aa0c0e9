"""Session rows -> Segment-spec JSON lines, including the dirty ones.

Lines are serialised with to_json over one wide struct whose irrelevant fields are null
(to_json drops null fields, so each event shows only its own properties). Dirt that a
typed struct cannot express — wrong JSON types, broken syntax — is applied to the text.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.generate.columns import Transform, local_iso, pick, utc_iso, uuid_like
from seglake.generate.context import GenContext
from seglake.generate.personas import (
    ADDED,
    CHECKOUT,
    EVENT_NAMES,
    IDENTIFY,
    ORDERED,
    PAGE,
    REMOVED,
    SCROLL_DEPTHS,
    SCROLLED,
    SEARCHED,
    VIDEO_COMPLETED,
    VIDEO_STARTED,
    VIEWED,
)
from seglake.generate.products import category_at, product_id, product_number_at, product_price
from seglake.generate.vocab import (
    BOT_USER_AGENTS,
    CAMPAIGNS,
    CATEGORIES,
    CITIES,
    CONTENT_PAGES,
    COUNTRIES,
    DEVICE_MODELS,
    DEVICE_TYPES,
    LIBRARIES,
    ORGANIC_REFERRERS,
    OS_NAMES,
    OS_VERSIONS,
    SCREENS,
    SITE,
    USER_AGENTS,
)

DAY_MS = 86_400_000
CLEAN, MALFORMED, WRONG_TYPE, LATE, FUTURE, MISSING_ID = range(6)
PRODUCT_KINDS = (VIEWED, ADDED, REMOVED, VIDEO_STARTED, VIDEO_COMPLETED, SCROLLED)
PRICED_KINDS = (VIEWED, ADDED, REMOVED)
ORDER_KINDS = (CHECKOUT, ORDERED)
PROXY_ERROR = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
OVERSIZED_LENGTH = 8000


def event_lines(ctx: GenContext) -> Transform:
    """Sessions -> (ts_ms, message_id, copy, value) rows, one per output line."""

    def transform(sessions: DataFrame) -> DataFrame:
        events = sessions.select("*", F.posexplode("kinds").alias("k", "kind")).withColumns({
            "prev_kind": F.when(F.col("k") > 0, F.element_at(F.col("kinds"), F.col("k"))),
            "ts_ms": F.col("start_ms") + F.element_at(F.col("offsets_ms"), F.col("k") + 1),
            "message_id": uuid_like(F.lit(ctx.cfg.seed), F.col("vkey"), F.col("s"), F.col("k")),
        })
        return (
            events.transform(with_product(ctx))
            .transform(with_dirt(ctx))
            .transform(with_json(ctx))
            .transform(with_broken_text(ctx))
            .select("ts_ms", "message_id", "copy", "value")
        )

    return transform


def with_product(ctx: GenContext) -> Transform:
    def transform(df: DataFrame) -> DataFrame:
        df = df.withColumns({"category": category_at(ctx, F.col("k")), "number": product_number_at(ctx, F.col("k"))})
        return df.withColumns({
            "product_id": product_id(F.col("category"), F.col("number")),
            "price": product_price(ctx, F.col("category"), F.col("number")),
        })

    return transform


def page_path(ctx: GenContext, k: Column, kind: Column) -> Column:
    """URL path of the page the event at position k happens on; used for k and k - 1
    (the referrer), so it only depends on (vkey, s, k, kind)."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"), k)
    category_name = pick([c.name for c in CATEGORIES], category_at(ctx, k))
    product = F.concat(F.lit("/p/"), product_id(category_at(ctx, k), product_number_at(ctx, k)))
    page_choice = rng.below(4, "page", *keys)
    landing_page = (
        F.when((k == 0) & F.col("campaign").isNotNull(), F.lit("/promotions"))
        .when(page_choice == 0, F.lit("/"))
        .when(page_choice < 3, F.concat(F.lit("/c/"), category_name))
        .otherwise(pick(CONTENT_PAGES, rng.below(len(CONTENT_PAGES), "content", *keys)))
    )
    query = F.url_encode(search_query(ctx, k))
    return (
        F.when(kind == PAGE, landing_page)
        .when(kind == SEARCHED, F.concat(F.lit("/search?q="), query))
        .when(kind == REMOVED, F.lit("/cart"))
        .when(kind == CHECKOUT, F.lit("/checkout"))
        .when(kind == ORDERED, F.lit("/checkout/confirmation"))
        .when(kind == IDENTIFY, F.lit("/login"))
        .otherwise(product)
    )


def search_query(ctx: GenContext, k: Column) -> Column:
    queries = [q for c in CATEGORIES for q in c.queries]
    return pick(queries, category_at(ctx, k) * 3 + ctx.rng.below(3, "query", F.col("vkey"), F.col("s"), k))


def page_title(path: Column) -> Column:
    return (
        F.when(path == "/", F.lit("Home | Shop"))
        .when(path.startswith("/c/"), F.concat(F.initcap(F.substring(path, 4, 40)), F.lit(" | Shop")))
        .when(path.startswith("/p/"), F.concat(F.lit("Product "), F.substring(path, 4, 20), F.lit(" | Shop")))
        .when(path.startswith("/search"), F.lit("Search | Shop"))
        .otherwise(F.concat(F.initcap(F.regexp_replace(F.substring_index(path, "/", -1), "-", " ")),
                            F.lit(" | Shop")))
    )


def with_dirt(ctx: GenContext) -> Transform:
    """Pick each event's kind of dirt (rates are shares of lines) and explode duplicates."""
    rates = ctx.cfg.dirty
    rng = ctx.rng

    def transform(df: DataFrame) -> DataFrame:
        keys = (F.col("vkey"), F.col("s"), F.col("k"))
        u = rng.uniform("dirt", *keys)
        dirt = F.lit(CLEAN)
        bound = 0.0
        branches = []
        for code, rate in ((MALFORMED, rates.malformed_json), (WRONG_TYPE, rates.wrong_type),
                           (LATE, rates.late), (FUTURE, rates.future), (MISSING_ID, rates.missing_id)):
            bound += rate
            branches.append((u < bound, code))
        for condition, code in reversed(branches):
            dirt = F.when(condition, F.lit(code)).otherwise(dirt)
        copies = F.when(rng.uniform("duplicate", *keys) < rates.duplicate, F.array(F.lit(0), F.lit(1))).otherwise(
            F.array(F.lit(0))
        )
        return df.withColumn("dirt", dirt).select("*", F.explode(copies).alias("copy"))

    return transform


def with_json(ctx: GenContext) -> Transform:
    rng = ctx.rng

    def transform(df: DataFrame) -> DataFrame:
        keys = (F.col("vkey"), F.col("s"), F.col("k"))
        kind, k, dirt = F.col("kind"), F.col("k"), F.col("dirt")
        path = page_path(ctx, k, kind)
        prev_path = page_path(ctx, k - 1, F.col("prev_kind"))

        def campaign_field(i: int) -> Column:
            return pick([c[i] for c in CAMPAIGNS], F.col("campaign"))

        utm = F.format_string("?utm_source=%s&utm_medium=%s&utm_campaign=%s",
                              campaign_field(0), campaign_field(1), campaign_field(2))
        url = F.concat(F.lit(SITE), path, F.when((k == 0) & F.col("campaign").isNotNull(), utm).otherwise(F.lit("")))
        entry_referrer = F.when(F.col("campaign").isNotNull(), campaign_field(3)).when(
            rng.uniform("referrer", *keys) < 0.6,
            pick(ORGANIC_REFERRERS, rng.below(len(ORGANIC_REFERRERS), "referrer/which", *keys)),
        )
        referrer = F.when(k == 0, entry_referrer).otherwise(F.concat(F.lit(SITE), prev_path))
        title = page_title(path)
        is_page = kind == PAGE
        in_order = kind.isin(*ORDER_KINDS)
        is_video = kind.isin(VIDEO_STARTED, VIDEO_COMPLETED)
        category_name = pick([c.name for c in CATEGORIES], F.col("category"))
        page_category = F.when(path.startswith("/c/"), F.substring(path, 4, 40))

        properties = F.struct(
            F.when(is_page, path).alias("path"),
            F.when(is_page, url).alias("url"),
            F.when(is_page, title).alias("title"),
            F.when(is_page, referrer).alias("referrer"),
            F.when(kind.isin(*PRODUCT_KINDS), category_name).when(is_page, page_category).alias("category"),
            F.when(kind.isin(*PRODUCT_KINDS), F.col("product_id")).alias("product_id"),
            F.when(kind.isin(*PRICED_KINDS), F.col("price")).alias("price"),
            F.when(kind.isin(ADDED, REMOVED), F.lit(1)).alias("quantity"),
            F.when(kind == SEARCHED, search_query(ctx, k)).alias("query"),
            F.when(kind == SCROLLED, pick(SCROLL_DEPTHS, ctx.tables["scroll"].choose(
                F.col("persona"), rng.uniform("depth", *keys)))).alias("depth"),
            F.when(is_video, F.concat(F.lit("VID-"), F.col("product_id"))).alias("video_id"),
            F.when(is_video, 30 + rng.below(210, "video_length", F.col("product_id"))).alias("video_length"),
            F.when(in_order, F.col("order_id")).alias("order_id"),
            F.when(in_order, F.col("revenue")).alias("revenue"),
            F.when(in_order, F.col("currency")).alias("currency"),
            F.when(in_order, F.col("items")).alias("products"),
        )
        context = F.struct(
            F.struct(path.alias("path"), referrer.alias("referrer"), title.alias("title"), url.alias("url")).alias("page"),
            F.struct(pick(DEVICE_TYPES, F.col("device_type")).alias("type"),
                     pick(DEVICE_MODELS, F.col("os")).alias("model")).alias("device"),
            F.struct(pick(OS_NAMES, F.col("os")).alias("name"),
                     pick(OS_VERSIONS, F.col("os")).alias("version")).alias("os"),
            F.col("locale").alias("locale"),
            F.col("timezone").alias("timezone"),
            F.struct(pick([c.code for c in COUNTRIES], F.col("country")).alias("country"),
                     pick([c[0] for c in CITIES], F.col("city")).alias("city")).alias("location"),
            F.when(F.col("campaign").isNotNull(), F.struct(
                campaign_field(0).alias("source"), campaign_field(1).alias("medium"),
                campaign_field(2).alias("name"))).alias("campaign"),
            F.when(F.col("is_bot"), pick(BOT_USER_AGENTS, F.col("bot_agent")))
            .otherwise(pick(USER_AGENTS, F.col("os"))).alias("userAgent"),
            F.col("ip").alias("ip"),
            F.struct(pick([lib[0] for lib in LIBRARIES], F.col("new_library").cast("int")).alias("name"),
                     pick([lib[1] for lib in LIBRARIES], F.col("new_library").cast("int")).alias("version"),
                     ).alias("library"),
            # Schema drift: only the newer library sends the screen size.
            F.when(F.col("new_library"), F.struct(
                pick([w for w, _ in SCREENS], F.col("os")).alias("width"),
                pick([h for _, h in SCREENS], F.col("os")).alias("height"))).alias("screen"),
        )
        traits = F.when(kind == IDENTIFY, F.struct(
            F.col("email").alias("email"), F.col("first_name").alias("firstName"),
            F.col("last_name").alias("lastName")))

        logged_in = (F.col("identify_at") >= 0) & (k >= F.col("identify_at"))
        # Future-dated: days to years after the period, at the event's time of day.
        future_ms = (
            F.lit(ctx.calendar.end_epoch * 1000)
            + rng.below(1500, "future", *keys).cast("long") * DAY_MS
            + F.pmod(F.col("ts_ms"), F.lit(DAY_MS))
        )
        timestamp = F.when(dirt == FUTURE, utc_iso(future_ms)).when(
            F.col("utc_timestamps"), utc_iso(F.col("ts_ms"))
        ).otherwise(local_iso(F.col("ts_ms"), F.col("timezone")))
        resend_ms = F.when(
            (F.col("copy") == 1) & (rng.uniform("resend", *keys) < 0.5),
            rng.below(2 * 3_600_000, "resend/after", *keys) + 5_000,
        ).otherwise(F.lit(0))
        delay_ms = F.when(dirt == LATE, rng.below(8 * DAY_MS, "late", *keys) + 2 * DAY_MS).otherwise(
            rng.below(2_500, "sent", *keys) + 40
        )
        event = F.struct(
            F.when(is_page, F.lit("page")).when(kind == IDENTIFY, F.lit("identify"))
            .otherwise(F.lit("track")).alias("type"),
            pick(EVENT_NAMES, kind).alias("event"),
            F.col("message_id").alias("messageId"),
            F.when(logged_in & (dirt != MISSING_ID), F.col("customer_id")).alias("userId"),
            F.when(dirt != MISSING_ID, F.col("anonymous_id")).alias("anonymousId"),
            timestamp.alias("timestamp"),
            utc_iso(F.col("ts_ms") + delay_ms + resend_ms).alias("sentAt"),
            properties.alias("properties"),
            context.alias("context"),
            traits.alias("traits"),
        )
        return df.withColumn("value", F.to_json(event))

    return transform


def with_broken_text(ctx: GenContext) -> Transform:
    """Dirt on the serialised text: wrong JSON types, oversized values, broken syntax."""
    rng = ctx.rng

    def transform(df: DataFrame) -> DataFrame:
        keys = (F.col("vkey"), F.col("s"), F.col("k"))
        line = F.col("value")
        variant = rng.below(4, "dirt/variant", *keys)
        money_as_text = F.regexp_replace(line, '"(revenue|price)":([0-9.]+)', '"$1":"$2 €"')
        epoch_timestamp = F.regexp_replace(
            line, '"timestamp":"[^"]*"', F.concat(F.lit('"timestamp":'), F.floor(F.col("ts_ms") / 1000).cast("string"))
        )
        garbage_timestamp = F.regexp_replace(line, '"timestamp":"[^"]*"', '"timestamp":"Invalid Date"')
        oversized = F.regexp_replace(line, '"userAgent":"', '"userAgent":"' + "A" * OVERSIZED_LENGTH)
        wrong_type = (
            F.when((variant == 0) & F.col("kind").isin(*PRICED_KINDS, *ORDER_KINDS), money_as_text)
            .when(variant <= 1, epoch_timestamp)
            .when(variant == 2, garbage_timestamp)
            .otherwise(oversized)
        )
        cut = F.floor(F.length(line) * rng.between(0.2, 0.9, "truncate", *keys)).cast("int")
        malformed = (
            F.when(variant <= 1, line.substr(F.lit(1), cut))
            .when(variant == 2, F.regexp_replace(line, '^\\{"', "{"))
            .otherwise(F.lit(PROXY_ERROR))
        )
        dirt = F.col("dirt")
        return df.withColumn(
            "value", F.when(dirt == WRONG_TYPE, wrong_type).when(dirt == MALFORMED, malformed).otherwise(line)
        )

    return transform

