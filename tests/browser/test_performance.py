"""The Performance page in Chromium: jobs run by the engine, then a click on a column heading
re-sorts the table (server-side, through the link), and a second click reverses it."""

import pytest
from playwright.sync_api import expect

from tests.console import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ADD = "tests.testapp.tasks.add"
FAIL = "tests.testapp.tasks.fail_once"


def task_order(page) -> list[str]:
    return page.locator("#performance-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.task)")


def test_clicking_a_heading_sorts_the_table_and_a_second_click_reverses_it(page, login, console_url):
    for _ in range(3):
        factories.succeeded()
    factories.failed(message="Invoice 1 not found")
    login("viewer")
    page.goto(console_url("performance") + "?window=1h&sort=runs")
    assert task_order(page) == [FAIL, ADD]  # fewest runs first
    page.locator('#performance-table th[data-column="runs"] a').click()
    expect(page.locator('#performance-table th[data-column="runs"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    assert "sort=-runs" in page.url
    assert task_order(page) == [ADD, FAIL]
    page.locator('#performance-table th[data-column="success"] a').click()
    expect(page.locator('#performance-table th[data-column="success"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    page.locator('#performance-table th[data-column="success"] a').click()
    expect(page.locator('#performance-table th[data-column="success"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert task_order(page) == [FAIL, ADD]
    expect(page.locator(f'#performance-table tr[data-task="{FAIL}"]')).to_contain_text("0.0 %")
    expect(page.locator("#failure-groups")).to_contain_text("Invoice <n> not found")
