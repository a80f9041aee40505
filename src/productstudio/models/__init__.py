"""Layer 3: learned backends behind one registry pattern (see ``registry.py``)."""

from productstudio.models.discovery import AUTO, available, find_weights, resolve, search_dirs
from productstudio.models.registry import BackendEntry, Registry

__all__ = [
    "AUTO",
    "BackendEntry",
    "Registry",
    "available",
    "find_weights",
    "resolve",
    "search_dirs",
]
