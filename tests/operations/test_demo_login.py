"""`manage.py ensure_demo_user`: the login `make run` prints must let the newcomer in."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from dashboard.management.commands import ensure_demo_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def login_file(tmp_path, monkeypatch):
    path = tmp_path / "demo-login.txt"
    monkeypatch.setattr(ensure_demo_user, "LOGIN_FILE", path)
    return path


def run() -> str:
    out = io.StringIO()
    call_command("ensure_demo_user", stdout=out)
    return out.getvalue()


def printed_login(output: str) -> tuple[str, str]:
    username, password = output.split("Log in as: ")[1].split(" / ")
    return username.strip(), password.strip()


def test_it_creates_the_demo_admin_and_prints_a_login_that_works():
    username, password = printed_login(run())
    assert get_user_model().objects.get(username=username).check_password(password)
    assert printed_login(run()) == (username, password)


def test_a_login_made_for_another_database_is_not_printed(login_file):
    # `make run` once with DATABASE_URL=postgres://…, then again on the default SQLite: the file
    # in var/ holds the other database's password.
    run()
    user = get_user_model().objects.get(username="demo")
    user.set_password("another database's password")
    user.save()
    output = run()
    assert "Log in as" not in output
    assert "manage.py changepassword demo" in output


def test_each_database_keeps_its_own_demo_login(login_file):
    _, first = printed_login(run())
    other_database = "postgres://somewhere/else"
    login_file.write_text(login_file.read_text() + f"demo other-password {other_database}\n")
    assert printed_login(run()) == ("demo", first)


def test_a_changed_demo_password_is_no_longer_printed():
    _, password = printed_login(run())
    user = get_user_model().objects.get(username="demo")
    user.set_password("a password the team chose")
    user.save()
    assert password not in run()
