"""The site's default model moves from a flag on an admin model (ChatModel.is_default) to
the site settings (one row), where it may also name a model of OPENAI_API_MODEL, which has
no row. The ticked model's name, if any, becomes the choice; going back ticks it again."""

from typing import Any

from django.db import migrations, models


def flag_to_settings(apps: Any, schema_editor: Any) -> None:
    ChatModel = apps.get_model("catalog", "ChatModel")
    SiteSettings = apps.get_model("catalog", "SiteSettings")
    ticked = ChatModel.objects.filter(is_default=True).values_list("name", flat=True).first()
    if ticked:
        SiteSettings.objects.update_or_create(pk=1, defaults={"default_model": ticked})


def settings_to_flag(apps: Any, schema_editor: Any) -> None:
    ChatModel = apps.get_model("catalog", "ChatModel")
    SiteSettings = apps.get_model("catalog", "SiteSettings")
    chosen = SiteSettings.objects.filter(pk=1).values_list("default_model", flat=True).first()
    if chosen:
        ChatModel.objects.filter(name=chosen).update(is_default=True)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_provider_last_check"),
    ]

    operations = [
        migrations.CreateModel(
            name="SiteSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "default_model",
                    models.CharField(
                        blank=True,
                        help_text=(
                            "New conversations start with it, unless the user chose another "
                            "default. None chosen, or the chosen one disabled, removed or not "
                            "open to a user: the first model of OPENAI_API_MODEL. Adding or "
                            "removing a provider never changes it."
                        ),
                        max_length=200,
                        verbose_name="default model",
                    ),
                ),
            ],
            options={
                "verbose_name": "site settings",
                "verbose_name_plural": "site settings",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("pk", 1)), name="site_settings_one_row"
                    )
                ],
            },
        ),
        migrations.RunPython(flag_to_settings, settings_to_flag),
        migrations.RemoveConstraint(
            model_name="chatmodel",
            name="one_site_default_model",
        ),
        migrations.RemoveField(
            model_name="chatmodel",
            name="is_default",
        ),
    ]
