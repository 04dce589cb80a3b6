from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "contacts.imports"
    label = "imports"
    verbose_name = "Imports"
