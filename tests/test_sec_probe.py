import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

pytestmark = pytest.mark.django_db


def test_probe(staff_user, settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    c = Client(enforce_csrf_checks=True)
    c.force_login(staff_user)
    r = c.post("/imports/upload/", {"file": SimpleUploadedFile("a.csv", b"email\na@example.com\n")})
    print("upload no csrf", r.status_code, list(tmp_path.iterdir()))
    r = c.post("/imports/1/map/", {"col_0": "email"})
    print("map no csrf", r.status_code)
