from django.urls import path

from contacts.views import contacts, duplicates, erasure, exports, fields, lists, segments, tags

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
    path("tags/<int:tag_id>/merge/", tags.tag_merge, name="tag_merge"),
    path("tags/<int:tag_id>/delete/", tags.tag_delete, name="tag_delete"),
    path("fields/", fields.field_index, name="fields"),
    path("fields/new/", fields.field_create, name="field_create"),
    path("fields/<int:field_id>/", fields.field_edit, name="field_edit"),
    path("fields/<int:field_id>/delete/", fields.field_delete, name="field_delete"),
    path("contacts/<uuid:contact_id>/erase/", erasure.contact_erase, name="erase"),
    path("segments/", segments.segment_index, name="segments"),
    path("segments/new/", segments.segment_create, name="segment_create"),
    path("segments/preview/", segments.segment_preview, name="segment_preview"),
    path("segments/<int:segment_id>/", segments.segment_detail, name="segment_detail"),
    path("segments/<int:segment_id>/count/", segments.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/edit/", segments.segment_edit, name="segment_edit"),
    path("segments/<int:segment_id>/snapshot/", segments.segment_snapshot, name="segment_snapshot"),
    path("segments/<int:segment_id>/delete/", segments.segment_delete, name="segment_delete"),
    path("duplicates/", duplicates.duplicate_index, name="duplicates"),
    path(
        "duplicates/<uuid:survivor_id>/<uuid:duplicate_id>/",
        duplicates.duplicate_merge,
        name="duplicate_merge",
    ),
    path(
        "duplicates/<uuid:first_id>/<uuid:second_id>/dismiss/",
        duplicates.duplicate_dismiss,
        name="duplicate_dismiss",
    ),
    path(
        "duplicates/<uuid:first_id>/<uuid:second_id>/undo-dismiss/",
        duplicates.duplicate_undo_dismiss,
        name="duplicate_undo_dismiss",
    ),
    path("exports/<str:kind>/<int:source_id>.csv", exports.export_csv, name="export"),
]
