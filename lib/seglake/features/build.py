"""silver -> gold.customer_features for one snapshot date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from seglake.catalog import (
    GOLD_CUSTOMER_FEATURES,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_PROFILES,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import SeglakeConfig
from seglake.errors import ConfigError, InputError
from seglake.features.customer import customer_features


@dataclass(frozen=True)
class FeatureResult:
    as_of: date
    customers: int


def resolve_as_of(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, as_of: str | None) -> date:
    """The snapshot date asked for, else the configured one, else the day after the
    newest silver event (one aggregate value, read from the table)."""
    text = as_of or cfg.features.as_of
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"as_of '{text}' is not a date; use YYYY-MM-DD") from None
    catalog.require(spark, (SILVER_EVENTS,), "silver")
    newest = catalog.read(spark, SILVER_EVENTS).select(F.max("event_date")).first()[0]
    if newest is None:
        raise InputError("silver.events is empty; nothing to compute features from")
    return newest + timedelta(days=1)


def build_features(spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, as_of: date) -> FeatureResult:
    catalog.require(spark, (SILVER_ORDERS, SILVER_SESSIONS, SILVER_PROFILES), "silver")
    features = customer_features(
        catalog.read(spark, SILVER_ORDERS),
        catalog.read(spark, SILVER_SESSIONS),
        catalog.read(spark, SILVER_PROFILES),
        as_of,
        sorted(cfg.features.windows_days),
    )
    catalog.replace_where(features, GOLD_CUSTOMER_FEATURES, f"as_of = '{as_of.isoformat()}'")
    return FeatureResult(as_of, catalog.last_commit_rows(spark, GOLD_CUSTOMER_FEATURES))
