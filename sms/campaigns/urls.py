from django.urls import path

from sms.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_new, name="new"),
    path("estimate/", views.campaign_estimate, name="estimate"),
    path("<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("<int:campaign_id>/edit/", views.campaign_edit, name="edit"),
    path("<int:campaign_id>/pause/", views.campaign_pause, name="pause"),
    path("<int:campaign_id>/resume/", views.campaign_resume, name="resume"),
    path("<int:campaign_id>/cancel/", views.campaign_cancel, name="cancel"),
    path("<int:campaign_id>/send-again/", views.campaign_resend, name="resend"),
]
