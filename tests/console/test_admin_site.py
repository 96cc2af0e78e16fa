"""The Django admin around the console: branded, jobs listed once, no django-q2 models."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_admin_is_branded_dhanman(client_for):
    html = client_for("superuser").get(reverse("admin:index")).content.decode()
    assert re.search(r"<title>[^<]*\| Dhanman</title>", html)
    assert re.search(r'<div id="site-name"><a href="/admin/">Dhanman</a></div>', html)
    assert "Django administration" not in html and "Django site admin" not in html


def test_django_q2_admin_models_are_gone():
    """Their "Scheduled tasks > Add" made schedules our broker never runs."""
    from django_q.models import Failure, OrmQ, Schedule, Success

    for model in (Schedule, Success, Failure, OrmQ):
        assert not admin.site.is_registered(model), model


def test_django_q2_admin_pages_are_404(client_for):
    client = client_for("superuser")
    assert "/admin/django_q/" not in client.get(reverse("admin:index")).content.decode()
    for path in ("/admin/django_q/schedule/add/", "/admin/django_q/schedule/", "/admin/django_q/ormq/"):
        assert client.get(path).status_code == 404, path


def test_the_jobs_appear_once_on_the_admin_index(client_for):
    html = client_for("superuser").get(reverse("admin:index")).content.decode()
    assert html.count('id="jobs-console-link"') == 1
    # The engine's ModelAdmins (redirect doors into the console) are not listed a second time.
    for door in (
        "/admin/jobs/job/",
        "/admin/jobs/batch/",
        "/admin/jobs/recurringjob/",
        "/admin/jobs/server/",
    ):
        assert door not in html, door
    assert 'class="app-jobs ' not in html
    for name in (
        "jobs_console:retries",
        "jobs_console:recurring_list",
        "jobs_console:servers",
        "jobs_console:batch_list",
    ):
        assert html.count(f'href="{reverse(name)}"') == 1, name


def test_every_admin_model_has_a_proper_plural():
    """Django appends "s": "visitor passs", "societys". Each such name declares its plural."""
    for model in admin.site._registry:
        singular, plural = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
        naive = singular + "s"
        if re.search(r"(s|x|z|ch|sh|[^aeiou]y)$", singular):
            assert plural != naive, f"{model._meta.label}: {plural!r}"
    from community.models import VisitorPass

    assert VisitorPass._meta.verbose_name_plural == "visitor passes"


def test_a_console_user_is_never_told_they_may_see_nothing(client_for):
    """A viewer's only admin app is the jobs: the index shows the console module, not "You don't
    have permission…", and the navigation sidebar of the console pages lists the jobs."""
    client = client_for("viewer")
    for url in (reverse("admin:index"), reverse("jobs_console:dashboard"), reverse("jobs_console:retries")):
        html = client.get(url).content.decode()
        assert "have permission to view or edit anything" not in html, url
    sidebar = client.get(reverse("jobs_console:retries")).content.decode()
    assert 'id="nav-sidebar"' in sidebar and 'href="/admin/jobs/job/"' in sidebar
