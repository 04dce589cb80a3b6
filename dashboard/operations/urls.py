from django.urls import path

from dashboard.views import operations

app_name = "operations"

urlpatterns = [
    path("queue/", operations.queue_page, name="queue"),
    path("queue/<str:task_id>/retry/", operations.queue_retry, name="queue_retry"),
]
