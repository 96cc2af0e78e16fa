"""jobs/sql.py: the hand-written statements' own properties (what they do is tested with the
transitions in test_states.py and on real servers in tests/jobs/server)."""

from psycopg import _queries

from jobs import sql


def test_compact_folds_white_space_outside_literals_only():
    statement = "SELECT  'a  b',\n\t x ,'it''s  so'\n  FROM t  WHERE y = ''  "
    assert sql.compact(statement) == "SELECT 'a  b', x ,'it''s  so' FROM t WHERE y = ''"


def test_the_busy_workers_statement_fits_psycopgs_statement_cache():
    # Past the limit psycopg re-scans the statement's text for placeholders at every execution.
    assert _queries.MAX_CACHED_STATEMENT_LENGTH == sql.PSYCOPG_CACHED_STATEMENT_BYTES
    assert len(sql.SUCCEED_MANY_AND_CLAIM_SQL.encode()) <= sql.PSYCOPG_CACHED_STATEMENT_BYTES
    assert "\n" not in sql.SUCCEED_MANY_AND_CLAIM_SQL  # compacted
