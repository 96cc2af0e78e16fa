from django.apps import AppConfig


class PurchaseConfig(AppConfig):
    name = "purchase"
    verbose_name = "Purchase"
    default_auto_field = "django.db.models.BigAutoField"
