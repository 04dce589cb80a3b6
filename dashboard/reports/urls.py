from django.urls import path

from dashboard.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_index, name="index"),
    path("embeds/", views.embed_links, name="embeds"),
    path("embeds/<int:link_id>/revoke/", views.embed_revoke, name="embed_revoke"),
    path("<slug:key>/", views.report_detail, name="detail"),
    path("<slug:key>/table-<int:table>.csv", views.report_csv, name="csv"),
    path("<slug:key>/embed/", views.embed_create, name="embed_create"),
]
