"""Speaker roles for ``detect_speaker_roles``: which diarized speaker is the agent, who is the customer.

ElevenLabs labels a support call's speakers ``agent`` and ``customer``. Without a language model, Chorus
scores each speaker by what agents say and customers rarely do: greetings with a company voice ("thank you
for calling", "how can I help", "is there anything else"), offers and procedure ("let me check", "can I have
your account number"). The speaker with the highest score per word spoken is the agent; on a tie (e.g. no
cue at all) the first speaker is, since agents open calls. Every other speaker is a customer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

AGENT_CUES = (
    "thank you for calling", "thanks for calling", "how can i help", "how may i help", "how can i assist",
    "how may i assist", "what can i do for you", "is there anything else", "anything else i can",
    "let me check", "let me look", "let me pull up", "one moment please", "bear with me",
    "can i have your", "could i have your", "may i have your", "can i get your", "could you confirm",
    "can you confirm", "for security", "verify your", "your account number", "date of birth",
    "i can help", "i'd be happy to", "i would be happy to", "have a great day", "have a nice day",
    "my name is", "speaking", "calling from", "on a recorded line", "this call may be recorded",
    "i apologize for", "sorry for the inconvenience", "i understand your",
)  # fmt: skip
AGENT, CUSTOMER = "agent", "customer"


def _normal(text: str) -> str:
    return re.sub(r"[^a-z' ]+", " ", text.lower())


def assign_roles(words: Sequence[str], speakers: Sequence[str]) -> list[str]:
    """``agent``/``customer`` for each word, given each word's diarized speaker (same length)."""
    if len(words) != len(speakers):
        raise ValueError("words and speakers differ in length")
    if not speakers:
        return []
    said: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    for word, speaker in zip(words, speakers, strict=True):
        if speaker not in said:
            order.append(speaker)
        said[speaker].append(word)
    scores = {}
    for rank, speaker in enumerate(order):
        text = " " + " ".join(_normal(w) for w in said[speaker]) + " "
        hits = sum(text.count(f" {cue} ") for cue in AGENT_CUES)
        # Cues per 100 words; the opening speaker wins ties.
        scores[speaker] = (100 * hits / max(1, len(said[speaker])), -rank)
    agent = max(scores, key=lambda s: scores[s])
    return [AGENT if s == agent else CUSTOMER for s in speakers]
