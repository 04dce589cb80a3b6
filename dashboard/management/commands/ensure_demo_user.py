"""Create the staff groups and a demo admin login if no user exists; print the login."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import connection

# One line per database: "<username> <password> <database>". `make run` may meet several
# databases (the default SQLite, then DATABASE_URL=postgres://…) with one var/ directory.
LOGIN_FILE = settings.VAR_DIR / "demo-login.txt"


class Command(BaseCommand):
    help = "Ensure the staff/admin groups exist and a demo login (printed) when there are no users."

    def handle(self, *args, **options):
        staff, _ = Group.objects.get_or_create(name=settings.STAFF_GROUP)
        admin, _ = Group.objects.get_or_create(name=settings.ADMIN_GROUP)
        User = get_user_model()
        database = _database()
        logins = _read_logins()
        if not User.objects.exists():
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user("demo", email="demo@example.com", password=password)
            user.groups.add(staff, admin)
            logins[database] = ("demo", password)
            LOGIN_FILE.write_text("".join(f"{u} {p} {db}\n" for db, (u, p) in logins.items()))
            LOGIN_FILE.chmod(0o600)
        # A file from before logins were kept per database has one line and no database.
        login = logins.get(database) or logins.get("")
        user = User.objects.filter(username=login[0]).first() if login else None
        if user is not None and user.check_password(login[1]):
            self.stdout.write(self.style.SUCCESS(f"Log in as: {login[0]} / {login[1]}"))
        else:
            # Never print a login that would be refused (a changed password, or one kept for
            # another database).
            self.stdout.write(
                "Users already exist; log in with your account (manage.py createsuperuser adds "
                "one; manage.py changepassword demo sets the demo login's password)."
            )


def _database() -> str:
    db = connection.settings_dict
    return f"{connection.vendor}://{db.get('HOST') or ''}:{db.get('PORT') or ''}/{db['NAME']}"


def _read_logins() -> dict[str, tuple[str, str]]:
    if not LOGIN_FILE.exists():
        return {}
    logins = {}
    for line in LOGIN_FILE.read_text().splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) >= 2:
            logins[parts[2] if len(parts) == 3 else ""] = (parts[0], parts[1])
    return logins
