from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = "SMS"

    def ready(self) -> None:
        from contacts.services.erasure import register_scrubber
        from sms.erasure import scrub_sms

        register_scrubber(scrub_sms)
