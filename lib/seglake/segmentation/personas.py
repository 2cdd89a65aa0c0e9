"""Human-readable persona names from centroids: the features on which a segment sits
furthest from the population (in standard deviations) give its name."""

from __future__ import annotations

from collections.abc import Sequence

# feature prefix -> (word when far above the population, word when far below)
VOCABULARY: dict[str, tuple[str, str]] = {
    "orders": ("frequent buyers", "rare buyers"),
    "monetary": ("high spenders", "low spenders"),
    "avg_order_value": ("big baskets", "small baskets"),
    "recency_days": ("lapsed", "recent buyers"),
    "sessions": ("frequent visitors", "occasional visitors"),
    "events_per_session": ("deep browsers", "quick visits"),
    "avg_session_minutes": ("long sessions", "short sessions"),
    "mobile_share": ("mobile", "desktop"),
    "evening_share": ("evening", "daytime"),
    "weekend_share": ("weekend", "weekday"),
    "max_scroll_depth_avg": ("deep readers", "skimmers"),
    "video_plays": ("video watchers", "no video"),
    "cart_abandonment_rate": ("cart abandoners", "decisive"),
    "campaign_session_share": ("campaign-driven", "organic"),
}
THRESHOLD = 0.5
MAX_WORDS = 3


def _word(feature: str, z: float) -> str:
    for prefix, (high, low) in VOCABULARY.items():
        if feature.startswith(prefix):
            return high if z > 0 else low
    return f"{'high' if z > 0 else 'low'} {feature}"


def distinguishing(features: Sequence[str], z_scores: Sequence[float], top: int = MAX_WORDS) -> list[tuple[str, float]]:
    ranked = sorted(zip(features, z_scores, strict=True), key=lambda fz: -abs(fz[1]))
    return [(f, z) for f, z in ranked if abs(z) >= THRESHOLD][:top]


def persona_name(features: Sequence[str], z_scores: Sequence[float]) -> str:
    words: list[str] = []
    for f, z in distinguishing(features, z_scores):
        w = _word(f, z)
        if w not in words:
            words.append(w)
    return ", ".join(words) if words else "average customers"


def unique_names(names: list[str]) -> list[str]:
    """Two segments may earn the same words; number the repeats so names stay keys."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out
