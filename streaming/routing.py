from django.urls import path

from streaming.consumers import ConversationConsumer
from streaming.diagnostics import DiagnosticsConsumer

websocket_urlpatterns = [
    path("ws/conversations/<int:conversation_id>/", ConversationConsumer.as_asgi()),
    path("ws/diagnostics/", DiagnosticsConsumer.as_asgi()),
]
