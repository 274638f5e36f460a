"""An edited question's copies of its files were made without their thumbnail's size (0),
so a user's storage counted that thumbnail as 0 bytes once its original row was gone.
Each row with a thumbnail and no size takes the size another row gives the same
thumbnail, or else the storage's."""

import contextlib

from django.db import migrations
from django.db.models import Max


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    Attachment = apps.get_model("conversations", "Attachment")
    missing = Attachment.objects.exclude(thumbnail="").filter(thumbnail_size=0)
    names = set(missing.values_list("thumbnail", flat=True))
    if not names:
        return
    known = dict(
        Attachment.objects.filter(thumbnail__in=names, thumbnail_size__gt=0)
        .values("thumbnail")
        .annotate(size=Max("thumbnail_size"))
        .values_list("thumbnail", "size")
    )
    from conversations.attachment_models import attachment_storage

    storage = attachment_storage()
    for name in sorted(names):
        size = known.get(name)
        if size is None:
            with contextlib.suppress(Exception):  # gone, or the storage unreachable: left at 0
                size = storage.size(name)
        if size:
            missing.filter(thumbnail=name).update(thumbnail_size=size)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0020_attachment_text_search"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
