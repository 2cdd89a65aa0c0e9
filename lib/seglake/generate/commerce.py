"""Order-system transactions and product reviews.

Online orders are the purchase sessions themselves (same order id, customer, amount and
the Order Completed event's time), so the two sources reconcile exactly; store orders
exist only in the order system.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.generate.columns import DAY_MS, Transform, per_group, pick, utc_iso
from seglake.generate.context import GenContext
from seglake.generate.personas import GROUPS, PURCHASE
from seglake.generate.products import category_at, product_id, product_number_at
from seglake.generate.vocab import COUNTRIES, REVIEW_BODIES, REVIEW_CLOSERS, REVIEW_LANGUAGES

# The company's own column names; conf/ maps them onto the canonical ones.
TRANSACTION_COLUMNS = (
    "order_ref",
    "client_id",
    "order_timestamp",
    "total_amount",
    "currency",
    "channel",
    "item_count",
    "store_id",
)
STORE_OPENING_HOUR, STORE_HOURS = 10, 9
STORE_BASKET_FACTOR = 0.8


def order_time_ms() -> Column:
    """Time of a purchase session's last event, its Order Completed."""
    return F.col("start_ms") + F.element_at(F.col("offsets_ms"), F.col("n_events"))


def transaction_rows(ctx: GenContext) -> Callable[[DataFrame, DataFrame], DataFrame]:
    """(sessions, visitors) -> online and store orders plus defective copies, with the
    sort keys ts_ms and copy besides TRANSACTION_COLUMNS."""
    channel_draw = ctx.rng.uniform("channel", F.col("vkey"), F.col("s"))
    online_columns = [
        order_time_ms().alias("ts_ms"),
        F.col("order_id").alias("order_ref"),
        F.col("customer_id").alias("client_id"),
        F.col("revenue").cast("string").alias("total_amount"),
        F.col("currency"),
        F.when((F.col("device_type") == 1) & (channel_draw < 0.6), F.lit("app"))
        .when((F.col("device_type") == 2) & (channel_draw < 0.3), F.lit("app"))
        .otherwise(F.lit("web"))
        .alias("channel"),
        F.col("items").alias("item_count"),
        F.lit(None).cast("string").alias("store_id"),
    ]
    in_store = store_orders(ctx)
    defects = defective_copies(ctx)

    def transform(sessions: DataFrame, visitors: DataFrame) -> DataFrame:
        online = sessions.where(F.col("outcome") == PURCHASE).select(*online_columns)
        return online.unionByName(in_store(visitors)).transform(defects)

    return transform


def store_orders(ctx: GenContext) -> Transform:
    """Visitors -> their in-store orders (opening hours, local time, a store in their city)."""
    rng, cal = ctx.rng, ctx.calendar
    keys = (F.col("vkey"), F.col("j"))
    persona = F.col("persona")
    day = cal.day_table.choose(persona, rng.uniform("store/day", *keys) * F.col("period_share"))
    second_of_day = (STORE_OPENING_HOUR + rng.below(STORE_HOURS, "store/hour", *keys)) * 3600 + rng.below(
        3600, "store/second", *keys
    )
    wall = F.timestamp_seconds(F.lit(cal.start_epoch) + day * 86_400 + second_of_day)
    amount = rng.lognormal(
        per_group([p.order_value_eur * STORE_BASKET_FACTOR for p in GROUPS], persona) * F.col("fx"),
        0.5,
        "store/amount",
        *keys,
    )
    items = 1 + rng.count(
        rng.lognormal(per_group([max(p.items - 1, 0) for p in GROUPS], persona), 0.6, "store/items", *keys),
        "store/items/round",
        *keys,
    )
    columns = [
        F.unix_millis(F.to_utc_timestamp(wall, F.col("timezone"))).alias("ts_ms"),
        F.format_string("POS-%08d-%03d", F.col("vkey") + 1, F.col("j")).alias("order_ref"),
        F.col("customer_id").alias("client_id"),
        F.greatest(F.round(amount, 2), F.lit(1.0)).cast("decimal(12,2)").cast("string").alias("total_amount"),
        F.col("currency"),
        F.lit("store").alias("channel"),
        items.alias("item_count"),
        F.format_string("ST%03d", F.col("city") * 2 + rng.below(2, "store/id", *keys) + 1).alias("store_id"),
    ]

    def transform(visitors: DataFrame) -> DataFrame:
        orders = visitors.select("*", F.explode(F.sequence(F.lit(0), F.col("n_store_orders"))).alias("j")).where(
            F.col("j") < F.col("n_store_orders")
        )
        return orders.select(*columns)

    return transform


