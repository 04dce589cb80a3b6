"""Tags: index with member counts, create, rename, delete."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.forms import TagCreateForm, TagForm, TagMergeForm, TagRenameForm
from contacts.models import Tag
from contacts.segments.references import segments_using
from contacts.services import tags as tag_service
from contacts.services.dependents import dependents_with_segments
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error


def _index(request: HttpRequest, form: TagForm, status: int = 200) -> HttpResponse:
    tags = Tag.objects.annotate(members=Count("contact_tags")).order_by("name")
    return render(request, "contacts/tag_index.html", {"tags": tags, "form": form}, status=status)


def _tag_or_gone(request: HttpRequest, tag_id: int) -> Tag | HttpResponse:
    """The tag, or for one deleted or merged since the page was drawn the index saying so
    (not a bare "Not Found" for a click on a colleague's stale page)."""
    tag = Tag.objects.filter(pk=tag_id).first()
    if tag is not None:
        return tag
    if note := tag_service.gone_note(tag_id):
        messages.info(request, note)
        return redirect("contacts:tags")
    raise Http404("No such tag.")


@require_GET
def tag_index(request: HttpRequest) -> HttpResponse:
    return _index(request, TagCreateForm(initial={"after_tag": tag_service.newest_tag_id()}))


@require_POST
def tag_create(request: HttpRequest) -> HttpResponse:
    form = TagCreateForm(request.POST)
    if form.is_valid():
        try:
            tag = tag_service.create_tag(actor=Actor.staff(request.user), **form.cleaned_data)
        except SwitchboardError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, f"Created tag {tag.name}.")
            return redirect("contacts:tags")
    return _index(request, form, status=422)


@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, tag_id: int) -> HttpResponse:
    tag = _tag_or_gone(request, tag_id)
    if isinstance(tag, HttpResponse):
        return tag
    form = _rename_form(tag, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tag_service.rename_tag(actor=Actor.staff(request.user), tag=tag, **form.cleaned_data)
        except SwitchboardError as exc:
            if exc.code == "duplicate_tag":  # two tags for one thing: say how to combine them
                exc.message += " To combine the two, merge this tag into it below."
            add_domain_error(form, exc)
            if "version" in exc.details:
                # Seen now: saving again is a deliberate choice to replace the colleague's.
                form.data = form.data.copy()
                form.data["expected_version"] = exc.details["version"]
                tag.refresh_from_db()
        else:
            messages.success(request, "Tag renamed.")
            return redirect("contacts:tags")
    return _edit_page(request, tag, form)


def _rename_form(tag: Tag, data=None) -> TagRenameForm:
    initial = {"name": tag.name, "expected_version": tag_service.tag_version(tag)}
    return TagRenameForm(data, initial=initial)


def _edit_page(
    request: HttpRequest, tag: Tag, form: TagForm, merge_error: str = ""
) -> HttpResponse:
    segments = segments_using("tag", tag)
    context = {
        "tag": tag,
        "form": form,
        "members": tag.contact_tags.count(),
        "segments": segments,
        "dependents": dependents_with_segments("tag", tag.pk, segments),
        "other_tags": Tag.objects.exclude(pk=tag.pk).order_by("name").only("name"),
        "merge_error": merge_error,
    }
    return render(request, "contacts/tag_edit.html", context, status=422 if merge_error else 200)


@require_POST
def tag_merge(request: HttpRequest, tag_id: int) -> HttpResponse:
    """Merge this tag into another: the answer to "rename to a name in use"."""
    tag = _tag_or_gone(request, tag_id)
    if isinstance(tag, HttpResponse):
        return tag
    merge = TagMergeForm(request.POST)
    if not merge.is_valid():
        error = " ".join(merge.errors["into"])
        return _edit_page(request, tag, _rename_form(tag), error)
    target = merge.cleaned_data["into"]
    try:
        moved = tag_service.merge_tags(actor=Actor.staff(request.user), source=tag, target=target)
    except SwitchboardError as exc:
        return _edit_page(request, tag, _rename_form(tag), exc.message)
    messages.success(
        request,
        f"Merged {tag.name} into {target.name}: {moved:,} contact{'' if moved == 1 else 's'} "
        f"gained {target.name}.",
    )
    return redirect("contacts:tags")


@require_POST
def tag_delete(request: HttpRequest, tag_id: int) -> HttpResponse:
    tag = _tag_or_gone(request, tag_id)
    if isinstance(tag, HttpResponse):
        return tag
    tag_service.delete_tag(actor=Actor.staff(request.user), tag=tag)
    messages.success(request, f"Deleted tag {tag.name}. Its contacts were kept.")
    return redirect("contacts:tags")
