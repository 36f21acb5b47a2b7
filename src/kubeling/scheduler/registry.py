"""Scheduler plugins register themselves here by name (Kubernetes' plugin names)."""

from __future__ import annotations

PLUGINS: dict[str, type] = {}


def register(cls: type) -> type:
    PLUGINS[cls.name] = cls
    return cls
