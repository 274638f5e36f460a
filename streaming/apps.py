from django.apps import AppConfig
from django.conf import settings


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self) -> None:
        from modelclient import providers

        providers.max_connections = settings.UPSTREAM_MAX_CONNECTIONS or None
        if settings.METRICS_ENABLED:
            from streaming import metrics

            metrics.install()
