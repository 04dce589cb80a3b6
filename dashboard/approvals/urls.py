from django.urls import path

from dashboard.approvals import views

app_name = "approvals"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("poll/", views.poll, name="poll"),
    path("<int:request_id>/approve/", views.approve, name="approve"),
    path("<int:request_id>/reject/", views.reject, name="reject"),
    path("bulk/", views.bulk, name="bulk"),
]
