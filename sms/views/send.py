"""The Send SMS page and its live preview (encoding, segments, price) while typing."""

from __future__ import annotations

import contextlib
import uuid

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from contacts.models import Contact
from contacts.phones import normalise_phone
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError
from dashboard.forms import add_domain_error, valid_fields
from sms.forms import SendForm
from sms.services import credits
from sms.services.encoding import analyse
from sms.services.messages import (
    contact_for_number,
    placeholder_values,
    prepare_message,
    render_text,
    send_sms,
)


def _recipient(data: dict) -> tuple[Contact | None, str]:
    """The contact (by id, or by an email typed in "To") and the number typed, if any."""
    contact_id, to = data.get("contact"), (data.get("to") or "").strip()
    if contact_id:
        return Contact.objects.filter(pk=contact_id).first(), ""
    if "@" in to:
        contact = Contact.objects.filter(email=to.lower()).first()
        if contact is None:
            raise SwitchboardError("unknown_contact", f"No contact has the email {to}.", field="to")
        return contact, ""
    return None, to


@require_http_methods(["GET", "POST"])
def send_page(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.method == "GET" and request.GET.get("contact"):
        with contextlib.suppress(ValueError):
            initial["contact"] = uuid.UUID(request.GET["contact"])
    if request.method == "GET" and request.GET.get("to"):
        initial["to"] = request.GET["to"][:40]
    form = SendForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact, to = _recipient(form.cleaned_data)
            outcome = send_sms(
                actor=Actor.staff(request.user), to=to or None, contact=contact,
                text=form.cleaned_data["text"], kind=form.cleaned_data["kind"],
                allow_non_mobile=form.cleaned_data["allow_non_mobile"],
                schedule_at=form.cleaned_data["schedule_at"],
                idempotency_key=request.POST.get("idempotency_key") or None,
            )  # fmt: skip
        except SwitchboardError as exc:
            add_domain_error(form, exc)
            if exc.code == "not_mobile":  # staff, unlike agents, can confirm it
                form.add_error("allow_non_mobile", "Tick this to send it anyway.")
        else:
            due = outcome.message.send_after
            flash.success(
                request,
                f"Scheduled for {timezone.localtime(due):%d %b %Y %H:%M %Z}; it can be cancelled "
                "until then."
                if due
                else "Queued; this page follows it to delivery.",
            )
            return redirect("sms:message", message_id=outcome.message.pk)
    contact = None
    with contextlib.suppress(ValueError):  # a tampered hidden field is ignored, not a 500
        if contact_id := form["contact"].value():
            contact = Contact.objects.filter(pk=uuid.UUID(str(contact_id))).first()
    return render(request, "sms/send.html", {
        "form": form, "contact": contact, "idempotency_key": uuid.uuid4().hex,
    })  # fmt: skip


@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """What the recipient will read, how it is encoded and what it costs; problems as notes."""
    form = SendForm(request.POST)
    data = valid_fields(form)
    context: dict = {"balance": credits.get_balance()}
    try:
        contact, to = _recipient(data)
        if contact is None and to:
            # The send texts the contact who has this number, with their placeholders: so
            # must the preview. A number that does not parse is explained by the plan below.
            with contextlib.suppress(SwitchboardError):
                if phone := normalise_phone(to):
                    contact = contact_for_number(phone.e164)
        context["contact"] = contact
        text = data.get("text") or ""
        rendered = render_text(text, placeholder_values(contact))
        context["rendered"] = rendered
        context["shape"] = analyse(rendered)
        if text.strip() and (contact or to):
            plan = context["plan"] = prepare_message(
                text=text, to=to or None, contact=contact, kind=data.get("kind") or "transactional",
                allow_non_mobile=bool(data.get("allow_non_mobile")),
                schedule_at=data.get("schedule_at"),
            )  # fmt: skip
            if plan.balance_after < 0:  # the send would be refused: say so before it is tried
                raise credits.shortfall(needed=plan.price, balance=plan.balance)
    except SwitchboardError as exc:
        context["problem"] = exc
    return render(request, "sms/send.html#preview", context)
