"""CRM export: one row per customer, a later update for a few, and some broken rows.

The update rows (changed city, consent or e-mail with a later updated_at) exercise the
upsert logic downstream; broken rows are extra copies so no customer loses a profile.
"""

from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.generate.columns import DAY_MS, Transform, per_group, pick, utc_iso
from seglake.generate.context import GenContext
from seglake.generate.personas import GROUPS
from seglake.generate.visitors import email
from seglake.generate.vocab import CITIES, CITY_OFFSETS, COUNTRIES, EMAIL_DOMAINS, INCOME_BANDS

UPDATE_SHARE = 0.05
BASE, UPDATE, BROKEN = 0, 1, 2
PHONE_FORMATS = {
    "FR": "+33 6 %02d %02d %02d %02d",
    "BE": "+32 4%02d %02d %02d %02d",
    "GB": "+44 7%03d %03d%03d",
    "US": "+1 212-5%02d-%04d",
    "CA": "+1 514-5%02d-%04d",
    "DE": "+49 15%02d %07d",
    "ES": "+34 6%02d %03d %03d",
}


def profile_rows(ctx: GenContext) -> Transform:
    """Customers (bots excluded) -> CSV-ready profile rows with sort keys vkey, version."""
    rng, vkey = ctx.rng, F.col("vkey")
    versions = F.concat(
        F.array(F.lit(BASE)),
        F.when(rng.uniform("profile/update", vkey) < UPDATE_SHARE, F.array(F.lit(UPDATE))).otherwise(F.array()),
        F.when(rng.uniform("profile/broken", vkey) < ctx.cfg.dirty.malformed_json, F.array(F.lit(BROKEN))).otherwise(
            F.array()
        ),
    )
    steps = [profile_fields(ctx), updates(ctx), breakage(ctx)]

    def transform(visitors: DataFrame) -> DataFrame:
        rows = visitors.where(~F.col("is_bot")).select("*", F.explode(versions).alias("version"))
        for step in steps:
            rows = rows.transform(step)
        return rows

    return transform


def phone(ctx: GenContext, country: Column) -> Column:
    """A national-format mobile number; the format depends on the country."""
    out = F.lit(None).cast("string")
    for code, fmt in PHONE_FORMATS.items():
        widths = [int(w) for w in re.findall(r"%0(\d)d", fmt)]
        args = [ctx.rng.below(10**w, f"phone/{i}", F.col("vkey")) for i, w in enumerate(widths)]
        out = F.when(country == code, F.format_string(fmt, *args)).otherwise(out)
    return out


def profile_fields(ctx: GenContext) -> Transform:
    """PII and CRM attributes; some left empty, as real CRM exports do."""
    rng, cal = ctx.rng, ctx.calendar
    vkey, persona = F.col("vkey"), F.col("persona")
    country = pick([c.code for c in COUNTRIES], F.col("country"))
    age = per_group([p.age[0] for p in GROUPS], persona) + rng.uniform("age", vkey) * (
        per_group([p.age[1] - p.age[0] for p in GROUPS], persona)
    )
    birth = F.date_sub(F.lit(cal.start.isoformat()).cast("date"), F.floor(age * 365.25).cast("int"))
    household = per_group([p.household[0] for p in GROUPS], persona).cast("int") + rng.below(
        per_group([p.household[1] - p.household[0] + 1 for p in GROUPS], persona).cast("int"), "household", vkey
    )

    def sometimes(value: Column, salt: str, missing: float) -> Column:
        return F.when(rng.uniform(salt, vkey) >= missing, value)

    fields = {
        "country_code": country,
        "phone": sometimes(phone(ctx, country), "missing/phone", 0.12),
        "birth_date": sometimes(F.date_format(birth, "yyyy-MM-dd"), "missing/birth", 0.08),
        "gender": sometimes(F.col("gender"), "missing/gender", 0.1),
        "income_band": sometimes(
            pick(INCOME_BANDS, ctx.tables["income"].choose(persona, rng.uniform("income", vkey))),
            "missing/income",
            0.15,
        ),
        "household_size": household.cast("string"),
        "consent_marketing": rng.uniform("consent/marketing", vkey)
        < per_group([p.consent_marketing for p in GROUPS], persona),
        "consent_profiling": rng.uniform("consent/profiling", vkey) < 0.6,
        # Exported before the period starts; updates come later (see updates()).
        "updated_ms": F.lit(cal.start_epoch * 1000) - rng.below(720 * DAY_MS, "profile/exported", vkey) - DAY_MS,
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(fields)

    return transform


def updates(ctx: GenContext) -> Transform:
    """Update rows: a move to another city, a consent change, or a new e-mail."""
    rng, cal = ctx.rng, ctx.calendar
    vkey = F.col("vkey")
    is_update = F.col("version") == UPDATE
    change = rng.below(3, "profile/change", vkey)
    n_cities = per_group([len(c.cities) for c in COUNTRIES], F.col("country")).cast("int")
    offset = per_group(CITY_OFFSETS, F.col("country")).cast("int")
    moved_city = offset + F.pmod(F.col("city") - offset + 1 + rng.below(n_cities - 1, "profile/move", vkey), n_cities)
    new_domain = pick(EMAIL_DOMAINS, rng.below(len(EMAIL_DOMAINS), "profile/domain", vkey))
    updated_ms = F.lit(cal.start_epoch * 1000) + rng.below(cal.days * DAY_MS, "profile/updated", vkey)
    changed = {
        "city": F.when(is_update & (change == 0), moved_city).otherwise(F.col("city")),
        "consent_marketing": F.when(is_update & (change == 1), ~F.col("consent_marketing")).otherwise(
            F.col("consent_marketing")
        ),
        "email": F.when(
            is_update & (change == 2), email(F.col("first_name"), F.col("last_name"), vkey, new_domain)
        ).otherwise(F.col("email")),
        "updated_ms": F.when(is_update, updated_ms).otherwise(F.col("updated_ms")),
    }

    def transform(df: DataFrame) -> DataFrame:
        return df.withColumns(changed)

    return transform


def breakage(ctx: GenContext) -> Transform:
    """Broken copies: no customer id, an unparseable birth date, or a non-numeric size;
    then the CSV columns (plus sort keys vkey, version)."""
    rng, vkey = ctx.rng, F.col("vkey")
    variant = F.when(F.col("version") == BROKEN, rng.below(3, "profile/broken/variant", vkey))
    bad_date = pick(["31/02/1990", "1985-13-45", "unknown"], rng.below(3, "profile/bad_date", vkey))
    columns = [
        "vkey",
        "version",
        F.when(variant == 0, F.lit(None)).otherwise(F.col("customer_id")).alias("customer_id"),
        "email",
        "first_name",
        "last_name",
        "phone",
        F.when(variant == 1, bad_date).otherwise(F.col("birth_date")).alias("birth_date"),
        "gender",
        pick([c[0] for c in CITIES], F.col("city")).alias("city"),
        pick([c[1] for c in CITIES], F.col("city")).alias("postal_code"),
        F.col("country_code").alias("country"),
        "income_band",
        F.when(variant == 2, F.lit("two")).otherwise(F.col("household_size")).alias("household_size"),
        F.col("consent_marketing").cast("string").alias("consent_marketing"),
        F.col("consent_profiling").cast("string").alias("consent_profiling"),
        utc_iso(F.col("updated_ms"), millis=False).alias("updated_at"),
    ]

    def transform(df: DataFrame) -> DataFrame:
        return df.select(*columns)

    return transform
