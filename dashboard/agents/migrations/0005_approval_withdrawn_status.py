"""A status of its own for requests taken back before staff decided (their person was
erased, their agent switched off).

They used to be marked rejected and were counted as staff rejections. Past ones are found
exactly by their audit entry: a staff rejection's entry always holds the note (empty or not),
a withdrawal's never did. The entry's action and status change are renamed to match.
"""

from django.db import migrations, models


def _withdrawals(AuditEntry):
    return AuditEntry.objects.filter(
        object_type="approvalrequest", action="approval.reject"
    ).exclude(changes__has_key="note")


def forward(apps, schema_editor):
    ApprovalRequest = apps.get_model("agents", "ApprovalRequest")
    AuditEntry = apps.get_model("dashboard", "AuditEntry")
    entries = _withdrawals(AuditEntry)
    ApprovalRequest.objects.filter(
        status="rejected", pk__in=[int(pk) for pk in entries.values_list("object_id", flat=True)]
    ).update(status="withdrawn")
    entries.update(action="approval.withdraw", changes={"status": ["pending", "withdrawn"]})


def backward(apps, schema_editor):
    ApprovalRequest = apps.get_model("agents", "ApprovalRequest")
    AuditEntry = apps.get_model("dashboard", "AuditEntry")
    ApprovalRequest.objects.filter(status="withdrawn").update(status="rejected")
    AuditEntry.objects.filter(object_type="approvalrequest", action="approval.withdraw").update(
        action="approval.reject", changes={"status": ["pending", "rejected"]}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_drop_redundant_action_agent_index"),
        ("dashboard", "0005_audit_partial_actor_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="approvalrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                    ("expired", "Expired"),
                    ("executed", "Executed"),
                    ("failed", "Failed"),
                    ("withdrawn", "Withdrawn"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
