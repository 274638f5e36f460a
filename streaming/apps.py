from django.apps import AppConfig
from django.conf import settings


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self) -> None:
        from modelclient import providers

        providers.max_connections = settings.UPSTREAM_MAX_CONNECTIONS or None
        from chatweb import prometheus
        from streaming import completions, sockets_budget
        from streaming.registry import registry

        prometheus.watch(
            answers=lambda: len(registry.running),
            completions=completions.running_count,
            sockets=sockets_budget.open_count,
        )
        if settings.METRICS_ENABLED:
            from streaming import metrics

            metrics.install()
