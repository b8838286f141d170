"""Buffering of text that arrives piece by piece (the TTS WebSockets) into segments to synthesise.

ElevenLabs' ``chunk_length_schedule``: the first generation waits for ``schedule[0]`` characters, the
second for ``schedule[1]``, and so on (the last value repeats). A flush, or the end of input, releases
whatever is buffered. ``auto_mode`` ignores the schedule and releases each complete sentence at once.
``try_trigger_generation`` (:meth:`TextBuffer.try_trigger`) releases the buffer ahead of the schedule,
but only once it holds at least :data:`TRIGGER_MIN_CHARS` characters (the smallest value the schedule
allows), as ElevenLabs only generates "if our buffer contains more than a minimum threshold".
Segments end at a word boundary so no word is split between two generations.
"""

from __future__ import annotations

import re

DEFAULT_SCHEDULE = (120, 160, 250, 290)
TRIGGER_MIN_CHARS = 50
_SENTENCE_END = re.compile(r"[.!?;:。！？]['\")\]]*\s")


class TextBuffer:
    def __init__(
        self, schedule: list[int] | tuple[int, ...] | None = None, *, auto_mode: bool = False
    ) -> None:
        self.schedule = tuple(schedule) if schedule else DEFAULT_SCHEDULE
        self.auto_mode = auto_mode
        self._text = ""
        self._generations = 0

    @property
    def pending(self) -> str:
        return self._text

    def _threshold(self) -> int:
        return self.schedule[min(self._generations, len(self.schedule) - 1)]

    def add(self, text: str) -> list[str]:
        """Append ``text``; return the segments now ready, in order.

        Whitespace at the start of an empty buffer is dropped: clients open with ``" "`` and send
        ``" "`` as a keep-alive, neither of which is text to speak.
        """
        self._text += text.lstrip() if not self._text else text
        ready: list[str] = []
        while True:
            segment = self._take_ready()
            if segment is None:
                return ready
            ready.append(segment)

    def flush(self) -> list[str]:
        """Release everything buffered (a flush message, or the end of input)."""
        segment, self._text = self._text, ""
        if segment.strip():
            self._generations += 1
            return [segment]
        return []

    def try_trigger(self) -> list[str]:
        """``try_trigger_generation``: release the buffer now if it holds enough text, else nothing."""
        if len(self._text.strip()) < TRIGGER_MIN_CHARS:
            return []
        return self.flush()

    def _take_ready(self) -> str | None:
        text = self._text
        if self.auto_mode:
            ends = [m.end() for m in _SENTENCE_END.finditer(text)]
            cut = ends[-1] if ends else -1
        else:
            if len(text) < self._threshold():
                return None
            # Cut at the last whitespace so a word still arriving is not split.
            cut = max(text.rfind(" "), text.rfind("\n")) + 1
            if cut <= 0:
                return None
        if cut <= 0 or not text[:cut].strip():
            return None
        self._text = text[cut:]
        self._generations += 1
        return text[:cut]
