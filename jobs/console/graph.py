"""Dependency graphs of continuations and batches, laid out for an SVG drawn by a template.

A job's graph starts at the root of its continuation chain (walking `parent` up) and follows
`continuations` down, breadth first; a batch's graph shows the batch, its jobs, its nested
batches and what waits on it. Both stop at MAX_NODES, so a batch of a hundred thousand jobs
draws a bounded picture with a "+N more" node rather than a page that never loads.
The layout is layered left to right: a node's column is its distance from the root.
"""

from dataclasses import dataclass, field

from django.urls import reverse

from jobs.models import Batch, Job

NODE_WIDTH = 200
NODE_HEIGHT = 46
GAP_X = 56
GAP_Y = 14
PADDING = 12
MAX_NODES = 120
MAX_BATCH_MEMBERS = 60
MAX_PARENT_WALK = 50
JOB_FIELDS = (
    "id",
    "task_path",
    "state",
    "parent_id",
    "batch_id",
    "awaiting_batch_id",
    "continuation_on",
    "created_at",
)


@dataclass
class Node:
    key: str
    kind: str  # "job", "batch" or "more"
    label: str
    detail: str
    state: str
    url: str
    layer: int
    current: bool = False
    x: int = 0
    y: int = 0

    @property
    def width(self):
        return NODE_WIDTH

    @property
    def height(self):
        return NODE_HEIGHT

    @property
    def text_x(self):
        return self.x + 10

    @property
    def label_y(self):
        return self.y + 19

    @property
    def detail_y(self):
        return self.y + 36


@dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    path: str = ""
    label_x: int = 0
    label_y: int = 0


@dataclass
class Graph:
    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    truncated: bool = False
    width: int = 0
    height: int = 0

    def full(self) -> bool:
        return len(self.nodes) >= MAX_NODES

    def add(self, node: Node) -> bool:
        if node.key in self.nodes:
            return False
        if self.full():
            self.truncated = True
            return False
        self.nodes[node.key] = node
        return True

    def connect(self, source: str, target: str, label: str = "") -> None:
        if source in self.nodes and target in self.nodes:
            self.edges.append(Edge(source, target, label))

    def layout(self) -> "Graph":
        columns: dict[int, list[Node]] = {}
        for node in self.nodes.values():
            columns.setdefault(node.layer, []).append(node)
        tallest = 0
        for layer, nodes in columns.items():
            for index, node in enumerate(nodes):
                node.x = PADDING + layer * (NODE_WIDTH + GAP_X)
                node.y = PADDING + index * (NODE_HEIGHT + GAP_Y)
            tallest = max(tallest, len(nodes))
        self.width = PADDING * 2 + (max(columns, default=0) + 1) * (NODE_WIDTH + GAP_X) - GAP_X
        self.height = PADDING * 2 + max(tallest, 1) * (NODE_HEIGHT + GAP_Y) - GAP_Y
        for edge in self.edges:
            source, target = self.nodes[edge.source], self.nodes[edge.target]
            x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
            x2, y2 = target.x, target.y + NODE_HEIGHT // 2
            middle = (x1 + x2) // 2
            edge.path = f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
            edge.label_x, edge.label_y = middle, (y1 + y2) // 2 - 4
        return self


def _job_node(job: Job, layer: int, current_id=None) -> Node:
    return Node(
        key=f"job:{job.pk}",
        kind="job",
        label=job.task_name,
        detail=f"{job.state} · {str(job.pk)[:8]}",
        state=job.state,
        url=reverse("jobs_console:job_detail", args=[job.pk]),
        layer=layer,
        current=job.pk == current_id,
    )


def _batch_node(batch: Batch, layer: int, current: bool = False) -> Node:
    return Node(
        key=f"batch:{batch.pk}",
        kind="batch",
        label=(batch.description or "Batch")[:40],
        detail=f"batch {batch.state} · {batch.succeeded + batch.failed + batch.deleted}/{batch.total}",
        state=f"batch-{batch.state}",
        url=reverse("jobs_console:batch_detail", args=[batch.pk]),
        layer=layer,
        current=current,
    )


