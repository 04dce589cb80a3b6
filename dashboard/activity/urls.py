from django.urls import path

from dashboard.activity import views

app_name = "activity"

urlpatterns = [
    path("", views.feed, name="feed"),
    path("poll/", views.poll, name="poll"),
    path("<int:action_id>/flag/", views.flag, name="flag"),
    path("flags/<int:flag_id>/resolve/", views.resolve, name="resolve"),
]
