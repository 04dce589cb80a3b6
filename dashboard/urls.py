from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from dashboard.agents.views.connect import mcp_elsewhere
from dashboard.api import urls as agent_api
from dashboard.reports import views as report_views
from dashboard.views import home, operations

urlpatterns = [
    path("", home.home, name="home"),
    path("healthz", operations.healthz, name="healthz"),
    path("operations/", include("dashboard.operations.urls")),
    path("reports/", include("dashboard.reports.urls")),
    path("embed/<str:token>/", report_views.embed, name="embed"),
    # Not django.contrib.auth.urls whole: its password reset e-mails a link, and no mail is set
    # up, so it said "We've emailed you instructions" when nothing was sent. Admins reset
    # passwords (`manage.py changepassword`).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("contacts.urls")),
    path("imports/", include("contacts.imports.urls")),
    path("", include("sms.urls")),
    path("campaigns/", include("sms.campaigns.urls")),
    path("approvals/", include("dashboard.approvals.urls")),
    path("agents/", include("dashboard.agents.urls")),
    path("activity/", include("dashboard.activity.urls")),
    path("django-admin/", admin.site.urls),
    path("api/v1/", agent_api.urls),
    # Only reached through the WSGI site: dashboard.asgi answers /mcp itself.
    re_path(r"^mcp(?:/(?P<rest>.*))?$", mcp_elsewhere, name="mcp_elsewhere"),
]
