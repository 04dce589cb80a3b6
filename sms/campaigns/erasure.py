"""Erasure (GDPR): remove a person from campaign audiences.

Registered with ``contacts.services.erasure`` from ``CampaignsConfig.ready``. A started
campaign keeps its frozen audience (``Recipient``: number and personalised text) to create
its batches and to send again to the failed. The erased person's rows go: a batch not yet
created then makes no message for them, and their share of the reservation comes back with
the rest of the unused reservation when the campaign completes. Messages already created are
blanked by ``sms/erasure.py``.
"""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q

from sms.campaigns.models import Batch, BatchStatus, Campaign, Recipient
from sms.erasure import number_is_theirs


def scrub_campaign_audiences(subject) -> None:
    theirs = Q(contact_id=subject.contact_id)
    if number_is_theirs(subject):  # a shared number's row may be another contact's text
        theirs |= Q(phone=subject.phone)
    rows = Recipient.objects.filter(theirs)
    # A row whose batch is not made yet will make no message: the campaign has one recipient
    # fewer (or its progress never reaches 100%). One already made keeps its blanked message.
    made = Batch.objects.filter(
        campaign_id=OuterRef("campaign_id"), number=OuterRef("batch"), status=BatchStatus.DONE
    )
    for campaign_id, n in (
        rows.exclude(Exists(made)).values_list("campaign_id").annotate(n=Count("id")).order_by()
    ):
        Campaign.objects.filter(pk=campaign_id, recipients__gte=n).update(
            recipients=F("recipients") - n
        )
    rows.delete()
