from django.contrib import admin
from django.urls import include, path

from dashboard.views import home

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("contacts.urls")),
    path("django-admin/", admin.site.urls),
]
