"""The live feed of agent actions: filters, new rows as they happen, flag for review."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from dashboard.activity.services import (
    FeedCursor,
    feed_update,
    flag_action,
    links,
    resolve_flag,
)
from dashboard.actors import Actor
from dashboard.agents.forms import FlagForm
from dashboard.agents.models import ActionFlag, ActionOutcome, Agent, AgentAction
from dashboard.agents.pipeline import ACTIONS
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error, valid_fields

PAGE_SIZE = 50


class FeedFilter(forms.Form):
    agent = forms.ModelChoiceField(Agent.objects.all(), required=False, empty_label="Any agent")
    action = forms.ChoiceField(required=False)
    outcome = forms.ChoiceField(
        choices=[("", "Any outcome"), *ActionOutcome.choices], required=False
    )
    flagged = forms.BooleanField(required=False, label="Flagged, not yet reviewed")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The selects stand without visible labels: name them for screen readers.
        for name in ("agent", "action", "outcome"):
            self.fields[name].widget.attrs["aria-label"] = name.capitalize()
        self.fields["action"].choices = [("", "Any action"), *((n, n) for n in sorted(ACTIONS))]


def _feed_rows() -> QuerySet[AgentAction]:
    """Actions with what a feed row shows, in a fixed number of queries."""
    return AgentAction.objects.select_related(
        "agent", "prompt_version", "approval"
    ).prefetch_related(Prefetch("flags", queryset=ActionFlag.objects.select_related("flagged_by")))


def _actions(form: FeedFilter) -> QuerySet[AgentAction]:
    qs = _feed_rows()
    # The filters that are valid still apply: a stale link (an agent deleted since, say) must
    # not silently widen the feed to everything. The page names the one it could not apply.
    data = valid_fields(form)
    if data.get("agent"):
        qs = qs.filter(agent=data["agent"])
    if data.get("action"):
        qs = qs.filter(action=data["action"])
    if data.get("outcome"):
        qs = qs.filter(outcome=data["outcome"])
    if data.get("flagged"):
        qs = qs.filter(flags__resolved_at__isnull=True, flags__isnull=False).distinct()
    return qs.order_by("-id")


def _poll_url(request: HttpRequest) -> str:
    """The poll URL of a page drawn for these filters. The poller carries its filters rather
    than reading the form when it fires: its cursor only means something for the filters it
    was drawn for, so a filter changed meanwhile cannot pair the old cursor with new rows."""
    query = QueryDict(mutable=True)
    for name in FeedFilter.base_fields:
        values = [v for v in request.GET.getlist(name) if v]
        if values:
            query.setlist(name, values)
    url = reverse("activity:poll")
    return f"{url}?{query.urlencode()}" if query else url


def _with_links(actions: list[AgentAction]) -> list[AgentAction]:
    for action in actions:
        action.links = links(action)
    return actions


@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    form = FeedFilter(request.GET or None)
    page = Paginator(_actions(form), PAGE_SIZE).get_page(request.GET.get("page"))
    actions = _with_links(list(page.object_list))
    cursor = FeedCursor.for_page([a.pk for a in actions], older_pages=page.has_next())
    context = {
        "form": form,
        "page": page,
        "actions": actions,
        "cursor": cursor,
        "poll_url": _poll_url(request),
    }
    template = "activity/feed.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_GET
def poll(request: HttpRequest) -> HttpResponse:
    """The actions (matching the filters) the page lacks: newer ones for the top of the
    table, and older ones that committed after the page moved past them, each in its place."""
    cursor = FeedCursor.parse(request.GET.get("after", ""), request.GET.get("seen"))
    form = FeedFilter(request.GET or None)
    update = feed_update(actions=_actions(form), cursor=cursor, limit=PAGE_SIZE)
    _with_links([*update.newer, *(action for _, action in update.late)])
    context = {
        "form": form,
        "update": update,
        "cursor": update.cursor,
        "poll_url": _poll_url(request),
    }
    return render(request, "activity/_poll.html", context)


@require_POST
def flag(request: HttpRequest, action_id: int) -> HttpResponse:
    action = AgentAction.objects.filter(pk=action_id).first()
    if action is None:
        raise Http404("No such agent action.")
    form = FlagForm(request.POST)
    if form.is_valid():
        try:
            flag_action(
                actor=Actor.staff(request.user), action=action, comment=form.cleaned_data["comment"]
            )
        except SwitchboardError as exc:
            add_domain_error(form, exc)
    if not request.htmx:
        if form.errors:
            flash.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        else:
            flash.success(request, "Flagged for review.")
        return redirect("activity:feed")
    action = _with_links([_feed_rows().get(pk=action_id)])[0]
    response = render(request, "activity/_action_row.html", {"a": action, "flag_form": form})
    if not form.errors:
        trigger_client_event(
            response, "toast", {"message": "Flagged for review.", "level": "success"}
        )
    return response


@require_POST
def resolve(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = ActionFlag.objects.select_related("agent_action").filter(pk=flag_id).first()
    if flag is None:
        raise Http404("No such flag.")
    resolved = resolve_flag(actor=Actor.staff(request.user), flag=flag)
    message = "Marked as reviewed." if resolved else "Someone already marked this as reviewed."
    if not request.htmx:
        flash.success(request, message)
        return redirect("activity:feed")
    action = _with_links([_feed_rows().get(pk=flag.agent_action_id)])[0]
    response = render(request, "activity/_action_row.html", {"a": action})
    return trigger_client_event(response, "toast", {"message": message, "level": "success"})
