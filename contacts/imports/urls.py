from django.urls import path

from contacts.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("upload/", views.import_upload, name="upload"),
    path("<int:job_id>/", views.import_detail, name="detail"),
    path("<int:job_id>/map/", views.import_mapping, name="mapping"),
    path("<int:job_id>/errors.csv", views.import_errors, name="errors"),
    path("<int:job_id>/cancel/", views.import_cancel, name="cancel"),
    path("<int:job_id>/resume/", views.import_resume, name="resume"),
    path("<int:job_id>/revert/", views.import_revert, name="revert"),
]
