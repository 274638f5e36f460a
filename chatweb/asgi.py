"""ASGI entry point: HTTP goes to Django; WebSockets pass the origin check, then sign-in.

Sign-in is accounts.sockets.SessionAuthMiddleware, not channels' AuthMiddlewareStack:
the same Django rules; the middleware reads the session, and the consumer checks its
user with the first read that needs it (the conversation socket: one query with its
conversation).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatweb.settings")
# Set up Django (apps, models) before anything below imports models.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from accounts.sockets import SessionAuthMiddleware  # noqa: E402
from streaming.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            SessionAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
