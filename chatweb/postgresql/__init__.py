"""Django's PostgreSQL backend with health checks that trust a connection just used
(chatweb/postgresql/base.py)."""
