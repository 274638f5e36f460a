"""`make bench`: Chatweb under load, measured from outside (see bench/README.md)."""