def defective_copies(ctx: GenContext) -> Transform:
    """Add a broken re-export of some rows (bad amount, bad date or no customer).

    The clean row stays, so ingestion can quarantine the copy and still count every order.
    """
    rng, rate = ctx.rng, ctx.cfg.dirty.malformed_json
    ref = F.col("order_ref")
    copies = F.when(rng.uniform("tx/defect", ref) < rate, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))
    variant = F.when(F.col("copy") == 1, rng.below(3, "tx/defect/variant", ref)).otherwise(F.lit(-1))
    bad_amount = F.when(rng.uniform("tx/amount", ref) < 0.5, F.lit("N/A")).otherwise(
        F.concat(F.regexp_replace(F.col("total_amount"), "\\.", ","), F.lit(" €"))
    )
    bad_date = F.date_format(F.timestamp_millis(F.col("ts_ms")), "dd/MM/yyyy HH'h'mm")
    broken = {
        "total_amount": F.when(variant == 0, bad_amount).otherwise(F.col("total_amount")),
        "order_timestamp": F.when(variant == 1, bad_date).otherwise(utc_iso(F.col("ts_ms"), millis=False)),
        "client_id": F.when(variant == 2, F.lit(None).cast("string")).otherwise(F.col("client_id")),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.select("*", F.explode(copies).alias("copy")).withColumns(broken)

    return transform


def review_rows(ctx: GenContext) -> Transform:
    """Sessions -> reviews of a share of online orders: sort keys ts_ms, review_id and a
    JSON `value`."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"))
    persona = F.col("persona")
    reviewed = (F.col("outcome") == PURCHASE) & (
        rng.uniform("review", *keys) < per_group([p.review for p in GROUPS], persona)
    )
    french = rng.uniform("language", *keys) < per_group([c.french_reviews for c in COUNTRIES], F.col("country"))
    added = F.col("added_at")
    attributes = {
        "ts_ms": order_time_ms() + rng.below(20 * DAY_MS, "review/delay", *keys) + DAY_MS,
        "rating": 1 + ctx.tables["rating"].choose(persona, rng.uniform("rating", *keys)),
        "language": F.when(french, F.lit(0)).otherwise(F.lit(1)),
        "product_id": product_id(category_at(ctx, added), product_number_at(ctx, added)),
        "review_id": F.format_string("RV-%08d-%04d", F.col("vkey") + 1, F.col("s")),
    }
    text = review_text(ctx, F.col("language"), F.col("rating"))
    oversized = rng.uniform("review/oversized", *keys) < ctx.cfg.dirty.malformed_json
    review = F.struct(
        F.col("review_id"),
        F.col("customer_id"),
        F.col("product_id"),
        utc_iso(F.col("ts_ms"), millis=False).alias("timestamp"),
        F.col("rating"),
        # A few pasted walls of text: the "huge strings" ingestion must cap.
        F.when(oversized, F.repeat(F.concat(text, F.lit(" ")), 250)).otherwise(text).alias("text"),
        pick(REVIEW_LANGUAGES, F.col("language")).alias("language"),
    )

    def transform(sessions: DataFrame) -> DataFrame:
        reviews = sessions.where(reviewed).withColumns(attributes)
        return reviews.select("ts_ms", "review_id", F.to_json(review).alias("value"))

    return transform


def review_text(ctx: GenContext, language: Column, rating: Column) -> Column:
    """Two distinct body phrases and sometimes a closer, all of the rating's sentiment."""
    rng = ctx.rng
    keys = (F.col("vkey"), F.col("s"))
    blocks = [(lang, sentiment) for lang in REVIEW_LANGUAGES for sentiment in range(3)]
    bodies = [phrase for b in blocks for phrase in REVIEW_BODIES[b]]
    closers = [phrase for b in blocks for phrase in REVIEW_CLOSERS[b]]
    n_bodies, n_closers = len(REVIEW_BODIES[blocks[0]]), len(REVIEW_CLOSERS[blocks[0]])
    assert all(len(REVIEW_BODIES[b]) == n_bodies and len(REVIEW_CLOSERS[b]) == n_closers for b in blocks)
    sentiment = F.when(rating >= 4, F.lit(2)).when(rating == 3, F.lit(1)).otherwise(F.lit(0))
    block = language * 3 + sentiment
    first = rng.below(n_bodies, "review/first", *keys)
    second = F.pmod(first + 1 + rng.below(n_bodies - 1, "review/second", *keys), F.lit(n_bodies))
    closer = F.when(
        rng.uniform("review/closer", *keys) < 0.6,
        pick(closers, block * n_closers + rng.below(n_closers, "review/closer/which", *keys)),
    )
    return F.concat_ws(" ", pick(bodies, block * n_bodies + first), pick(bodies, block * n_bodies + second), closer)
