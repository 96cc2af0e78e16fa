import pytest

from tests.support.cluster import run_cluster
from tests.testapp.models import Execution
from tests.testapp.tasks import record


@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_runs_on_a_real_server():
    with run_cluster(workers=2) as server:
        result = record.enqueue("hello")
        server.wait_for(lambda: Execution.objects.filter(key="hello").exists(), 20)
        result.refresh()
        server.wait_for(lambda: result.refresh() or result.status == "SUCCESSFUL", 10)
    assert result.return_value == "hello"
