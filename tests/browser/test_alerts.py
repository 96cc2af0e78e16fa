"""SLA alerts in Chromium: the banner on every console page until the alert is resolved from the
Alerts page by an operator, with a reason."""

import pytest
from playwright.sync_api import expect

from jobs.models import Alert
from tests.console import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SLOW = "tests.testapp.tasks.slow_for_sla"


def test_the_banner_shows_on_every_page_until_an_operator_resolves_the_alert(page, login, console_url):
    alert = factories.alert(subject=SLOW, value=12.5, threshold=1.0)
    operator = login("operator")
    for name in ("dashboard", "servers", "retries", "batch_list"):
        page.goto(console_url(name))
        banner = page.locator("#alert-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("1 open SLA alert")
        expect(banner).to_contain_text(SLOW)
    page.locator("#alert-banner a").click()
    row = page.locator(f'#open-alerts tr[data-alert="{alert.pk}"]')
    expect(row).to_contain_text("12.5")
    row.locator('form[action$="/acknowledge/"] input[name=reason]').fill("Looking at the import")
    row.locator('button[value="acknowledge"]').click()
    expect(page.locator("#alert-banner")).to_contain_text("(acknowledged)")
    row = page.locator(f'#open-alerts tr[data-alert="{alert.pk}"]')
    row.locator('form[action$="/resolve/"] input[name=reason]').fill("Fixed the slow query")
    row.locator('button[value="resolve"]').click()
    expect(page.locator("#alert-banner")).to_have_count(0)
    expect(page.locator("#resolved-alerts")).to_contain_text("Fixed the slow query")
    page.goto(console_url("dashboard"))
    expect(page.locator("#alert-banner")).to_have_count(0)
    alert = Alert.objects.get(pk=alert.pk)
    assert alert.resolved_by_id == operator.pk and alert.acknowledged_by_id == operator.pk
