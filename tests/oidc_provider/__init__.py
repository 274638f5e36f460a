"""A real OpenID provider for the single sign-on tests: a small Django project on
django-oauth-toolkit's OIDC support, started as its own process (server.py)."""
