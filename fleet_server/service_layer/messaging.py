"""What the server sends to terminals, and the one port it goes out through."""

from collections.abc import Iterable
from typing import Protocol

Outgoing = tuple[str, bytes, int, bool]  # topic, payload, qos, retain


class Publish(Protocol):
    def __call__(self, messages: Iterable[Outgoing]) -> bool:
        """Send them now; False when there is no broker connection (the CLI, or a server not
        connected yet): retained configuration, pending re-keys and queued commands then reach
        the terminal at its next connect."""
