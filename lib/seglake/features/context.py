"""Contextual family: devices and OS, time-of-day and weekday profile, seasons and
calendar events, acquisition channel, and geography (region, urban/rural) from a small
reference table."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.config.schema import FeaturesConfig
from seglake.errors import ConfigError
from seglake.features.common import (
    Aggregation,
    argmax_label,
    count_if,
    in_period,
    iso_weekday,
    label_index,
    ratio,
    since,
    slug,
)
from seglake.features.tiles import TiledAggregation
from seglake.frames import local_frame

EVENING_HOURS = (18, 23)
# Channels of a first visit without a configured utm_medium, after the configured ones.
FALLBACK_CHANNELS = ("organic_search", "referral", "direct")
# The first session's channel is found as min(start seconds * CHANNEL_SLOTS + channel
# index): a numeric aggregate, so the per-customer aggregation stays a hash aggregation.
CHANNEL_SLOTS = 64
REGIONS_RESOURCE = "regions.csv"


def channel_labels(cfg: FeaturesConfig) -> list[str]:
    labels = list(cfg.channels) + [c for c in FALLBACK_CHANNELS if c not in cfg.channels]
    if len(labels) > CHANNEL_SLOTS:
        raise ConfigError(f"features.channels: at most {CHANNEL_SLOTS - len(FALLBACK_CHANNELS)} channels")
    return labels


def _channel_index(cfg: FeaturesConfig) -> Column:
    labels = channel_labels(cfg)
    medium = F.lower(F.col("utm_medium"))
    referrer = F.lower(F.coalesce(F.col("referrer"), F.lit("")))
    search = F.lit(False)
    for fragment in cfg.search_referrers:
        search = search | referrer.contains(fragment.lower())
    index = F.when(referrer != "", labels.index("referral")).otherwise(labels.index("direct"))
    index = F.when(search, labels.index("organic_search")).otherwise(index)
    for name in reversed(list(cfg.channels)):
        values = [v.lower() for v in cfg.channels[name]]
        index = F.when(medium.isin(*values), labels.index(name)).otherwise(index)
    return index


def session_aggregation(tiled: TiledAggregation, cfg: FeaturesConfig) -> Aggregation:
    """From human sessions that ended before as_of, tiled by their start; local time is
    the device's clock."""
    start = F.col("session_start")
    local = F.coalesce(F.col("local_start"), start)
    hour = F.hour(local)
    profile = tiled.within(cfg.profile_window_days)
    aggs: list[Column] = [
        tiled.min("start", start).alias("_first_visit_ts"),
        tiled.min("channel_key", F.unix_seconds(start) * CHANNEL_SLOTS + _channel_index(cfg)).alias(
            "_first_channel_key"
        ),
        tiled.count("sessions", span=profile).alias("_sessions_profile"),
    ]
    derived: list[Column] = [
        F.datediff(F.lit(tiled.as_of), F.to_date("_first_visit_ts")).alias("first_visit_days_ago"),
        F.element_at(
            F.array(*[F.lit(c) for c in channel_labels(cfg)]),
            (F.col("_first_channel_key") % CHANNEL_SLOTS + 1).cast("int"),
        ).alias("acquisition_channel"),
    ]
    for w in sorted(set(cfg.windows_days)):
        inside = tiled.within(w)
        flags = {
            "mobile_share": F.col("device_type") == "mobile",
            "evening_share": hour.between(*EVENING_HOURS),
            "weekend_share": iso_weekday(local) >= 6,
            "campaign_session_share": F.col("utm_campaign").isNotNull(),
        }
        for name, flag in flags.items():
            aggs.append(tiled.count(name, flag, inside).alias(f"_{name}_{w}d"))
            derived.append(ratio(F.col(f"_{name}_{w}d"), F.col(f"_in_{w}d")).alias(f"{name}_{w}d"))
        aggs.append(tiled.count("sessions", span=inside).alias(f"_in_{w}d"))
    n = F.col("_sessions_profile")

    def shares(prefix: str, groups: dict[str, Column]) -> list[tuple[str, Column]]:
        for name, cond in groups.items():
            aggs.append(tiled.count(f"{prefix}_{slug(name)}", cond, profile).alias(f"_{prefix}_{slug(name)}"))
        return [(name, F.col(f"_{prefix}_{slug(name)}")) for name in groups]

    devices = shares("device", {d: F.lower(F.col("device_type")) == d.lower() for d in cfg.device_types})
    dayparts = shares("daypart", {d: hour.between(lo, hi) for d, (lo, hi) in cfg.dayparts.items()})
    weekdays = shares("weekday", {str(d): iso_weekday(local) == d for d in range(1, 8)})
    seasons = shares("season", {s: F.month(local).isin(*months) for s, months in cfg.seasons.items()})
    events = shares("calendar", {p.name: in_period(local, p.start, p.end) for p in cfg.calendar})
    derived += [ratio(c, n).alias(f"device_share_{slug(d)}") for d, c in devices]
    derived += [ratio(c, n).alias(f"daypart_share_{slug(d)}") for d, c in dayparts]
    derived += [ratio(c, n).alias(f"season_share_{slug(s)}") for s, c in seasons]
    derived += [ratio(c, n).alias(f"calendar_session_share_{slug(e)}") for e, c in events]
    derived += [
        argmax_label(devices).alias("preferred_device"),
        argmax_label(dayparts).alias("preferred_daypart"),
        argmax_label(weekdays).cast("int").alias("preferred_weekday"),
    ]
    return Aggregation(aggs, derived)


