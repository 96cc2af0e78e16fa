"""The result table: one row per figure, ours beside its two peers (django-q2's tuned ORM
broker, procrastinate), with a ratio against each.

A figure is the median of its repetitions, shown with the min–max range when there were
several. A ratio is always "how many times better ours is" (ours/peer for rates, peer/ours
for times and sizes), so above 1 means ours is ahead, whichever way the unit points.
"""

from dataclasses import dataclass

HIGHER, LOWER = "higher", "lower"


@dataclass
class Row:
    key: str
    label: str
    unit: str
    better: str  # HIGHER or LOWER
    ours: list[float] | None = None
    stock: list[float] | None = None
    procrastinate: list[float] | None = None
    ours_note: str = ""  # why there is no figure
    stock_note: str = ""
    procrastinate_note: str = ""
    target: float | None = None  # on ours' median (absolute), or on the ratio when target_on_ratio
    target_on_ratio: bool = False
    target_text: str = ""
    # False where a ratio means nothing (a growth of 0.5 % against 0.1 % is not "5× worse").
    comparable: bool = True

    def __post_init__(self):
        # A row built with only django-q2's reason (console pages, predictions) is one that
        # procrastinate lacks for the same reason.
        if self.stock_note and not self.procrastinate_note and self.procrastinate is None:
            self.procrastinate_note = self.stock_note

    def median(self, values):
        from bench.stats import median

        return median(values) if values else None

    @property
    def ours_median(self):
        return self.median(self.ours)

    @property
    def stock_median(self):
        return self.median(self.stock)

    def ratio_to(self, peer: str) -> float | None:
        ours, other = self.ours_median, self.median(getattr(self, peer))
        if not self.comparable or ours is None or other is None or ours == 0 or other == 0:
            return None
        return ours / other if self.better == HIGHER else other / ours

    @property
    def ratio(self) -> float | None:
        """Against django-q2's tuned broker."""
        return self.ratio_to("stock")

    @property
    def ratio_procrastinate(self) -> float | None:
        return self.ratio_to("procrastinate")

    def met(self) -> bool | None:
        """The target; on ratios, against every peer measured in this row."""
        if self.target is None:
            return None
        if self.target_on_ratio:
            ratios = [r for r in (self.ratio, self.ratio_procrastinate) if r is not None]
            return all(r >= self.target for r in ratios) if ratios else None
        value = self.ours_median
        if value is None:
            return None
        if self.better == HIGHER:
            return value >= self.target
        return value <= self.target


def _number(value: float) -> str:
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def figure(values, note: str = "") -> str:
    if not values:
        return f"n/a ({note})" if note else "n/a"
    from bench.stats import median

    text = _number(median(values))
    if len(values) > 1:
        text += f" ({_number(min(values))}–{_number(max(values))})"
    return text


def cells(row: Row) -> list[str]:
    met = row.met()
    target = row.target_text or ""
    if target and met is not None:
        target += " ✓" if met else " ✗"
    return [
        row.label,
        row.unit,
        figure(row.ours, row.ours_note),
        figure(row.stock, row.stock_note),
        figure(row.procrastinate, row.procrastinate_note),
        *(f"{ratio:.2f}×" if ratio is not None else "—" for ratio in (row.ratio, row.ratio_procrastinate)),
        target,
    ]


HEADER = [
    "Figure",
    "Unit",
    "Dhanman Jobs",
    "django-q2 ORM (tuned)",
    "procrastinate",
    "Ratio to django-q2 (>1: ours better)",
    "Ratio to procrastinate",
    "Target",
]


def text_table(rows: list[Row]) -> str:
    table = [HEADER] + [cells(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    out = []
    for index, line in enumerate(table):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(escape(c) for c in cells(row)) + " |" for row in rows]
    return "\n".join(lines)
