"""Each session's newest drawing, as the Draw page's stroke route last read it (``app_pages/stroke_answer.py``).

A stroke the route answered may send the page nothing; the page's next run, a correction or the Convolution page then
read the drawing here. Bounded: the sessions heard from least recently go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class LatestDrawings:
    """Pictures by session key, at most ``capacity`` of them; shared by the server's threads."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._pictures: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, token: str, png: bytes) -> None:
        with self._lock:
            self._pictures[token] = png
            self._pictures.move_to_end(token)
            while len(self._pictures) > self.capacity:
                self._pictures.popitem(last=False)

    def get(self, token: str) -> bytes | None:
        with self._lock:
            return self._pictures.get(token)

    def drop(self, token: str) -> None:
        with self._lock:
            self._pictures.pop(token, None)
