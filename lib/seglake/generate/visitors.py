"""One row per visitor of a chunk: customers (with persona and identity) and bots.

A visitor's `vkey` is its global number (customers first, then bots); every later draw is
keyed on it, so a visitor looks the same whichever chunk size is configured.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.generate.columns import Transform, per_group, pick
from seglake.generate.context import Chunk, GenContext
from seglake.generate.personas import BOT_GROUP, BOT_SESSIONS_MAX, GROUPS
from seglake.generate.vocab import (
    ACCENTED,
    CITY_OFFSETS,
    COUNTRIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    NAME_GROUPS,
    UNACCENTED,
)

# A login threshold no session rank reaches: bots never identify.
NEVER = 1 << 30


def chunk_visitors(spark: SparkSession, ctx: GenContext, chunk: Chunk, partitions: int) -> DataFrame:
    """Customers of the chunk plus its share of bots, with all per-visitor draws."""
    budget = ctx.budget
    customers = spark.range(chunk.first_customer, chunk.end_customer, 1, partitions).select(
        F.col("id").alias("vkey"), F.lit(False).alias("is_bot")
    )
    bots = spark.range(chunk.index, budget.bots, budget.chunks, 1).select(
        (F.col("id") + F.lit(budget.customers)).alias("vkey"), F.lit(True).alias("is_bot")
    )
    return customers.unionByName(bots).transform(with_visitor_traits(ctx))


def with_visitor_traits(ctx: GenContext) -> Transform:
    rng, tables, budget = ctx.rng, ctx.tables, ctx.budget

    def transform(df: DataFrame) -> DataFrame:
        vkey = F.col("vkey")
        persona = F.when(F.col("is_bot"), F.lit(BOT_GROUP)).otherwise(
            tables["persona"].choose(F.lit(0), rng.uniform("persona", vkey))
        )
        country = tables["country"].choose(F.lit(0), rng.uniform("country", vkey))
        df = df.withColumns({"persona": persona, "country": country})
        persona, country = F.col("persona"), F.col("country")

        city = per_group(CITY_OFFSETS, country).cast("int") + rng.below(
            per_group([len(c.cities) for c in COUNTRIES], country).cast("int"), "city", vkey
        )
        expected_sessions = F.lit(budget.session_scale) * rng.lognormal(
            per_group([p.sessions for p in GROUPS], persona), 0.35, "sessions", vkey
        )
        n_sessions = F.when(F.col("is_bot"), 1 + rng.below(BOT_SESSIONS_MAX, "sessions", vkey)).otherwise(
            rng.count(expected_sessions, "sessions/round", vkey)
        )
        years = ctx.calendar.days / 365.0
        store_orders = rng.count(
            rng.lognormal(per_group([p.store_orders_per_year * years for p in GROUPS], persona),
                          0.5, "store_orders", vkey),
            "store_orders/round", vkey,
        )
        two_devices = ~F.col("is_bot") & (
            rng.uniform("devices", vkey) < per_group([p.second_device for p in GROUPS], persona)
        )
        main_device = ctx.tables["device"].choose(persona, rng.uniform("device", vkey))
        churns = per_group([p.active_until for p in GROUPS], persona) < 1.0
        df = df.withColumns({
            "city": city,
            "customer_id": F.when(~F.col("is_bot"), F.format_string("C%08d", vkey + 1)),
            "n_sessions": n_sessions.cast("int"),
            "n_store_orders": F.when(F.col("is_bot"), F.lit(0)).otherwise(store_orders),
            "n_devices": F.when(two_devices, F.lit(2)).otherwise(F.lit(1)),
            "device_type0": main_device,
            # The second device is always of another kind than the main one.
            "device_type1": F.pmod(main_device + 1 + rng.below(2, "device2", vkey), F.lit(3)),
            # Churners stop at a personal point within their persona's active share.
            "period_share": F.when(churns, rng.between(0.6, 1.0, "churn", vkey)).otherwise(F.lit(1.0)),
            "timezone": pick([c.timezone for c in COUNTRIES], country),
            "locale": pick([c.locale for c in COUNTRIES], country),
            "currency": pick([c.currency for c in COUNTRIES], country),
            "fx": per_group([c.fx for c in COUNTRIES], country),
        })
        # Session ranks from which each device is logged in (see sessions.with_identity):
        # most customers log in on their main device at once, some only later, and the
        # second device often stays anonymous for a long time, so stitching is needed.
        n = F.col("n_sessions")
        return df.withColumns({
            "login_after0": F.when(F.col("is_bot"), F.lit(NEVER)).when(
                rng.uniform("login0", vkey) < 0.75, F.lit(0)
            ).otherwise(F.floor(n * rng.between(0.2, 0.9, "login0/at", vkey)).cast("int")),
            "login_after1": F.when(F.col("is_bot"), F.lit(NEVER)).otherwise(
                F.floor(n * rng.between(0.0, 1.3, "login1/at", vkey)).cast("int")
            ),
        }).transform(with_names(ctx))

    return transform


def with_names(ctx: GenContext) -> Transform:
    """First/last name, gender and a unique e-mail (customer number in the local part)."""
    rng = ctx.rng
    firsts = [name for g in NAME_GROUPS for name, _ in FIRST_NAMES[g]]
    genders = [gender for g in NAME_GROUPS for _, gender in FIRST_NAMES[g]]
    lasts = [name for g in NAME_GROUPS for name in LAST_NAMES[g]]
    per_list = len(FIRST_NAMES[NAME_GROUPS[0]])
    assert all(len(FIRST_NAMES[g]) == per_list == len(LAST_NAMES[g]) for g in NAME_GROUPS)

    def transform(df: DataFrame) -> DataFrame:
        vkey = F.col("vkey")
        group = per_group([NAME_GROUPS.index(c.names) for c in COUNTRIES], F.col("country")).cast("int")
        first_index = group * per_list + rng.below(per_list, "first", vkey)
        last_index = group * per_list + rng.below(per_list, "last", vkey)
        df = df.withColumns({
            "first_name": pick(firsts, first_index),
            "gender": pick(genders, first_index),
            "last_name": pick(lasts, last_index),
        })
        return df.withColumn(
            "email",
            email(F.col("first_name"), F.col("last_name"), vkey,
                  pick(EMAIL_DOMAINS, rng.below(len(EMAIL_DOMAINS), "domain", vkey))),
        )

    return transform


def email(first: Column, last: Column, vkey: Column, domain: Column) -> Column:
    def fold(name: Column) -> Column:
        return F.lower(F.regexp_replace(F.translate(name, ACCENTED, UNACCENTED), "[^A-Za-z]", ""))

    return F.format_string("%s.%s%d@%s", fold(first), fold(last), vkey + 1, domain)
