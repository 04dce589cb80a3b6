from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "sms.campaigns"
    label = "campaigns"
    verbose_name = "SMS campaigns"
