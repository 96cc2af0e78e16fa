"""Pausing and resuming a queue from the dashboard in Chromium: the reason is required, the
banner shows on every page while the queue is paused, and resume takes it away."""

import pytest
from playwright.sync_api import expect

from jobs.models import QueuePause

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_operator_pauses_and_resumes_a_queue_from_the_dashboard(page, login, console_url):
    login("operator")
    page.goto(console_url("dashboard"))
    row = page.locator('#queues-table tr[data-queue="low-priority"]')
    row.get_by_role("button", name="Pause").click()
    # The reason is required: the browser does not send the form without one.
    assert not QueuePause.objects.exists()
    row.get_by_label("Reason").fill("month-end run")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator("#paused-queues")).to_contain_text("Queue low-priority is paused: month-end run")
    expect(page.locator('#queues-table tr[data-queue="low-priority"]')).to_have_class("paused")
    page.goto(console_url("servers"))
    expect(page.locator("#paused-queues")).to_contain_text("low-priority")
    page.goto(console_url("dashboard"))
    page.locator('#queues-table tr[data-queue="low-priority"]').get_by_role("button", name="Resume").click()
    expect(page.locator("#paused-queues")).to_have_count(0)
    assert not QueuePause.objects.exists()
