"""Planted personas, the calendar they live in, and the event budget.

The personas are the ground truth later stages try to recover (k-means on per-customer
features), so each one differs from the others on several features at once — device,
hour of day, weekday/weekend, order frequency and amount, cart abandonment, scroll, video,
recency — with enough noise that the recovery is not trivial.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from seglake.config.schema import GeneratorConfig
from seglake.generate.columns import ChoiceTable
from seglake.generate.vocab import CAMPAIGNS, CATEGORIES, COUNTRIES, DEVICE_TYPES

# Event kinds; the first five are the "filler" events drawn by weight inside a session,
# so a filler choice index is directly its kind code.
PAGE, VIEWED, SEARCHED, SCROLLED, VIDEO_STARTED = 0, 1, 2, 3, 4
VIDEO_COMPLETED, ADDED, REMOVED, CHECKOUT, ORDERED, IDENTIFY = 5, 6, 7, 8, 9, 10
EVENT_NAMES: tuple[str | None, ...] = (
    None,
    "Product Viewed",
    "Products Searched",
    "Scroll Depth Reached",
    "Video Playback Started",
    "Video Playback Completed",
    "Product Added",
    "Product Removed",
    "Checkout Started",
    "Order Completed",
    None,
)
# Session outcomes.
BROWSE, ABANDON, PURCHASE = 0, 1, 2
# Fewest events a session of each outcome needs for its funnel tail (see sessions.py).
MIN_EVENTS = (1, 5, 6)
SCROLL_DEPTHS = (25, 50, 75, 100)


# Relative activity per local hour (0-23) of the day.
# fmt: off
HOURLY: dict[str, tuple[float, ...]] = {
    "office": (0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.4, 1.2, 2.5, 4, 4.5, 4.5,
               3.5, 3.5, 4.5, 4.5, 4, 3, 1.8, 1.2, 1, 0.8, 0.5, 0.3),
    "evening": (1.2, 0.6, 0.3, 0.1, 0.05, 0.05, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8,
                1.5, 1.3, 0.7, 0.6, 0.7, 1, 2.5, 4, 5, 5.5, 5, 3),
    "day_and_evening": (0.5, 0.3, 0.1, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 2, 2.5, 2.5,
                        2.3, 2.3, 2.5, 2.5, 2.3, 2.2, 2.3, 2.8, 3.2, 3.2, 2.5, 1.2),
    "family_day": (0.1, 0.05, 0.02, 0.02, 0.02, 0.1, 0.5, 1.5, 3, 4, 4, 3,
                   2, 2.5, 3.5, 4, 4, 3.5, 2.5, 2, 2.5, 1.5, 0.5, 0.2),
    "all_day": (0.5, 0.3, 0.1, 0.05, 0.05, 0.1, 0.4, 1, 1.8, 2.2, 2.4, 2.4,
                2.6, 2.4, 2.2, 2.2, 2.3, 2.5, 2.8, 3, 3, 2.6, 1.8, 1),
    "flat": (1.0,) * 24,
}
# fmt: on


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    # Relative number of sessions; scaled so the total matches the configured events.
    sessions: float
    events_per_session: float
    gap_seconds: float
    purchase: float
    abandon: float
    order_value_eur: float
    items: float
    store_orders_per_year: float
    second_device: float
    second_device_use: float
    # Weights of desktop, mobile, tablet for the main device.
    device: tuple[float, float, float]
    hours: tuple[float, ...]
    weekend: float
    # Share of the period after which the persona stops visiting (churn).
    active_until: float
    campaign: float
    campaigns: tuple[int, ...]
    # Weights of page, product viewed, search, scroll, video among filler events.
    filler: tuple[float, float, float, float, float]
    scroll: tuple[float, float, float, float]
    video_completion: float
    categories: tuple[float, ...]
    ratings: tuple[float, float, float, float, float]
    review: float
    age: tuple[int, int]
    income: tuple[float, float, float, float, float]
    household: tuple[int, int]
    consent_marketing: float


PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="loyal_high_value",
        share=0.18,
        sessions=1.6,
        events_per_session=8,
        gap_seconds=40,
        purchase=0.32,
        abandon=0.06,
        order_value_eur=170,
        items=3,
        store_orders_per_year=3.0,
        second_device=0.45,
        second_device_use=0.15,
        device=(0.9, 0.08, 0.02),
        hours=HOURLY["office"],
        weekend=0.35,
        active_until=1.0,
        campaign=0.06,
        campaigns=(4, 5),
        filler=(0.3, 0.4, 0.1, 0.15, 0.05),
        scroll=(0.3, 0.35, 0.25, 0.1),
        video_completion=0.5,
        categories=(0.25, 0.15, 0.25, 0.05, 0.1, 0.15, 0.03, 0.02),
        ratings=(0.02, 0.03, 0.1, 0.35, 0.5),
        review=0.3,
        age=(35, 62),
        income=(0.02, 0.08, 0.25, 0.4, 0.25),
        household=(1, 3),
        consent_marketing=0.7,
    ),
    Persona(
        name="bargain_mobile",
        share=0.27,
        sessions=1.0,
        events_per_session=7,
        gap_seconds=22,
        purchase=0.11,
        abandon=0.45,
        order_value_eur=32,
        items=2,
        store_orders_per_year=0.0,
        second_device=0.3,
        second_device_use=0.1,
        device=(0.04, 0.92, 0.04),
        hours=HOURLY["evening"],
        weekend=1.15,
        active_until=1.0,
        campaign=0.65,
        campaigns=(0, 1, 2, 3),
        filler=(0.45, 0.35, 0.12, 0.06, 0.02),
        scroll=(0.55, 0.3, 0.1, 0.05),
        video_completion=0.2,
        categories=(0.1, 0.35, 0.05, 0.25, 0.1, 0.03, 0.05, 0.07),
        ratings=(0.1, 0.15, 0.3, 0.3, 0.15),
        review=0.15,
        age=(18, 30),
        income=(0.35, 0.4, 0.18, 0.05, 0.02),
        household=(1, 2),
        consent_marketing=0.85,
    ),
    Persona(
        name="researcher",
        share=0.20,
        sessions=1.2,
        events_per_session=22,
        gap_seconds=75,
        purchase=0.03,
        abandon=0.12,
        order_value_eur=120,
        items=1,
        store_orders_per_year=0.3,
        second_device=0.6,
        second_device_use=0.4,
        device=(0.6, 0.35, 0.05),
        hours=HOURLY["day_and_evening"],
        weekend=0.9,
        active_until=1.0,
        campaign=0.08,
        campaigns=(5, 6),
        filler=(0.22, 0.33, 0.12, 0.2, 0.13),
        scroll=(0.05, 0.15, 0.35, 0.45),
        video_completion=0.7,
        categories=(0.35, 0.05, 0.15, 0.04, 0.15, 0.2, 0.03, 0.03),
        ratings=(0.05, 0.1, 0.25, 0.35, 0.25),
        review=0.45,
        age=(25, 45),
        income=(0.1, 0.3, 0.35, 0.2, 0.05),
        household=(1, 3),
        consent_marketing=0.45,
    ),
    Persona(
        name="weekend_family",
        share=0.20,
        sessions=0.8,
        events_per_session=9,
        gap_seconds=45,
        purchase=0.2,
        abandon=0.15,
        order_value_eur=80,
        items=4,
        store_orders_per_year=2.0,
        second_device=0.5,
        second_device_use=0.25,
        device=(0.1, 0.2, 0.7),
        hours=HOURLY["family_day"],
        weekend=3.5,
        active_until=1.0,
        campaign=0.15,
        campaigns=(4, 1),
        filler=(0.35, 0.35, 0.1, 0.12, 0.08),
        scroll=(0.25, 0.35, 0.25, 0.15),
        video_completion=0.5,
        categories=(0.03, 0.12, 0.15, 0.03, 0.06, 0.06, 0.3, 0.25),
        ratings=(0.04, 0.06, 0.2, 0.4, 0.3),
        review=0.25,
        age=(30, 46),
        income=(0.05, 0.3, 0.4, 0.2, 0.05),
        household=(3, 6),
        consent_marketing=0.6,
    ),
    Persona(
        name="churned",
        share=0.15,
        sessions=0.6,
        events_per_session=7,
        gap_seconds=35,
        purchase=0.12,
        abandon=0.25,
        order_value_eur=55,
        items=2,
        store_orders_per_year=0.6,
        second_device=0.25,
        second_device_use=0.2,
        device=(0.45, 0.5, 0.05),
        hours=HOURLY["all_day"],
        weekend=1.0,
        active_until=0.4,
        campaign=0.12,
        campaigns=(4, 5),
        filler=(0.4, 0.35, 0.1, 0.1, 0.05),
        scroll=(0.3, 0.35, 0.2, 0.15),
        video_completion=0.3,
        categories=(0.15, 0.2, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1),
        ratings=(0.3, 0.3, 0.2, 0.12, 0.08),
        review=0.3,
        age=(20, 65),
        income=(0.15, 0.35, 0.3, 0.15, 0.05),
        household=(1, 4),
        consent_marketing=0.4,
    ),
)
# Bots ride the same session machinery as a sixth group: fast, anonymous, page views only.
BOT = Persona(
    name="bot",
    share=0.0,
    sessions=1.0,
    events_per_session=40,
    gap_seconds=0.6,
    purchase=0.0,
    abandon=0.0,
    order_value_eur=0,
    items=0,
    store_orders_per_year=0.0,
    second_device=0.0,
    second_device_use=0.0,
    device=(1.0, 0.0, 0.0),
    hours=HOURLY["flat"],
    weekend=1.0,
    active_until=1.0,
    campaign=0.0,
    campaigns=(0,),
    filler=(0.6, 0.4, 0.0, 0.0, 0.0),
    scroll=(1.0, 0.0, 0.0, 0.0),
    video_completion=0.0,
    categories=(1.0,) * len(CATEGORIES),
    ratings=(0.0, 0.0, 1.0, 0.0, 0.0),
    review=0.0,
    age=(30, 31),
    income=(1.0, 0.0, 0.0, 0.0, 0.0),
    household=(1, 1),
    consent_marketing=0.0,
)
GROUPS: tuple[Persona, ...] = PERSONAS + (BOT,)
BOT_GROUP = len(PERSONAS)
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in GROUPS)
BOT_SESSIONS_MAX = 3  # bots make 1..3 sessions (2 on average)

assert all(p.events_per_session >= max(MIN_EVENTS) for p in PERSONAS)
assert all(len(p.hours) == 24 and len(p.categories) == len(CATEGORIES) for p in GROUPS)
assert len(DEVICE_TYPES) == 3 and max(max(p.campaigns) for p in GROUPS) < len(CAMPAIGNS)


def seasonality(day: dt.date) -> float:
    """Relative traffic of a calendar day: sales periods and the year-end peak."""
    md = (day.month, day.day)
    if (11, 24) <= md <= (12, 2):
        return 2.6  # Black Friday / Cyber Monday
    if (11, 15) <= md <= (12, 24):
        return 2.0
    if md >= (12, 25):
        return 1.3
    if (1, 8) <= md <= (2, 4) or (6, 25) <= md <= (7, 22):
        return 1.6  # winter and summer sales
    if day.month == 8:
        return 0.8
    return 1.0


@dataclass(frozen=True)
class Calendar:
    """Days of the generated period and the per-persona day-choice table."""

    start: dt.date
    days: int
    day_table: ChoiceTable
    hour_table: ChoiceTable

    @classmethod
    def of(cls, cfg: GeneratorConfig) -> Calendar:
        start = dt.date.fromisoformat(cfg.start_date)
        dates = [start + dt.timedelta(days=i) for i in range(cfg.days)]
        weights = []
        for p in GROUPS:
            active_days = max(1, math.ceil(cfg.days * p.active_until))
            weights.append(
                [
                    seasonality(d) * (p.weekend if d.weekday() >= 5 else 1.0) * (i < active_days)
                    for i, d in enumerate(dates)
                ]
            )
        resolution = max(4096, 8 * cfg.days)
        return cls(
            start=start,
            days=cfg.days,
            day_table=ChoiceTable.of(weights, resolution),
            hour_table=ChoiceTable.of([p.hours for p in GROUPS]),
        )

    @property
    def start_epoch(self) -> int:
        return int(dt.datetime(self.start.year, self.start.month, self.start.day, tzinfo=dt.timezone.utc).timestamp())

    @property
    def end_epoch(self) -> int:
        return self.start_epoch + self.days * 86_400


@dataclass(frozen=True)
class Budget:
    """How many visitors, sessions and events to make so the line count hits the target.

    Expected human lines = customers * sum(share * sessions * events_per_session) * scale;
    the session count and events-per-session draws are unbiased (see Rng.count), so the
    scale follows in closed form. Duplicates add lines on top, bots add their own visits.
    """

    customers: int
    bots: int
    chunks: int
    customers_per_chunk: int
    session_scale: float
    bot_events_per_session: float

    @classmethod
    def of(cls, cfg: GeneratorConfig) -> Budget:
        bots = round(cfg.customers * cfg.dirty.bot_visitors)
        undup_lines = cfg.events / (1.0 + cfg.dirty.duplicate)
        bot_sessions = bots * (1 + BOT_SESSIONS_MAX) / 2
        bot_eps = min(60.0, max(5.0, cfg.events / cfg.customers / 2))
        if bot_sessions:
            # Bots never take more than a quarter of the lines, whatever the rates.
            bot_eps = max(1.0, min(bot_eps, 0.25 * undup_lines / bot_sessions))
        human_lines = undup_lines - bot_sessions * bot_eps
        per_unit = sum(p.share * p.sessions * p.events_per_session for p in PERSONAS)
        return cls(
            customers=cfg.customers,
            bots=bots,
            chunks=math.ceil(cfg.customers / cfg.customers_per_chunk),
            customers_per_chunk=cfg.customers_per_chunk,
            session_scale=human_lines / (cfg.customers * per_unit),
            bot_events_per_session=bot_eps,
        )


def group_tables() -> dict[str, ChoiceTable]:
    """Per-persona weighted choices (persona code is the group)."""
    return {
        "persona": ChoiceTable.of([[p.share for p in PERSONAS]]),
        "country": ChoiceTable.of([[c.weight for c in COUNTRIES]]),
        "device": ChoiceTable.of([p.device for p in GROUPS]),
        "filler": ChoiceTable.of([p.filler for p in GROUPS]),
        "scroll": ChoiceTable.of([p.scroll for p in GROUPS]),
        "category": ChoiceTable.of([p.categories for p in GROUPS]),
        "rating": ChoiceTable.of([p.ratings for p in GROUPS]),
        "income": ChoiceTable.of([p.income for p in GROUPS]),
        "campaign": ChoiceTable.of([[1.0 if i in p.campaigns else 0.0 for i in range(len(CAMPAIGNS))] for p in GROUPS]),
    }