def _follow_continuations(graph: Graph, frontier: list[Job], current_id=None) -> None:
    """Add the continuations of `frontier`, then theirs, breadth first, until the graph is full."""
    while frontier and not graph.full():
        layer_of = {job.pk: graph.nodes[f"job:{job.pk}"].layer for job in frontier}
        children = list(
            Job.objects.filter(parent_id__in=list(layer_of))
            .only(*JOB_FIELDS)
            .order_by("created_at", "pk")[: MAX_NODES - len(graph.nodes) + 1]
        )
        frontier = []
        for child in children:
            assert child.parent_id is not None  # children of the frontier, found by their parent
            if graph.add(_job_node(child, layer_of[child.parent_id] + 1, current_id)):
                frontier.append(child)
            graph.connect(f"job:{child.parent_id}", f"job:{child.pk}", child.continuation_on)


def job_graph(job: Job) -> Graph:
    """The continuation tree that `job` belongs to, from its root."""
    root = job
    seen = {job.pk}
    for _ in range(MAX_PARENT_WALK):
        if root.parent_id is None:
            break
        parent = Job.objects.only(*JOB_FIELDS).filter(pk=root.parent_id).first()
        if parent is None or parent.pk in seen:
            break
        seen.add(parent.pk)
        root = parent
    graph = Graph()
    first_layer = 0
    if root.awaiting_batch_id:
        batch = Batch.objects.filter(pk=root.awaiting_batch_id).first()
        if batch is not None:
            graph.add(_batch_node(batch, 0))
            first_layer = 1
    graph.add(_job_node(root, first_layer, job.pk))
    if first_layer:
        graph.connect(f"batch:{root.awaiting_batch_id}", f"job:{root.pk}", root.continuation_on)
    _follow_continuations(graph, [root], job.pk)
    return graph.layout()


def batch_graph(batch: Batch) -> Graph:
    """A batch, its jobs (the first MAX_BATCH_MEMBERS), nested batches, and what waits on it."""
    graph = Graph()
    graph.add(_batch_node(batch, 0, current=True))
    members = list(
        Job.objects.filter(batch=batch).only(*JOB_FIELDS).order_by("created_at", "pk")[:MAX_BATCH_MEMBERS]
    )
    children = list(Batch.objects.filter(parent=batch).order_by("created_at")[:MAX_BATCH_MEMBERS])
    for member in members:
        if graph.add(_job_node(member, 1)):
            graph.connect(graph_key(batch), f"job:{member.pk}")
    for child in children:
        if graph.add(_batch_node(child, 1)):
            graph.connect(graph_key(batch), graph_key(child))
    hidden = batch.total - len(members) - len(children)
    if hidden > 0:
        graph.add(
            Node(
                key="more",
                kind="more",
                label=f"+{hidden} more",
                detail="see the batch's jobs",
                state="more",
                url=reverse("jobs_console:batch_detail", args=[batch.pk]),
                layer=1,
            )
        )
        graph.connect(graph_key(batch), "more")
    # What waits for the batch runs after all of its units: a join from each unit drawn.
    units = [key for key, node in graph.nodes.items() if node.layer == 1]
    waiting = list(
        Job.objects.filter(awaiting_batch=batch).only(*JOB_FIELDS).order_by("created_at", "pk")[:20]
    )
    for job in waiting:
        if graph.add(_job_node(job, 2)):
            for index, unit in enumerate(units or [graph_key(batch)]):
                graph.connect(unit, f"job:{job.pk}", job.continuation_on if index == 0 else "")
    _follow_continuations(graph, [m for m in members + waiting if f"job:{m.pk}" in graph.nodes])
    return graph.layout()


def graph_key(batch: Batch) -> str:
    return f"batch:{batch.pk}"
