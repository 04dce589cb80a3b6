from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "sms.campaigns"
    label = "campaigns"
    verbose_name = "SMS campaigns"

    def ready(self) -> None:
        from contacts.services.erasure import register_scrubber
        from sms.campaigns.erasure import scrub_campaign_audiences

        register_scrubber(scrub_campaign_audiences)
