"""Session rows -> Segment-spec JSON lines, including the dirty ones.

Lines are serialised with to_json over one wide struct whose irrelevant fields are null
(to_json drops null fields, so each event shows only its own properties). Dirt that a
typed struct cannot express — wrong JSON types, broken syntax — is applied to the text.
"""

from __future__ import annotations

import itertools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.generate.columns import DAY_MS, Transform, local_iso, pick, utc_iso, uuid_like
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

CLEAN, MALFORMED, WRONG_TYPE, LATE, FUTURE, MISSING_ID = range(6)
PRODUCT_KINDS = (VIEWED, ADDED, REMOVED, VIDEO_STARTED, VIDEO_COMPLETED, SCROLLED)
PRICED_KINDS = (VIEWED, ADDED, REMOVED)
ORDER_KINDS = (CHECKOUT, ORDERED)
PROXY_ERROR = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
# Above the 4 x 4096 characters a record may have before ingestion calls it oversized.
OVERSIZED_LENGTH = 20_000


def event_lines(ctx: GenContext) -> Transform:
    """Sessions -> (ts_ms, message_id, copy, value) rows, one per output line."""
    steps = [event_basics(ctx), products(ctx), pages(ctx), dirt(ctx), serialised(ctx), broken_text(ctx)]

    def transform(sessions: DataFrame) -> DataFrame:
        df = sessions.select("*", F.posexplode("kinds").alias("k", "kind"))
        for step in steps:
            df = df.transform(step)
        return df.select("ts_ms", "message_id", "copy", "value")

    return transform


