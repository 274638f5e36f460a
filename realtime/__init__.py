"""The realtime vocabulary every app may use: group names, frames, channel-layer events,
and publishing them after commit (docs/architecture.md, "Layers")."""
