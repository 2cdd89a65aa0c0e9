"""Profiles as they were at as_of, and the demographic family (only with profiling
consent)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglake.config.schema import FeaturesConfig
from seglake.features.common import midnight


def profiles_as_of(profiles: DataFrame, as_of: date) -> DataFrame:
    """The version of each customer's profile in force at as_of: the latest with
    updated_at before it. Works on a history table (one row per version) and on a
    latest-only table alike (a profile first recorded after as_of is not known yet)."""
    known = profiles.where(F.col("updated_at") < F.lit(midnight(as_of)))
    latest_first = Window.partitionBy("customer_id").orderBy(F.col("updated_at").desc())
    return (
        known.withColumn("_version", F.row_number().over(latest_first)).where(F.col("_version") == 1).drop("_version")
    )


def age_band(age: Column, bounds: list[int]) -> Column:
    """'under_18', '18-24', ..., '65+' from the lower bounds of the bands."""
    bounds = sorted(bounds)
    band = F.when(age < bounds[0], F.lit(f"under_{bounds[0]}"))
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        band = band.when(age < hi, F.lit(f"{lo}-{hi - 1}"))
    return band.when(age >= bounds[-1], F.lit(f"{bounds[-1]}+"))


def profile_features(profiles: DataFrame, as_of: date, cfg: FeaturesConfig) -> DataFrame:
    """Consent flags and country for everyone; demographics only where the profile in
    force at as_of allows profiling (otherwise null: not known to us, by design)."""
    consented = F.coalesce(F.col("consent_profiling"), F.lit(False))
    age = F.floor(F.months_between(F.lit(as_of), F.col("birth_date")) / 12)
    size = F.col("household_size")
    household = F.when(size == 1, "single").when(size == 2, "couple").when(size >= 3, "family")
    return profiles.select(
        "customer_id",
        "city",
        "postal_code",
        "country",
        consented.alias("consent_profiling"),
        F.coalesce(F.col("consent_marketing"), F.lit(False)).alias("consent_marketing"),
        F.when(consented, age_band(age, cfg.age_bands)).alias("age_band"),
        F.when(consented, F.col("gender")).alias("gender"),
        F.when(consented, F.col("income_band")).alias("income_band"),
        F.when(consented, size).alias("household_size"),
        F.when(consented, household).alias("household_type"),
    )
