"""Reading a /metrics exposition back into numbers, with prometheus-client's own parser."""

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict:
    """{(sample name, frozenset of label items): value} of every sample in the exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text_or_samples, name: str, **labels) -> float | None:
    found = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return found.get((name, frozenset(labels.items())))


def names(text: str) -> set[str]:
    """Every sample name exported (counters with _total, histograms with _bucket/_sum/_count)."""
    return {name for name, _ in samples(text)}
