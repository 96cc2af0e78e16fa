import itertools
import os
import uuid

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from tests.importing.hangfire_db import HangfireDb

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def hangfire_database(django_db_setup, django_db_blocker):
    """A scratch PostgreSQL database standing for a service's Hangfire database."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("the Hangfire importer reads PostgreSQL")
        s = connection.settings_dict
    info = {"host": s["HOST"] or "127.0.0.1", "port": s["PORT"] or 5432, "user": s["USER"] or "postgres"}
    if s.get("PASSWORD"):
        info["password"] = s["PASSWORD"]
    name = f"{s['NAME']}_hangfire_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(**info, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield {**info, "dbname": name}
    with psycopg.connect(**info, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def make_hangfire(hangfire_database):
    made = []

    def make(legacy_text_columns=False, schema=None):
        db = HangfireDb(hangfire_database, schema or f"hangfire_{next(_schemas)}", legacy_text_columns)
        made.append(db)
        return db

    yield make
    for db in made:
        db.drop()


@pytest.fixture
def hangfire(make_hangfire):
    return make_hangfire()
