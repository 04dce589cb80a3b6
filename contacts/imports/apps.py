from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "contacts.imports"
    label = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        from contacts.imports.erasure import scrub_import_issues
        from contacts.services.erasure import register_scrubber

        register_scrubber(scrub_import_issues)
