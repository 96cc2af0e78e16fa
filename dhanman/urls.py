from django.contrib import admin
from django.urls import include, path

from dhanman import health
from jobs.metrics import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/jobs/", include("jobs.console.urls")),
    path("admin/", admin.site.urls),
]
