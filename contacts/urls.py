from django.urls import path

from contacts.views import contacts, fields, lists, tags

app_name = "contacts"

urlpatterns = [
    path("contacts/", contacts.contact_list, name="list"),
    path("contacts/new/", contacts.contact_create, name="create"),
    path("contacts/<uuid:contact_id>/", contacts.contact_detail, name="detail"),
    path("contacts/<uuid:contact_id>/details/", contacts.contact_details, name="details"),
    path("contacts/<uuid:contact_id>/edit/", contacts.contact_edit, name="edit"),
    path("contacts/<uuid:contact_id>/fields/", contacts.contact_fields_edit, name="fields_edit"),
    path("contacts/<uuid:contact_id>/tags/", contacts.contact_tag_add, name="tag_add"),
    path(
        "contacts/<uuid:contact_id>/tags/<int:tag_id>/remove/",
        contacts.contact_tag_remove,
        name="tag_remove",
    ),
    path("contacts/<uuid:contact_id>/lists/", contacts.contact_list_add, name="list_add"),
    path(
        "contacts/<uuid:contact_id>/lists/<int:list_id>/remove/",
        contacts.contact_list_remove,
        name="list_remove",
    ),
    path(
        "contacts/<uuid:contact_id>/metadata/", contacts.contact_metadata_set, name="metadata_set"
    ),
    path("contacts/<uuid:contact_id>/history/", contacts.contact_history, name="history"),
    path("lists/", lists.list_index, name="lists"),
    path("lists/new/", lists.list_create, name="list_create"),
    path("lists/<int:list_id>/", lists.list_edit, name="list_edit"),
    path("lists/<int:list_id>/delete/", lists.list_delete, name="list_delete"),
    path("tags/", tags.tag_index, name="tags"),
    path("tags/new/", tags.tag_create, name="tag_create"),
    path("tags/<int:tag_id>/", tags.tag_edit, name="tag_edit"),
    path("tags/<int:tag_id>/delete/", tags.tag_delete, name="tag_delete"),
    path("fields/", fields.field_index, name="fields"),
    path("fields/new/", fields.field_create, name="field_create"),
    path("fields/<int:field_id>/", fields.field_edit, name="field_edit"),
    path("fields/<int:field_id>/delete/", fields.field_delete, name="field_delete"),
]
