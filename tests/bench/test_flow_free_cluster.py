"""bench/flow_free_cluster.py: the "flow control unused" row's baseline claims without the flow
clauses in every statement a server claims with, or the row compares the feature with itself."""

import pytest

from bench.flow_free_cluster import CLAIMING_STATEMENTS, strip_flow
from jobs import sql


@pytest.mark.parametrize("name", CLAIMING_STATEMENTS)
def test_the_flow_clauses_are_stripped_from_every_claim(name):
    statement = getattr(sql, name)
    assert "dhanman_flow_admit" in statement and "jobs_queuepause" in statement
    stripped = strip_flow(statement)
    assert "dhanman_flow_admit" not in stripped and "jobs_queuepause" not in stripped


def test_every_claiming_statement_is_listed():
    claiming = {
        name for name in dir(sql) if name.endswith("_SQL") and "dhanman_flow_admit" in getattr(sql, name)
    }
    assert claiming == set(CLAIMING_STATEMENTS)
