from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Models, usage and quotas")

    def ready(self) -> None:
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from catalog import rollup, snapshot
        from catalog.models import ChatModel, Provider, Quota, SiteSettings, UsageRecord

        # Every process keeps these tables in memory (catalog.snapshot): a change drops it.
        for model in (Provider, ChatModel, Quota, Group, SiteSettings):
            uid = f"catalog-snapshot-{model.__name__}"
            post_save.connect(snapshot.on_change, sender=model, dispatch_uid=uid + "-save")
            post_delete.connect(snapshot.on_change, sender=model, dispatch_uid=uid + "-delete")
        for through in (ChatModel.users.through, ChatModel.groups.through):
            m2m_changed.connect(
                snapshot.on_change, sender=through, dispatch_uid=f"catalog-snapshot-{through}"
            )
        # A deleted ledger row (the admin may delete them) reopens its day's rollup.
        post_delete.connect(rollup.on_delete, sender=UsageRecord, dispatch_uid="usage-rollup")
