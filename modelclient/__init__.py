"""The model client: everything that talks HTTP to an OpenAI-compatible model server.

The bottom layer of the house (docs/architecture.md, "Layers"): it imports nothing of
Django or of the project's apps, so it can be read, tested and reused on its own.
"""
