from django.urls import path

from sms.views import credits, lookup, messages, optouts, send, webhooks

app_name = "sms"

urlpatterns = [
    path("sms/", messages.history, name="history"),
    path("sms/messages/<int:message_id>/", messages.message_detail, name="message"),
    path("sms/messages/<int:message_id>/cancel/", messages.message_cancel, name="cancel"),
    path("sms/send/", send.send_page, name="send"),
    path("sms/send/preview/", send.preview, name="preview"),
    path("sms/lookup/", lookup.lookup, name="lookup"),
    path("sms/opt-outs/", optouts.optout_list, name="optouts"),
    path("sms/opt-outs/<int:optout_id>/remove/", optouts.optout_remove, name="optout_remove"),
    path("sms/credits/", credits.credits_page, name="credits"),
    path("sms/credits/provider/", credits.provider_balance, name="provider_balance"),
    path("sms/credits/top-up/", credits.top_up, name="top_up"),
    path("sms/credits/prices/", credits.price_set, name="price_set"),
    path("sms/hooks/<str:gateway>/status/", webhooks.status_callback, name="status_callback"),
    path("sms/hooks/<str:gateway>/inbound/", webhooks.inbound, name="inbound"),
]
