"""Rebuild the case-insensitive name indexes of tags and custom fields on SQLite.

They index LOWER(name). SQLite's own LOWER() folds only A-Z; the project's SQLite backend
now replaces it with one that folds every letter, as PostgreSQL's does
(``dashboard/db/sqlite/base.py``). An index built before holds "École" under "École", where
look-ups now search "école": the tag would no longer be found by name, and a second "École"
could be created beside it. So each index is dropped and built again.

Names the full folding makes equal ("Émile" beside "émile", allowed before) cannot share the
rebuilt unique index: the older one keeps its name and the newer ones get " (2)", " (3)"…
appended, so nothing is lost and staff can merge or rename them afterwards. PostgreSQL's
LOWER() always folded every letter: nothing to do there.
"""

from django.db import migrations


def deduplicate(model) -> list[tuple[str, str]]:
    """Rename names equal once every letter is folded; the (old, new) names renamed."""
    limit = model._meta.get_field("name").max_length
    rows = list(model.objects.order_by("pk").values_list("pk", "name"))
    taken = {name.lower() for _, name in rows}
    seen: set[str] = set()
    renamed = []
    for pk, name in rows:
        if name.lower() not in seen:
            seen.add(name.lower())
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            new = name[: limit - len(suffix)] + suffix
            if new.lower() not in taken:
                break
            number += 1
        taken.add(new.lower())
        seen.add(new.lower())
        model.objects.filter(pk=pk).update(name=new)
        renamed.append((name, new))
    return renamed


def rebuild(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    for model_name in ("Tag", "Field"):
        model = apps.get_model("contacts", model_name)
        [constraint] = [c for c in model._meta.constraints if c.name.endswith("_unique_ci")]
        # Dropped first: updating a row under an index built with the other LOWER() could
        # not find the row's old index entry.
        schema_editor.remove_constraint(model, constraint)
        deduplicate(model)
        schema_editor.add_constraint(model, constraint)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0014_add_dismissed_duplicate"),
    ]

    operations = [
        migrations.RunPython(rebuild, migrations.RunPython.noop, elidable=True),
    ]