def event_aggregation(cfg: FeaturesConfig) -> Aggregation:
    """Preferred operating system from events in the profile window (counts, summed
    over the window's days like the other event aggregates)."""
    os_index = label_index(F.lower(F.col("os_name")), [o.lower() for o in cfg.os_names])
    index = F.col("_os_index")
    aggs = [count_if(index == i).alias(f"_os_{slug(o)}") for i, o in enumerate(cfg.os_names, start=1)]
    aggs.append(count_if(index == 0).alias("_os_other"))
    labels = [(o, F.col(f"_os_{slug(o)}")) for o in cfg.os_names] + [("other", F.col("_os_other"))]
    return Aggregation(aggs, [argmax_label(labels).alias("preferred_os")], prepared=[os_index.alias("_os_index")])


def order_aggregation(as_of: date, cfg: FeaturesConfig) -> Aggregation:
    """Orders placed during the configured calendar events in the profile window."""
    profile = since(F.col("order_ts"), as_of, cfg.profile_window_days)
    aggs = [
        count_if(profile & in_period(F.col("order_ts"), p.start, p.end)).alias(f"calendar_orders_{slug(p.name)}")
        for p in cfg.calendar
    ]
    return Aggregation(aggs, counts=[f"calendar_orders_{slug(p.name)}" for p in cfg.calendar])


def region_reference(spark: SparkSession) -> DataFrame:
    """The packaged reference table: (country, key_type city|postal_prefix, key, region,
    area_type). A few hundred rows at most, so it is read on the driver and broadcast."""
    text = resources.files("seglake").joinpath(f"resources/{REGIONS_RESOURCE}").read_text(encoding="utf-8")
    rows = [
        (r["country"].strip().upper(), r["key_type"].strip(), r["key"].strip().lower(), r["region"], r["area_type"])
        for r in csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    ]
    return local_frame(spark, rows, "country string, key_type string, key string, region string, area_type string")


def with_geography(profiles: DataFrame, regions: DataFrame) -> DataFrame:
    """region and area_type: by city name first, else by the postal code's prefix (two
    characters); unknown places stay null."""
    by_city = regions.where(F.col("key_type") == "city").select(
        "country", F.col("key").alias("_city_key"), F.col("region").alias("_city_region"),
        F.col("area_type").alias("_city_area"),
    )  # fmt: skip
    by_postal = regions.where(F.col("key_type") == "postal_prefix").select(
        "country", F.col("key").alias("_postal_key"), F.col("region").alias("_postal_region"),
        F.col("area_type").alias("_postal_area"),
    )  # fmt: skip
    keyed = profiles.withColumns(
        {
            "_city_key": F.lower(F.trim(F.col("city"))),
            "_postal_key": F.lower(F.substring(F.regexp_replace(F.col("postal_code"), r"\s", ""), 1, 2)),
        }
    )
    joined = keyed.join(F.broadcast(by_city), on=["country", "_city_key"], how="left").join(
        F.broadcast(by_postal), on=["country", "_postal_key"], how="left"
    )
    return joined.withColumns(
        {
            "region": F.coalesce("_city_region", "_postal_region"),
            "area_type": F.coalesce("_city_area", "_postal_area"),
        }
    ).drop("_city_key", "_postal_key", "_city_region", "_postal_region", "_city_area", "_postal_area")
