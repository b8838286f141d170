"""Text preparation for speech: ElevenLabs markup parsing and text normalisation.

Typical use by the TTS service::

    for piece in parse_markup(request_text, audio_tags=model_is_v3):
        if isinstance(piece, TextPiece):
            normalized = normalize(piece.text, language_code, mode=apply_text_normalization)
            # speak normalized.text; map timings back with normalized.to_original(...) + piece.orig_start
        ...

Pure Python, standard library only; nothing here raises on user input.
"""

from chorus.text.markup import (
    MAX_BREAK_SECONDS,
    STYLE_PROSODY,
    BreakPiece,
    PhonemePiece,
    Piece,
    Prosody,
    StylePiece,
    TextPiece,
    parse_markup,
    prosody_for,
)
from chorus.text.normalize import NormalizationMode, NormalizedText, Span, normalize

__all__ = [
    "MAX_BREAK_SECONDS",
    "STYLE_PROSODY",
    "BreakPiece",
    "NormalizationMode",
    "NormalizedText",
    "PhonemePiece",
    "Piece",
    "Prosody",
    "Span",
    "StylePiece",
    "TextPiece",
    "normalize",
    "parse_markup",
    "prosody_for",
]
