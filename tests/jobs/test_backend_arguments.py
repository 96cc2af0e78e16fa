"""Arguments that do not fit the task's function are refused at enqueue, naming the task and its
parameters, with nothing written: a job that can only fail is never created."""

import pytest

import jobs.api
from jobs.models import Batch, Job, JobState
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def _nothing_written():
    return not Job.objects.exists() and not JobState.objects.exists() and not Batch.objects.exists()


def test_too_many_arguments_are_refused_naming_the_task_and_its_parameters():
    with pytest.raises(
        TypeError, match=r"^add\(a, b\) cannot be called with these arguments: too many positional"
    ):
        tasks.add.enqueue(1, 2, 3)
    with pytest.raises(TypeError, match=r"^noop\(\) cannot be called"):
        tasks.noop.enqueue(1)
    assert _nothing_written()


def test_missing_and_unknown_keyword_arguments_are_refused():
    with pytest.raises(TypeError, match=r"missing a required argument: 'b'"):
        tasks.add.enqueue(1)
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'c'"):
        tasks.add.enqueue(1, b=2, c=3)
    with pytest.raises(TypeError, match=r"multiple values for argument 'a'"):
        tasks.add.enqueue(1, a=2)
    assert _nothing_written()


def test_a_takes_context_task_is_bound_without_its_context_parameter():
    with pytest.raises(TypeError, match=r"^record\(key\) cannot be called with these arguments: missing"):
        tasks.record.enqueue()
    result = tasks.record.enqueue("fits")
    assert Job.objects.get(pk=result.id).args == ["fits"]


def test_arguments_that_fit_by_keyword_or_default_are_accepted():
    tasks.add.enqueue(a=1, b=2)
    tasks.fail_once.enqueue("k")  # message has a default
    assert Job.objects.count() == 2


@pytest.mark.parametrize("count", [3, 300])  # the ORM path and the COPY path
def test_enqueue_many_with_one_call_that_does_not_fit_writes_nothing(count):
    calls = [((i, i), {}) for i in range(count)]
    calls[count // 2] = ((1,), {})
    with pytest.raises(TypeError, match=r"^add\(a, b\) cannot be called with these arguments: missing"):
        jobs.api.enqueue_many(tasks.add, calls)
    assert _nothing_written()


def test_a_first_call_that_does_not_fit_is_refused_on_the_copy_path():
    calls = [((1, 2, 3), {})] + [((i, i), {}) for i in range(299)]
    with pytest.raises(TypeError, match=r"^add\(a, b\)"):
        jobs.api.enqueue_many(tasks.add, calls)
    assert _nothing_written()


def test_batches_and_continuations_refuse_arguments_that_do_not_fit():
    with pytest.raises(TypeError, match=r"^add\(a, b\)"), jobs.api.batch("bad job") as batch:
        batch.enqueue(tasks.add, 1, 2)
        batch.enqueue(tasks.add, 1)
    with pytest.raises(TypeError, match=r"^noop\(\)"), jobs.api.batch("bad continuation") as batch:
        batch.enqueue(tasks.add, 1, 2)
        batch.then(tasks.noop, "extra")
    assert _nothing_written()
    parent = tasks.add.enqueue(1, 2)
    with pytest.raises(TypeError, match=r"^add\(a, b\)"):
        jobs.api.continue_with(parent.id, tasks.add, 1, 2, 3)
    with jobs.api.batch("good") as batch:
        batch.enqueue(tasks.noop)
    with pytest.raises(TypeError, match=r"^record\(key\)"):
        jobs.api.continue_batch_with(batch.id, tasks.record)
    assert Job.objects.count() == 2
