"""Small statistics: medians of repetitions, percentiles of samples."""

import math
import statistics


def percentile(samples, fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1) of a non-empty sample."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values) -> float:
    return statistics.median(values)
