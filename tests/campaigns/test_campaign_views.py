"""The campaign pages through the test client: composer and live estimate, sending, the
campaign page and its controls, the list with pinned query counts."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from sms.campaigns.models import Campaign
from sms.campaigns.services.campaigns import run_campaign
from sms.models import CreditAccount, Message

from .conftest import drive

pytestmark = pytest.mark.django_db


def form(audience, **overrides) -> dict:
    data = {
        "name": "Black Friday", "audience": f"segment:{audience['segment'].pk}",
        "text": "Hi {first_name}, 30% off", "kind": "marketing", "schedule_mode": "now",
        "send_at": "", "time_zone": "Europe/London", "quiet_hours": "", "idempotency_key": "k1",
    }  # fmt: skip
    return data | overrides


def test_the_composer_offers_segments_lists_and_tags(staff_client, audience):
    response = staff_client.get(reverse("campaigns:new"))
    assert response.status_code == 200
    assert f'value="segment:{audience["segment"].pk}"' in response.text
    assert f'value="tag:{audience["tag"].pk}"' in response.text


def test_the_estimate_shows_each_count_the_cost_and_the_balance(htmx_client, audience):
    response = htmx_client.post(reverse("campaigns:estimate"), form(audience))

    assert response.status_code == 200
    html = response.text
    assert 'data-testid="recipients"><strong>4</strong>' in html
    assert 'data-testid="excluded-invalid_phone">2<' in html
    assert 'data-testid="excluded-suppressed">1<' in html
    assert 'data-testid="cost">0.1650 credits<' in html
    assert 'data-testid="balance-after">99.8350<' in html
    assert re.search(r"Hi (Alice|Bob|Chloe|Dan), 30% off", html)  # sample previews


def test_the_estimate_names_an_unknown_placeholder(htmx_client, audience):
    response = htmx_client.post(reverse("campaigns:estimate"), form(audience, text="Hi {nme}"))
    assert "Unknown placeholder {nme}" in response.text


def test_admins_are_offered_a_top_up_when_the_balance_is_short(admin_client, audience):
    CreditAccount.objects.update(balance=Decimal("0.05"))
    response = admin_client.post(reverse("campaigns:estimate"), form(audience))
    assert "The balance does not cover this campaign" in response.text
    assert reverse("sms:credits") in response.text


def test_sending_creates_the_campaign_once_however_often_it_is_clicked(staff_client, audience):
    first = staff_client.post(reverse("campaigns:new"), form(audience))
    second = staff_client.post(reverse("campaigns:new"), form(audience))

    campaign = Campaign.objects.get()
    assert first.status_code == second.status_code == 302
    assert (
        first["Location"] == second["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    )


def test_a_line_break_typed_in_the_composer_is_one_character(staff_client, audience):
    # Browsers post it as CR LF: sent as typed, each line break would cost every recipient's
    # message a character (and a CR), enough to tip a text into a second segment.
    staff_client.post(reverse("campaigns:new"), form(audience, text="Hi {first_name},\r\n30% off"))
    assert Campaign.objects.get().text == "Hi {first_name},\n30% off"


def test_sending_without_enough_credits_is_refused_with_the_reason(staff_client, audience):
    CreditAccount.objects.update(balance=Decimal("0.05"))
    response = staff_client.post(reverse("campaigns:new"), form(audience))

    assert response.status_code == 200
    assert "Not enough credits: this campaign needs 0.165" in response.text
    assert not Campaign.objects.exists()


def test_a_schedule_in_the_past_is_refused_next_to_the_field(staff_client, audience):
    past = (timezone.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(
        reverse("campaigns:new"), form(audience, schedule_mode="at", send_at=past)
    )
    assert "has already passed" in response.text
    assert not Campaign.objects.exists()


def test_a_schedule_past_the_limit_is_refused_next_to_the_field_with_the_limit(
    staff_client, audience, settings
):
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 60
    response = staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="at", send_at="9999-12-31T09:00", time_zone="UTC"),
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["send_at"]
    assert error.startswith("A campaign can be scheduled at most 60 days ahead")
    assert "A campaign can be scheduled at most 60 days ahead, so no later than" in response.text
    assert not Campaign.objects.exists()


def test_a_time_that_the_site_zone_skips_is_taken_in_the_campaign_zone(
    staff_client, audience, settings
):
    # 02:30 on the day New York springs forward does not exist there, but the campaign goes
    # out in London (or at each recipient's 02:30), where it does: the site's zone is no
    # reason to refuse it.
    settings.TIME_ZONE = "America/New_York"
    settings.CAMPAIGN_MAX_SCHEDULE_DAYS = 730  # next year's change of the clocks is months away
    march = dt.date(timezone.now().year + 1, 3, 8)
    spring_forward = march + dt.timedelta(days=(6 - march.weekday()) % 7)  # second Sunday
    when = f"{spring_forward:%Y-%m-%d}T02:30"
    response = staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="at", send_at=when, time_zone="Europe/London"),
    )
    assert response.status_code == 302, response.context["form"].errors
    campaign = Campaign.objects.get()
    assert campaign.start_at == dt.datetime.combine(spring_forward, dt.time(2, 30), tzinfo=dt.UTC)


def test_a_local_time_campaign_shows_the_time_typed_whatever_the_site_zone(
    staff_client, audience, settings
):
    settings.TIME_ZONE = "America/New_York"
    day = timezone.now().date() + dt.timedelta(days=3)
    staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="local", send_at=f"{day:%Y-%m-%d}T09:00", time_zone="UTC"),
    )
    page = staff_client.get(reverse("campaigns:detail", args=[Campaign.objects.get().pk]))
    assert f"(at {day.day} {day:%b} 09:00 in each recipient's time zone)" in page.text


def test_the_list_shows_a_local_time_campaign_at_the_time_typed(staff_client, audience):
    # The list showed when the first time zone reaches it (14 hours early, in UTC+14): a
    # campaign for 09:00 in each recipient's zone was listed as starting the evening before.
    day = timezone.now().date() + dt.timedelta(days=3)
    staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="local", send_at=f"{day:%Y-%m-%d}T09:00", time_zone="UTC"),
    )
    listed = staff_client.get(reverse("campaigns:list")).text
    assert f"{day.day} {day:%b} 09:00 in each recipient's zone" in listed


def test_switching_to_local_time_and_back_keeps_the_time_zone_chosen(staff_client, audience):
    day = timezone.now().date() + dt.timedelta(days=3)
    when = f"{day:%Y-%m-%d}T09:00"
    staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="at", send_at=when, time_zone="America/New_York"),
    )
    campaign = Campaign.objects.get()
    edit = reverse("campaigns:edit", args=[campaign.pk])

    def shown_zone() -> str:
        return staff_client.get(edit).context["form"]["time_zone"].value()

    # The composer sends the zone it shows whatever the mode: the user chose it, keep it.
    local = staff_client.post(edit, form(audience, schedule_mode="local", send_at=when,
                                         time_zone=shown_zone()))  # fmt: skip
    assert local.status_code == 302, local.context["form"].errors
    campaign.refresh_from_db()
    assert (campaign.schedule_mode, campaign.time_zone) == ("local", "America/New_York")
    assert 'value="America/New_York"' in staff_client.get(edit).text

    back = staff_client.post(
        edit, form(audience, schedule_mode="at", send_at=when, time_zone=shown_zone())
    )
    assert back.status_code == 302, back.context["form"].errors
    campaign.refresh_from_db()
    assert (campaign.schedule_mode, campaign.time_zone) == ("at", "America/New_York")
    new_york = zoneinfo.ZoneInfo("America/New_York")
    assert campaign.send_at == dt.datetime.combine(day, dt.time(9), tzinfo=new_york)


def test_an_unknown_time_zone_is_refused(staff_client, audience):
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(
        reverse("campaigns:new"),
        form(audience, schedule_mode="at", send_at=later, time_zone="Mars/Olympus"),
    )
    assert "“Mars/Olympus” is not a time zone" in response.text


def test_the_campaign_page_shows_progress_and_the_report(staff_client, htmx_client, audience):
    staff_client.post(reverse("campaigns:new"), form(audience))
    campaign = drive(Campaign.objects.get())

    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert 'data-testid="campaign-status">Completed<' in page.text
    assert 'value="100"' in page.text
    partial = htmx_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert 'data-testid="sent">4<' in partial.text
    assert "<html" not in partial.text


def test_the_delivery_rate_counts_only_messages_with_a_delivery_report(staff_client, audience):
    # Sent and awaiting the provider's report is not "not delivered": a campaign just finished
    # read 0% delivered, and the SMS report said "—" for the same messages.
    staff_client.post(reverse("campaigns:new"), form(audience))
    campaign = drive(Campaign.objects.get())
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}

    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert 'data-testid="delivery-rate">—' in page.text
    assert "4 awaiting a delivery report" in page.text

    first, second, *_ = Message.objects.order_by("pk")
    Message.objects.filter(pk=first.pk).update(status="delivered")
    Message.objects.filter(pk=second.pk).update(status="undelivered")
    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert 'data-testid="delivery-rate">50.0%' in page.text
    assert "2 awaiting a delivery report" in page.text


def test_the_page_counts_the_messages_not_sent_because_the_number_said_stop_meanwhile(
    staff_client, htmx_client, audience
):
    # Bob replied STOP after the audience was frozen: his message is cancelled at send time.
    # The page said 4 recipients, 3 sent and nothing else, so one message went unexplained.
    from sms.services import optouts

    from .conftest import SYSTEM

    staff_client.post(reverse("campaigns:new"), form(audience))
    campaign = Campaign.objects.get()
    run_campaign(campaign_id=campaign.pk)
    optouts.add_opt_out(actor=SYSTEM, phone=audience["bob"].phone, reason="STOP")
    drive(campaign)

    page = htmx_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert 'data-testid="sent">3<' in page.text
    assert 'data-testid="not-sent">1<' in page.text


def test_a_campaign_that_has_not_started_shows_its_cost_as_an_estimate(staff_client, audience):
    # "Reserved at start" for a campaign not yet started (or cancelled before it did) said
    # credits were taken that never were.
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    staff_client.post(reverse("campaigns:new"), form(audience, schedule_mode="at", send_at=later))
    campaign = Campaign.objects.get()

    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk])).text
    assert "Reserved at start" not in page
    assert '<dt>Estimated cost</dt><dd class="mono">0.1650</dd>' in page
    listed = staff_client.get(reverse("campaigns:list")).text
    assert 'data-testid="cost">0.1650 <span class="muted small">estimated</span>' in listed

    staff_client.post(reverse("campaigns:cancel", args=[campaign.pk]))
    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk])).text
    assert "Reserved at start" not in page
    assert CreditAccount.objects.get().balance == Decimal("100")


def test_the_live_page_is_drawn_again_when_the_campaign_moves_on(
    staff_client, htmx_client, audience
):
    # The buttons (Edit, Cancel) and the report are outside the polled part: a page drawn for
    # a scheduled campaign must not keep offering them once it has finished.
    staff_client.post(reverse("campaigns:new"), form(audience))
    campaign = Campaign.objects.get()
    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert "?shown=scheduled" in page.text
    drive(campaign)

    poll = htmx_client.get(reverse("campaigns:detail", args=[campaign.pk]), {"shown": "scheduled"})
    assert poll.headers["HX-Refresh"] == "true"
    same = htmx_client.get(reverse("campaigns:detail", args=[campaign.pk]), {"shown": "completed"})
    assert "HX-Refresh" not in same.headers
    assert 'data-testid="sent">4<' in same.text
    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert "every 2s" not in page.text  # finished: nothing more to poll
    assert 'data-testid="cancel"' not in page.text


def test_the_page_asks_before_cancelling_and_names_who_was_left_out(staff_client, audience):
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    staff_client.post(reverse("campaigns:new"), form(audience, schedule_mode="at", send_at=later))
    page = staff_client.get(reverse("campaigns:detail", args=[Campaign.objects.get().pk]))
    assert 'data-confirm="Cancel this campaign?' in page.text
    left_out = re.search(r'data-testid="left-out">(.*?)</dl>', page.text).group(1)
    assert "<dt>No SMS consent</dt><dd>1</dd>" in left_out
    assert "noconsent" not in left_out


def test_cancel_from_the_page_and_a_second_cancel_says_why_not(staff_client, audience):
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    staff_client.post(reverse("campaigns:new"), form(audience, schedule_mode="at", send_at=later))
    campaign = Campaign.objects.get()

    staff_client.post(reverse("campaigns:cancel", args=[campaign.pk]))
    again = staff_client.post(reverse("campaigns:cancel", args=[campaign.pk]), follow=True)

    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    assert "already cancelled" in again.text


@pytest.mark.parametrize(
    ("control", "said", "refused"),
    [("pause", "Paused:", "Only a running campaign can be paused"),
     ("resume", "Resumed.", "Only a paused campaign can be resumed")],
)  # fmt: skip
def test_a_refused_pause_or_resume_does_not_also_say_it_was_done(
    staff_client, audience, control, said, refused
):
    # A page left open on a campaign someone else cancelled, or a scheduled one.
    later = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    staff_client.post(reverse("campaigns:new"), form(audience, schedule_mode="at", send_at=later))
    campaign = Campaign.objects.get()

    page = staff_client.post(reverse(f"campaigns:{control}", args=[campaign.pk]), follow=True)

    assert refused in page.text
    assert said not in page.text
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"


def test_the_list_needs_a_fixed_number_of_queries(
    staff_client, audience, django_assert_max_num_queries
):
    for i in range(3):
        staff_client.post(reverse("campaigns:new"), form(audience, idempotency_key=f"k{i}"))
    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("campaigns:list"))
    assert response.text.count('data-testid="campaign-status"') == 3


def test_send_again_to_the_failed_twice_with_one_key_sends_once(staff_client, audience):
    from contacts.services.contacts import create_contact

    from .conftest import SYSTEM

    create_contact(actor=SYSTEM, email="rej@example.com", phone="+447400123000",
                   sms_consent="granted", tags=["black-friday"])  # fmt: skip
    staff_client.post(reverse("campaigns:new"), form(audience))
    campaign = drive(Campaign.objects.get())
    page = staff_client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert "Send again to the failed" in page.text

    for _ in range(2):
        staff_client.post(
            reverse("campaigns:resend", args=[campaign.pk]), {"idempotency_key": "r1"}
        )

    again = Campaign.objects.get(resend_of=campaign)
    assert again.recipients == 1
