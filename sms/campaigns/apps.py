from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "sms.campaigns"
    label = "campaigns"
    verbose_name = "SMS campaigns"

    def ready(self) -> None:
        from contacts.services.dependents import register_finder, register_tag_merge_follower
        from contacts.services.erasure import register_scrubber
        from sms.campaigns.dependents import follow_tag_merge, scheduled_campaigns
        from sms.campaigns.erasure import scrub_campaign_audiences

        register_scrubber(scrub_campaign_audiences)
        register_finder(scheduled_campaigns)
        register_tag_merge_follower(follow_tag_merge)