def event_basics(ctx: GenContext) -> Transform:
    k = F.col("k")
    basics = {
        "prev_kind": F.when(k > 0, F.element_at(F.col("kinds"), k)),
        "ts_ms": F.col("start_ms") + F.element_at(F.col("offsets_ms"), k + 1),
        "message_id": uuid_like(F.lit(ctx.cfg.seed), F.col("vkey"), F.col("s"), k),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(basics)

    return transform


def products(ctx: GenContext) -> Transform:
    """Product, price and search query of the event, and of the previous one (referrer)."""
    k = F.col("k")
    numbers = {
        "category": category_at(ctx, k),
        "number": product_number_at(ctx, k),
        "prev_category": category_at(ctx, k - 1),
        "prev_number": product_number_at(ctx, k - 1),
    }
    derived = {
        "product_id": product_id(F.col("category"), F.col("number")),
        "price": product_price(ctx, F.col("category"), F.col("number")),
        "query": search_query(ctx, F.col("category"), k),
        "prev_product_id": product_id(F.col("prev_category"), F.col("prev_number")),
        "prev_query": search_query(ctx, F.col("prev_category"), k - 1),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(numbers).withColumns(derived)

    return transform


def search_query(ctx: GenContext, category: Column, k: Column) -> Column:
    queries = [q for c in CATEGORIES for q in c.queries]
    return pick(queries, category * 3 + ctx.rng.below(3, "query", F.col("vkey"), F.col("s"), k))


def page_path(ctx: GenContext, k: Column, kind: Column, category: Column, product: Column, query: Column) -> Column:
    """URL path of the page the event at position k happens on; applied to k and k - 1
    (the referrer), so it only depends on (vkey, s, k) and that event's attributes."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"), k)
    page_choice = rng.below(4, "page", *keys)
    browsing_page = (
        F.when((k == 0) & F.col("campaign").isNotNull(), F.lit("/promotions"))
        .when(page_choice == 0, F.lit("/"))
        .when(page_choice < 3, F.concat(F.lit("/c/"), pick([c.name for c in CATEGORIES], category)))
        .otherwise(pick(CONTENT_PAGES, rng.below(len(CONTENT_PAGES), "content", *keys)))
    )
    return (
        F.when(kind == PAGE, browsing_page)
        .when(kind == SEARCHED, F.concat(F.lit("/search?q="), F.url_encode(query)))
        .when(kind == REMOVED, F.lit("/cart"))
        .when(kind == CHECKOUT, F.lit("/checkout"))
        .when(kind == ORDERED, F.lit("/checkout/confirmation"))
        .when(kind == IDENTIFY, F.lit("/login"))
        .otherwise(F.concat(F.lit("/p/"), product))
    )


def page_title(path: Column) -> Column:
    return (
        F.when(path == "/", F.lit("Home | Shop"))
        .when(path.startswith("/c/"), F.concat(F.initcap(F.substring(path, 4, 40)), F.lit(" | Shop")))
        .when(path.startswith("/p/"), F.concat(F.lit("Product "), F.substring(path, 4, 20), F.lit(" | Shop")))
        .when(path.startswith("/search"), F.lit("Search | Shop"))
        .otherwise(F.concat(F.initcap(F.regexp_replace(F.substring_index(path, "/", -1), "-", " ")), F.lit(" | Shop")))
    )


def campaign_field(i: int) -> Column:
    return pick([c[i] for c in CAMPAIGNS], F.col("campaign"))


def pages(ctx: GenContext) -> Transform:
    """Page context: path, URL (with UTM parameters on a campaign's landing page), title
    and referrer (the previous event's page, or where the visit came from)."""
    rng = ctx.rng
    k = F.col("k")
    keys = (F.col("vkey"), F.col("s"), k)
    paths = {
        "path": page_path(ctx, k, F.col("kind"), F.col("category"), F.col("product_id"), F.col("query")),
        "prev_path": page_path(
            ctx, k - 1, F.col("prev_kind"), F.col("prev_category"), F.col("prev_product_id"), F.col("prev_query")
        ),
    }
    utm = F.format_string(
        "?utm_source=%s&utm_medium=%s&utm_campaign=%s", campaign_field(0), campaign_field(1), campaign_field(2)
    )
    entry_referrer = F.when(F.col("campaign").isNotNull(), campaign_field(3)).when(
        rng.uniform("referrer", *keys) < 0.6,
        pick(ORGANIC_REFERRERS, rng.below(len(ORGANIC_REFERRERS), "referrer/which", *keys)),
    )
    details = {
        "url": F.concat(
            F.lit(SITE), F.col("path"), F.when((k == 0) & F.col("campaign").isNotNull(), utm).otherwise(F.lit(""))
        ),
        "referrer": F.when(k == 0, entry_referrer).otherwise(F.concat(F.lit(SITE), F.col("prev_path"))),
        "title": page_title(F.col("path")),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(paths).withColumns(details)

    return transform


def dirt(ctx: GenContext) -> Transform:
    """Pick each event's kind of dirt (rates are shares of lines) and explode duplicates."""
    rates, rng = ctx.cfg.dirty, ctx.rng
    keys = (F.col("vkey"), F.col("s"), F.col("k"))
    u = rng.uniform("dirt", *keys)
    bounds = list(
        itertools.accumulate([rates.malformed_json, rates.wrong_type, rates.late, rates.future, rates.missing_id])
    )
    kind_of_dirt = F.lit(CLEAN)
    for code, bound in reversed(list(zip((MALFORMED, WRONG_TYPE, LATE, FUTURE, MISSING_ID), bounds, strict=True))):
        kind_of_dirt = F.when(u < bound, F.lit(code)).otherwise(kind_of_dirt)
    copies = F.when(rng.uniform("duplicate", *keys) < rates.duplicate, F.array(F.lit(0), F.lit(1))).otherwise(
        F.array(F.lit(0))
    )

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("dirt", kind_of_dirt).select("*", F.explode(copies).alias("copy"))

    return transform


def serialised(ctx: GenContext) -> Transform:
    """The Segment record as one JSON line in `value`."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"), F.col("k"))
    kind, k, dirt_kind = F.col("kind"), F.col("k"), F.col("dirt")
    is_page = kind == PAGE
    in_order = kind.isin(*ORDER_KINDS)
    is_video = kind.isin(VIDEO_STARTED, VIDEO_COMPLETED)
    is_product = kind.isin(*PRODUCT_KINDS)
    path = F.col("path")

    properties = F.when(
        kind != IDENTIFY,
        F.struct(
            F.when(is_page, path).alias("path"),
            F.when(is_page, F.col("url")).alias("url"),
            F.when(is_page, F.col("title")).alias("title"),
            F.when(is_page, F.col("referrer")).alias("referrer"),
            F.when(is_product, pick([c.name for c in CATEGORIES], F.col("category")))
            .when(is_page & path.startswith("/c/"), F.substring(path, 4, 40))
            .alias("category"),
            F.when(is_product, F.col("product_id")).alias("product_id"),
            F.when(kind.isin(*PRICED_KINDS), F.col("price")).alias("price"),
            F.when(kind.isin(ADDED, REMOVED), F.lit(1)).alias("quantity"),
            F.when(kind == SEARCHED, F.col("query")).alias("query"),
            F.when(
                kind == SCROLLED,
                pick(SCROLL_DEPTHS, ctx.tables["scroll"].choose(F.col("persona"), rng.uniform("depth", *keys))),
            ).alias("depth"),
            F.when(is_video, F.concat(F.lit("VID-"), F.col("product_id"))).alias("video_id"),
            F.when(is_video, 30 + rng.below(210, "video_length", F.col("product_id"))).alias("video_length"),
            F.when(in_order, F.col("order_id")).alias("order_id"),
            F.when(in_order, F.col("revenue")).alias("revenue"),
            F.when(in_order, F.col("currency")).alias("currency"),
            F.when(in_order, F.col("items")).alias("products"),
        ),
    )
    library = F.col("new_library").cast("int")
    context = F.struct(
        F.struct(
            path.alias("path"),
            F.col("referrer").alias("referrer"),
            F.col("title").alias("title"),
            F.col("url").alias("url"),
        ).alias("page"),
        F.struct(
            pick(DEVICE_TYPES, F.col("device_type")).alias("type"), pick(DEVICE_MODELS, F.col("os")).alias("model")
        ).alias("device"),
        F.struct(pick(OS_NAMES, F.col("os")).alias("name"), pick(OS_VERSIONS, F.col("os")).alias("version")).alias(
            "os"
        ),
        F.col("locale").alias("locale"),
        F.col("timezone").alias("timezone"),
        F.struct(
            pick([c.code for c in COUNTRIES], F.col("country")).alias("country"),
            pick([c[0] for c in CITIES], F.col("city")).alias("city"),
        ).alias("location"),
        F.when(
            F.col("campaign").isNotNull(),
            F.struct(
                campaign_field(0).alias("source"), campaign_field(1).alias("medium"), campaign_field(2).alias("name")
            ),
        ).alias("campaign"),
        F.when(F.col("is_bot"), pick(BOT_USER_AGENTS, F.col("bot_agent")))
        .otherwise(pick(USER_AGENTS, F.col("os")))
        .alias("userAgent"),
        F.col("ip").alias("ip"),
        F.struct(
            pick([lib[0] for lib in LIBRARIES], library).alias("name"),
            pick([lib[1] for lib in LIBRARIES], library).alias("version"),
        ).alias("library"),
        # Schema drift: only the newer library sends the screen size.
        F.when(
            F.col("new_library"),
            F.struct(
                pick([w for w, _ in SCREENS], F.col("os")).alias("width"),
                pick([h for _, h in SCREENS], F.col("os")).alias("height"),
            ),
        ).alias("screen"),
    )
    traits = F.when(
        kind == IDENTIFY,
        F.struct(
            F.col("email").alias("email"), F.col("first_name").alias("firstName"), F.col("last_name").alias("lastName")
        ),
    )

    logged_in = (F.col("user_from") >= 0) & (k >= F.col("user_from"))
    # Future-dated (a device clock gone wrong): 2 to 10 years after the period, far enough
    # to be in the future whenever the data is ingested, at the event's time of day.
    future_ms = (
        F.lit(ctx.calendar.end_epoch * 1000)
        + (rng.below(8 * 365, "future", *keys) + 2 * 365).cast("long") * DAY_MS
        + F.pmod(F.col("ts_ms"), F.lit(DAY_MS))
    )
    timestamp = (
        F.when(dirt_kind == FUTURE, utc_iso(future_ms))
        .when(F.col("utc_timestamps"), utc_iso(F.col("ts_ms")))
        .otherwise(local_iso(F.col("ts_ms"), F.col("timezone")))
    )
    resend_ms = F.when(
        (F.col("copy") == 1) & (rng.uniform("resend", *keys) < 0.5),
        rng.below(2 * 3_600_000, "resend/after", *keys) + 5_000,
    ).otherwise(F.lit(0))
    delay_ms = F.when(dirt_kind == LATE, rng.below(8 * DAY_MS, "late", *keys) + 2 * DAY_MS).otherwise(
        rng.below(2_500, "sent", *keys) + 40
    )
    event = F.struct(
        F.when(is_page, F.lit("page"))
        .when(kind == IDENTIFY, F.lit("identify"))
        .otherwise(F.lit("track"))
        .alias("type"),
        pick(EVENT_NAMES, kind).alias("event"),
        F.col("message_id").alias("messageId"),
        F.when(logged_in & (dirt_kind != MISSING_ID), F.col("customer_id")).alias("userId"),
        F.when(dirt_kind != MISSING_ID, F.col("anonymous_id")).alias("anonymousId"),
        timestamp.alias("timestamp"),
        utc_iso(F.col("ts_ms") + delay_ms + resend_ms).alias("sentAt"),
        properties.alias("properties"),
        context.alias("context"),
        traits.alias("traits"),
    )
    value = F.to_json(event)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("value", value)

    return transform


def broken_text(ctx: GenContext) -> Transform:
    """Dirt on the serialised text: wrong JSON types, oversized values, broken syntax."""
    rng = ctx.rng
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
    dirt_kind = F.col("dirt")
    value = F.when(dirt_kind == WRONG_TYPE, wrong_type).when(dirt_kind == MALFORMED, malformed).otherwise(line)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("value", value)

    return transform
