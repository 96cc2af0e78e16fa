"""Tags and search terms, written at enqueue (jobs/search.py): rendered from the arguments,
refused at declaration when they name no parameter, never holding a redacted value; the same
through every insert path; the migration's backfill gives what enqueue gives."""

import importlib
import re

import pytest
from django.apps import apps
from django.tasks import task
from django.tasks.exceptions import InvalidTask

import jobs.api
from jobs import search
from jobs.models import Job
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def test_tags_are_rendered_from_the_arguments_at_enqueue():
    job = Job.objects.get(pk=tasks.bill_society.enqueue(12, invoice_id=42).id)
    assert job.tags == ["billing", "society:12"]
    assert "t:society:12" in job.search_terms and "t:billing" in job.search_terms


def test_search_terms_hold_values_and_names_of_positional_and_keyword_arguments():
    job = Job.objects.get(pk=tasks.bill_society.enqueue(7, 42, note="Flat 12B").id)
    # A positional argument is named by the parameter it binds to; strings are lowercased.
    for term in ("v:7", "k:society_id=7", "v:42", "k:invoice_id=42", "v:flat 12b", "k:note=flat 12b"):
        assert term in job.search_terms, term


def test_nested_values_floats_and_long_text():
    found = search.terms(
        [{"invoice_id": 42, "lines": [1.0, True, None]}, "x" * (search.MAX_VALUE_LENGTH + 1)], {}
    )
    assert found == ["v:42", "k:invoice_id=42", "v:1", "k:lines=1", "v:true", "k:lines=true"]


def test_terms_are_capped_per_job():
    found = search.terms([list(range(1000))], {})
    assert len(found) == search.MAX_TERMS


def test_redacted_values_are_never_search_terms():
    job = Job.objects.get(
        pk=tasks.charge_card.enqueue("4111111111111111", 250, otp="9876", profile={"otp": "5555"}).id
    )
    text = " ".join(job.search_terms)
    assert "4111" not in text and "9876" not in text and "5555" not in text
    assert "k:amount=250" in job.search_terms


def billing(society_id: int, card_number: str = ""):
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"tags": ("society:{society}",)},
            "Tag key 'society:{society}' names 'society', which is not a parameter",
        ),
        ({"tags": ("card:{card_number}",), "redact": ("card_number",)}, "redacted argument"),
        ({"tags": "billing"}, "tags must be a tuple of strings"),
        ({"tags": ("bad{",)}, "not a valid template"),
        ({"tags": ("",)}, "key must be a non-empty string"),
        ({"tags": tuple(f"t{i}" for i in range(search.MAX_TAGS + 1))}, "at most 20 tags"),
    ],
)
def test_bad_tags_are_refused_at_declaration(options, message):
    with pytest.raises(InvalidTask, match=re.escape(message)):
        task(**options)(billing)


def test_every_insert_path_writes_the_same_terms():
    one = Job.objects.get(pk=tasks.bill_society.enqueue(3, 9).id)
    # enqueue_many: COPY from 200 calls on PostgreSQL (creation.insert_calls), bulk_create below.
    many = jobs.api.enqueue_many(tasks.bill_society, [((3, 9), {})] * 200)
    few = jobs.api.enqueue_many(tasks.bill_society, [((3, 9), {})] * 2)
    parent = tasks.noop.enqueue()
    child = jobs.api.continue_with(parent.id, tasks.bill_society, 3, 9)
    for job_id in (many[0], many[-1], few[0], child.id):
        job = Job.objects.get(pk=job_id)
        assert (job.tags, job.search_terms) == (one.tags, one.search_terms)


def test_the_migration_backfill_gives_what_enqueue_gives():
    jobs_made = [
        Job.objects.get(pk=tasks.bill_society.enqueue(5, 77, note="x").id),
        Job.objects.get(pk=tasks.charge_card.enqueue("4111111111111111", 10).id),
    ]
    # Rows as they were before migration 0019 (no terms, no tags): a data change, not a state.
    Job.objects.filter(pk__in=[job.pk for job in jobs_made]).update(tags=[], search_terms=[])
    migration = importlib.import_module("jobs.migrations.0019_job_search")
    migration.backfill(apps, None)
    for made in jobs_made:
        again = Job.objects.get(pk=made.pk)
        assert (again.tags, again.search_terms) == (made.tags, made.search_terms)


def test_query_terms():
    assert search.query_terms("42") == ["v:42"]
    assert search.query_terms("Invoice_ID=42 society_id=3") == ["k:invoice_id=42", "k:society_id=3"]
    assert search.query_terms('note="Flat 12B"') == ["k:note=flat 12b"]
    assert search.query_terms('"unbalanced') == ['v:"unbalanced']
    assert search.query_terms("") == []


def test_domain_tasks_are_tagged():
    from sales import tasks as sales_tasks

    job = Job.objects.get(pk=sales_tasks.create_invoice.enqueue(42).id)
    assert job.tags == ["billing", "invoice:42"]
    assert "k:invoice_id=42" in job.search_terms
    job = Job.objects.get(pk=sales_tasks.send_bulk_generation_summary.enqueue(12, "2026-12").id)
    assert job.tags == ["billing", "society:12", "period:2026-12"]
