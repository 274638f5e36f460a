from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_message_rating"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                db_index=True,
                editable=False,
                null=True,
                verbose_name="temporary: deleted at",
            ),
        ),
    ]
