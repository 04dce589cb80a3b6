"""Create the staff groups and a demo admin login if no user exists; print the login."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

LOGIN_FILE = settings.VAR_DIR / "demo-login.txt"


class Command(BaseCommand):
    help = "Ensure the staff/admin groups exist and a demo login (printed) when there are no users."

    def handle(self, *args, **options):
        staff, _ = Group.objects.get_or_create(name=settings.STAFF_GROUP)
        admin, _ = Group.objects.get_or_create(name=settings.ADMIN_GROUP)
        User = get_user_model()
        if not User.objects.exists():
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user("demo", email="demo@example.com", password=password)
            user.groups.add(staff, admin)
            LOGIN_FILE.write_text(f"demo {password}\n")
            LOGIN_FILE.chmod(0o600)
        if LOGIN_FILE.exists():
            username, password = LOGIN_FILE.read_text().split()
            self.stdout.write(self.style.SUCCESS(f"Log in as: {username} / {password}"))
        else:
            self.stdout.write(
                "Users already exist; log in with your account (manage.py createsuperuser adds one)."
            )
