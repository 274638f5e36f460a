from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """Sign-in, sign-up, first-run setup, and each user's own settings."""

    name = "accounts"
    verbose_name = _("Accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save

        from accounts import protection

        user_model = get_user_model()
        user_logged_out.connect(protection.on_logged_out, dispatch_uid="chatweb-logout-sockets")
        post_save.connect(
            protection.on_user_saved, sender=user_model, dispatch_uid="chatweb-user-sockets"
        )
        post_delete.connect(
            protection.on_user_deleted, sender=user_model, dispatch_uid="chatweb-user-deleted"
        )
