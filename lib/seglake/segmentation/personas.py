"""Human-readable personas from centroids, kept stable from one run to the next.

A segment's name comes from the features on which its centroid sits furthest from the
population (in standard deviations of the model inputs). A new run's segments are matched
to the previous run's by centroid distance (an optimal one-to-one assignment), so a
segment that is still there keeps its id and name instead of being renumbered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# feature prefix -> (word when far above the population, word when far below)
VOCABULARY: dict[str, tuple[str, str]] = {
    "orders": ("frequent buyers", "rare buyers"),
    "monetary": ("high spenders", "low spenders"),
    "avg_order_value": ("big baskets", "small baskets"),
    "recency_days": ("lapsed buyers", "recent buyers"),
    "days_since_last_visit": ("lapsed", "recently active"),
    "sessions": ("frequent visitors", "occasional visitors"),
    "events_per_session": ("deep browsers", "quick visits"),
    "avg_session_minutes": ("long sessions", "short sessions"),
    "mobile_share": ("mobile", "desktop"),
    "device_share_tablet": ("tablet", "no tablet"),
    "evening_share": ("evening", "daytime"),
    "weekend_share": ("weekend", "weekday"),
    "max_scroll_depth_avg": ("deep readers", "skimmers"),
    "video_plays": ("video watchers", "no video"),
    "cart_abandonment_rate": ("cart abandoners", "decisive"),
    "campaign_session_share": ("campaign-driven", "organic"),
}


def _word(feature: str, z: float) -> str:
    for prefix, (high, low) in VOCABULARY.items():
        if feature.startswith(prefix):
            return high if z > 0 else low
    return f"{'high' if z > 0 else 'low'} {feature}"


def distinguishing(
    features: Sequence[str], z_scores: Sequence[float], top: int = 3, threshold: float = 0.5
) -> list[tuple[str, float]]:
    ranked = sorted(zip(features, z_scores, strict=True), key=lambda fz: -abs(fz[1]))
    return [(f, z) for f, z in ranked if abs(z) >= threshold][:top]


def persona_name(features: Sequence[str], z_scores: Sequence[float], max_words: int = 3, threshold: float = 0.5) -> str:
    words: list[str] = []
    for f, z in distinguishing(features, z_scores, top=len(features), threshold=threshold):
        w = _word(f, z)
        if w not in words:
            words.append(w)
        if len(words) == max_words:
            break
    return ", ".join(words) if words else "average customers"


def describe(
    features: Sequence[str],
    z_scores: Sequence[float],
    means: Mapping[str, float | None],
    population: Mapping[str, float | None],
    share: float,
    top: int = 5,
    threshold: float = 0.5,
) -> str:
    """One sentence a marketer can read: size, then the features that set the segment
    apart, in the features' own units."""
    parts = []
    for f, z in distinguishing(features, z_scores, top=top, threshold=threshold):
        own, overall = means.get(f), population.get(f)
        units = f" ({own:,.2f} vs {overall:,.2f})" if own is not None and overall is not None else ""
        parts.append(f"{f} {'above' if z > 0 else 'below'} average by {abs(z):.1f} sd{units}")
    body = "; ".join(parts) if parts else "close to the population average on every feature"
    return f"{share:.0%} of customers; {body}."


def unique_names(names: list[str], taken: Sequence[str] = ()) -> list[str]:
    """Two segments may earn the same words; number the repeats so names stay keys."""
    seen: dict[str, int] = {n: 1 for n in taken}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


@dataclass(frozen=True)
class PreviousSegment:
    segment_id: int
    persona: str
    centroid_z: Mapping[str, float]


def centroid_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Root mean square difference over the features both centroids have (inf if none)."""
    shared = [f for f in a if f in b and a[f] is not None and b[f] is not None]
    if not shared:
        return math.inf
    return math.sqrt(sum((a[f] - b[f]) ** 2 for f in shared) / len(shared))


def match_to_previous(
    current: Sequence[Mapping[str, float]], previous: Sequence[PreviousSegment], max_distance: float
) -> list[int | None]:
    """For each current centroid, the index of the previous segment it continues (or None).

    Optimal one-to-one assignment minimising the summed distance, where leaving a segment
    unmatched costs `max_distance` (so no pair farther apart than that is ever matched):
    an exact search over subsets of previous segments, cheap for the k of segmentation.
    """
    n, m = len(current), len(previous)
    dist = [[centroid_distance(c, p.centroid_z) for p in previous] for c in current]
    if m > 16:
        return _greedy(dist, max_distance)
    # best[i][mask]: least cost of placing current[i:] given previous segments in mask are used
    memo: dict[tuple[int, int], tuple[float, tuple[int | None, ...]]] = {}

    def solve(i: int, used: int) -> tuple[float, tuple[int | None, ...]]:
        if i == n:
            return 0.0, ()
        key = (i, used)
        if key in memo:
            return memo[key]
        cost, rest = solve(i + 1, used)
        best = (cost + max_distance, (None, *rest))
        for j in range(m):
            if not used & (1 << j) and dist[i][j] <= max_distance:
                cost, rest = solve(i + 1, used | (1 << j))
                if cost + dist[i][j] < best[0]:
                    best = (cost + dist[i][j], (j, *rest))
        memo[key] = best
        return best

    return list(solve(0, 0)[1])


def _greedy(dist: list[list[float]], max_distance: float) -> list[int | None]:
    pairs = sorted((d, i, j) for i, row in enumerate(dist) for j, d in enumerate(row) if d <= max_distance)
    out: list[int | None] = [None] * len(dist)
    used: set[int] = set()
    for _, i, j in pairs:
        if out[i] is None and j not in used:
            out[i] = j
            used.add(j)
    return out


def assign_identities(
    names: Sequence[str],
    sizes: Sequence[int],
    current: Sequence[Mapping[str, float]],
    previous: Sequence[PreviousSegment],
    max_distance: float,
) -> tuple[list[int], list[str], list[int | None]]:
    """Segment id and persona for each cluster: a cluster that continues a previous segment
    keeps its id and name; a new one gets a fresh id (never a retired one) and its own
    name. Without history, ids follow size (0 = largest)."""
    matches = match_to_previous(current, previous, max_distance) if previous else [None] * len(current)
    ids: list[int | None] = [previous[j].segment_id if j is not None else None for j in matches]
    final_names: list[str | None] = [previous[j].persona if j is not None else None for j in matches]
    next_id = max((p.segment_id for p in previous), default=-1) + 1
    fresh = sorted((i for i in range(len(names)) if ids[i] is None), key=lambda i: (-sizes[i], i))
    new_names = unique_names([names[i] for i in fresh], taken=[n for n in final_names if n is not None])
    for i, name in zip(fresh, new_names, strict=True):
        ids[i], final_names[i] = next_id, name
        next_id += 1
    return [int(x) for x in ids if x is not None], [n for n in final_names if n is not None], matches
