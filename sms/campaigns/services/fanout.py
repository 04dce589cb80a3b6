"""Turning a batch of frozen recipients into queued messages, set-based.

This writes what ``sms.services.messages.create_messages`` writes for each message (the
message, its ledger charge, its "queued" timeline step and the contact's history entry) but
as four ``INSERT … SELECT`` statements over the batch's ``Recipient`` rows instead of building
model instances: a 100,000-recipient campaign is 400,000 rows, which the ORM needs minutes for.
The caller holds the campaign lock and the transaction; the credits were reserved at start,
so the ledger gets a release of the batch's share and one charge per message, and the balance
itself does not move.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone

from dashboard.actors import Actor
from dashboard.bulk import insert_rows
from sms.campaigns.models import Campaign, Recipient


def _json_data() -> str:
    """The history entry's ``data`` ({"message_id", "segments", "kind"}) in this database."""
    if connection.vendor == "postgresql":
        return "jsonb_build_object('message_id', m.id, 'segments', m.segments, 'kind', m.kind)"
    return "json_object('message_id', m.id, 'segments', m.segments, 'kind', m.kind)"


RECIPIENT_COLUMNS = ("campaign_id", "contact_id", "phone", "country", "send_after", "batch", "text",
                     "encoding", "segments", "price")  # fmt: skip


def insert_recipients(rows: list[tuple]) -> None:
    """Freeze the audience: ``Recipient`` rows as tuples in ``RECIPIENT_COLUMNS`` order, in
    the caller's transaction."""
    ops = connection.ops
    contact = Recipient._meta.get_field("contact").target_field
    at, pk = RECIPIENT_COLUMNS.index("send_after"), RECIPIENT_COLUMNS.index("contact_id")
    price = RECIPIENT_COLUMNS.index("price")

    def sqlite_row(row: tuple) -> list:
        values = list(row)
        values[at] = ops.adapt_datetimefield_value(values[at])
        values[pk] = contact.get_db_prep_value(values[pk], connection)
        values[price] = ops.adapt_decimalfield_value(values[price], 12, 4)
        return values

    insert_rows(Recipient, RECIPIENT_COLUMNS, rows, sqlite_row=sqlite_row)


def _decimal(value: object) -> Decimal:
    """A price as read back: a Decimal from PostgreSQL, a number from SQLite's NUMERIC."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def insert_batch_messages(
    *, campaign: Campaign, batch: int, actor: Actor
) -> tuple[list[int], Decimal]:
    """Queue one message per recipient of ``batch``; returns the new message ids and what
    they cost together."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    who = [actor.kind.value if hasattr(actor.kind, "value") else actor.kind, actor.user_id,
           actor.ref, actor.label]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sms_message (
                idempotency_key, contact_id, "to", country, text, secret, kind, encoding,
                segments, price, status, send_after, gateway, provider_id, error_code,
                error_message, claim, claimed_at, campaign_id, prompt_version_id, created_at,
                updated_at, sent_at, final_at, actor_kind, actor_user_id, actor_ref, actor_label
            )
            SELECT %s || CAST(r.id AS TEXT), r.contact_id, r.phone, r.country,
                   COALESCE(NULLIF(r.text, ''), %s), '', %s, r.encoding, r.segments, r.price,
                   CASE WHEN r.send_after IS NULL THEN 'pending' ELSE 'scheduled' END,
                   r.send_after, %s, '', '', '', NULL, NULL, %s, NULL, %s, %s, NULL, NULL,
                   %s, %s, %s, %s
            FROM campaigns_recipient r
            WHERE r.campaign_id = %s AND r.batch = %s
            ORDER BY r.id
            RETURNING id, price
            """,
            [f"campaign-{campaign.pk}-", campaign.text, campaign.kind, settings.SMS_GATEWAY,
             campaign.pk, now, now, *who, campaign.pk, batch],
        )  # fmt: skip
        rows = cursor.fetchall()
        ids = sorted(row[0] for row in rows)
        total = sum((_decimal(row[1]) for row in rows), Decimal("0"))
        if not ids:
            return [], total
        # The lock on the campaign row keeps any other batch of it out of this id range.
        scope = "m.campaign_id = %s AND m.id BETWEEN %s AND %s"
        scope_params = [campaign.pk, ids[0], ids[-1]]
        cursor.execute(
            f"""
            INSERT INTO sms_creditentry (
                kind, amount, message_id, note, created_at, actor_kind, actor_user_id,
                actor_ref, actor_label
            )
            SELECT 'charge', -m.price, m.id,
                   CAST(m.segments AS TEXT) || ' segment(s) to ' || m.country, %s, %s, %s, %s, %s
            FROM sms_message m WHERE {scope} AND m.price > 0
            """,  # noqa: S608 - only our own fragments are interpolated
            [now, *who, *scope_params],
        )  # fmt: skip
        cursor.execute(
            f"""
            INSERT INTO sms_messageevent (message_id, status, at, source, error_code, detail)
            SELECT m.id, m.status, m.created_at, 'queued', '', %s
            FROM sms_message m WHERE {scope}
            """,  # noqa: S608 - only our own fragments are interpolated
            [f"campaign #{campaign.pk}", *scope_params],
        )  # fmt: skip
        cursor.execute(
            f"""
            INSERT INTO contacts_interaction (
                contact_id, kind, name, description, data, occurred_at, actor_kind,
                actor_user_id, actor_ref, actor_label
            )
            SELECT m.contact_id, 'sms_sent', '', SUBSTR('SMS: ' || m.text, 1, 500),
                   {_json_data()}, %s, %s, %s, %s, %s
            FROM sms_message m WHERE {scope} AND m.contact_id IS NOT NULL
            """,  # noqa: S608 - only our own fragments are interpolated
            [now, *who, *scope_params],
        )  # fmt: skip
    return ids, total
