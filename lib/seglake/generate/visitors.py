"""One row per visitor of a chunk: customers (with persona and identity) and bots.

A visitor's `vkey` is its global number (customers first, then bots); every later draw is
keyed on it, so a visitor looks the same whichever chunk size is configured.
"""

from __future__ import annotations

import math

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
GOLDEN = (math.sqrt(5) - 1) / 2


def chunk_visitors(spark: SparkSession, ctx: GenContext, chunk: Chunk, traits: Transform) -> DataFrame:
    """Customers of the chunk plus its share of bots; `traits` is `visitor_traits(ctx)`."""
    budget, partitions = ctx.budget, ctx.cfg.files_per_chunk
    customers = spark.range(chunk.first_customer, chunk.end_customer, 1, partitions).select(
        F.col("id").alias("vkey"), F.lit(False).alias("is_bot")
    )
    bots = spark.range(chunk.index, budget.bots, budget.chunks, 1).select(
        (F.col("id") + F.lit(budget.customers)).alias("vkey"), F.lit(True).alias("is_bot")
    )
    return customers.unionByName(bots).transform(traits)


def visitor_traits(ctx: GenContext) -> Transform:
    """Per-visitor draws: persona, place, devices, activity level, login habits, names."""
    rng, tables, budget = ctx.rng, ctx.tables, ctx.budget
    vkey, is_bot = F.col("vkey"), F.col("is_bot")
    # Personas follow a golden-ratio (Weyl) sequence over customer numbers rather than
    # independent draws, so every chunk, even a small one, holds each persona at close to
    # its share; persona sizes drive the event total, which must land near the target.
    weyl = F.pmod(vkey.cast("double") * F.lit(GOLDEN) + F.lit((ctx.cfg.seed * GOLDEN * GOLDEN) % 1.0), F.lit(1.0))
    first = {
        "persona": F.when(is_bot, F.lit(BOT_GROUP)).otherwise(tables["persona"].choose(F.lit(0), weyl)),
        "country": tables["country"].choose(F.lit(0), rng.uniform("country", vkey)),
    }
    persona, country = F.col("persona"), F.col("country")
    n_cities = per_group([len(c.cities) for c in COUNTRIES], country).cast("int")
    expected_sessions = F.lit(budget.session_scale) * rng.lognormal(
        per_group([p.sessions for p in GROUPS], persona), 0.35, "sessions", vkey
    )
    years = ctx.calendar.days / 365.0
    store_orders = rng.count(
        rng.lognormal(per_group([p.store_orders_per_year * years for p in GROUPS], persona), 0.5, "store_orders", vkey),
        "store_orders/round",
        vkey,
    )
    two_devices = ~is_bot & (rng.uniform("devices", vkey) < per_group([p.second_device for p in GROUPS], persona))
    main_device = tables["device"].choose(persona, rng.uniform("device", vkey))
    churns = per_group([p.active_until for p in GROUPS], persona) < 1.0
    second = {
        "city": per_group(CITY_OFFSETS, country).cast("int") + rng.below(n_cities, "city", vkey),
        "customer_id": F.when(~is_bot, F.format_string("C%08d", vkey + 1)),
        "n_sessions": F.when(is_bot, 1 + rng.below(BOT_SESSIONS_MAX, "sessions", vkey))
        .otherwise(rng.count(expected_sessions, "sessions/round", vkey))
        .cast("int"),
        "n_store_orders": F.when(is_bot, F.lit(0)).otherwise(store_orders),
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
    }
    # Session ranks from which each device is logged in (see sessions.identity): most
    # customers log in on their main device at once, some only later, and the second
    # device often stays anonymous for a long time, so identity stitching is needed.
    n = F.col("n_sessions")
    third = {
        "login_after0": F.when(is_bot, F.lit(NEVER))
        .when(rng.uniform("login0", vkey) < 0.75, F.lit(0))
        .otherwise(F.floor(n * rng.between(0.2, 0.9, "login0/at", vkey)).cast("int")),
        "login_after1": F.when(is_bot, F.lit(NEVER)).otherwise(
            F.floor(n * rng.between(0.0, 1.3, "login1/at", vkey)).cast("int")
        ),
    }
    names = customer_names(ctx)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(first).withColumns(second).withColumns(third).transform(names)

    return transform


def customer_names(ctx: GenContext) -> Transform:
    """First/last name, gender and a unique e-mail (customer number in the local part)."""
    rng, vkey = ctx.rng, F.col("vkey")
    firsts = [name for g in NAME_GROUPS for name, _ in FIRST_NAMES[g]]
    genders = [gender for g in NAME_GROUPS for _, gender in FIRST_NAMES[g]]
    lasts = [name for g in NAME_GROUPS for name in LAST_NAMES[g]]
    per_list = len(FIRST_NAMES[NAME_GROUPS[0]])
    assert all(len(FIRST_NAMES[g]) == per_list == len(LAST_NAMES[g]) for g in NAME_GROUPS)
    group = per_group([NAME_GROUPS.index(c.names) for c in COUNTRIES], F.col("country")).cast("int")
    first_index = group * per_list + rng.below(per_list, "first", vkey)
    names = {
        "first_name": pick(firsts, first_index),
        "gender": pick(genders, first_index),
        "last_name": pick(lasts, group * per_list + rng.below(per_list, "last", vkey)),
    }
    domain = pick(EMAIL_DOMAINS, rng.below(len(EMAIL_DOMAINS), "domain", vkey))
    address = email(F.col("first_name"), F.col("last_name"), vkey, domain)

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(names).withColumn("email", address)

    return transform


def email(first: Column, last: Column, vkey: Column, domain: Column) -> Column:
    def fold(name: Column) -> Column:
        return F.lower(F.regexp_replace(F.translate(name, ACCENTED, UNACCENTED), "[^A-Za-z]", ""))

    return F.format_string("%s.%s%d@%s", fold(first), fold(last), vkey + 1, domain)
