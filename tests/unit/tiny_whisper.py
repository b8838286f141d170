"""A tiny, randomly initialised multilingual Whisper in CTranslate2 format, for exercising the faster-whisper
engine without downloading weights.

The vocabulary has exactly the layout of OpenAI's multilingual Whisper (v1/v2), because CTranslate2 and
faster-whisper find the special tokens by id and position, and CTranslate2 treats a Whisper model as
multilingual (language detection, language tokens) only when its vocabulary has 51,865 entries:

* ids 0..50256: byte-level BPE text tokens (a small BPE trained here, padded with word-like filler tokens
  ``Ġxxxx`` so that a random decoder emits things that split into words);
* 50257 ``<|endoftext|>``, 50258 ``<|startoftranscript|>``, 50259.. the 99 language tokens ``<|en|>`` ...
  ``<|su|>``, then ``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``, ``<|startofprev|>``,
  ``<|nocaptions|>``, ``<|notimestamps|>`` (50363);
* 50364..51864: the timestamp tokens ``<|0.00|>`` .. ``<|30.00|>``.

The model is tiny (d_model 64, two encoder and two decoder layers, four heads), so building, converting and
running it takes seconds. Its output is garbage: tests assert structure and behaviour, never words.
"""

from __future__ import annotations

import json
from pathlib import Path

# OpenAI Whisper's language tokens, in vocabulary order (multilingual v1/v2: 99 languages).
LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su",
)  # fmt: skip
TEXT_VOCAB = 50_257
VOCAB_SIZE = 51_865
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
CORPUS = (
    "the quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly. "
    "please remember to lock the front door before you leave the house tonight. "
    "der schnelle braune fuchs springt über den faulen hund. "
    "le vif renard brun saute par dessus le chien paresseux. "
    "el veloz zorro marrón salta sobre el perro perezoso. "
    "speech recognition turns spoken words into text, one second at a time. "
    "Chorus, Kubernetes, ElevenLabs, Whisper, hello, world - it's 42 o'clock! ¿qué? "
)


def special_tokens() -> list[str]:
    """Whisper's special tokens from <|endoftext|> to <|notimestamps|>, in id order."""
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGES),
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]


def _letters(number: int) -> str:
    """0 → "qa", 1 → "qb", ...: a distinct lower-case pseudo-word for every number."""
    out = "q"
    while True:
        number, digit = divmod(number, 26)
        out += chr(ord("a") + digit)
        if not number:
            return out


def build_tokenizer() -> object:
    """A ``tokenizers.Tokenizer`` with Whisper's multilingual layout (see the module docstring)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    trained.train_from_iterator([CORPUS] * 4, trainer=trainer)
    spec = json.loads(trained.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    serial = 0
    while len(vocab) < TEXT_VOCAB - 1:  # word-like fillers ("Ġ" is a space): decodable, never encoded to
        vocab.setdefault("Ġ" + _letters(serial), len(vocab))
        serial += 1
    # OpenAI's multilingual vocabulary ends its text tokens with an empty one (id 50256); CTranslate2 takes
    # its presence as the sign of a multilingual model.
    vocab[""] = TEXT_VOCAB - 1
    spec["model"]["vocab"] = vocab
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens()])
    tokenizer.add_tokens(
        [AddedToken(f"<|{i * 0.02:.2f}|>", special=False, normalized=False) for i in range(TIMESTAMPS)]
    )
    assert tokenizer.get_vocab_size() == TEXT_VOCAB + len(special_tokens()) + TIMESTAMPS
    assert tokenizer.token_to_id("<|endoftext|>") == TEXT_VOCAB
    return tokenizer


def build_tiny_whisper(output_dir: Path, *, seed: int = 0, quantization: str | None = None) -> Path:
    """Build, save and convert the tiny Whisper into ``output_dir`` (a CTranslate2 model folder holding
    model.bin, config.json, vocabulary, tokenizer.json and preprocessor_config.json); returns it."""
    import tempfile

    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    tokenizer = build_tokenizer()
    specials = special_tokens()
    eot, sot = TEXT_VOCAB, TEXT_VOCAB + 1
    config = WhisperConfig(
        vocab_size=TEXT_VOCAB + len(specials) + TIMESTAMPS,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[220, eot],
        lang_to_id={f"<|{code}|>": sot + 1 + i for i, code in enumerate(LANGUAGES)},
        alignment_heads=[[1, 0], [1, 1], [1, 2], [1, 3]],
    )
    with tempfile.TemporaryDirectory(prefix="tiny-whisper-hf-") as scratch:
        hf_dir = Path(scratch)
        model.save_pretrained(hf_dir)
        PreTrainedTokenizerFast(
            tokenizer_object=tokenizer,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            pad_token="<|endoftext|>",
            additional_special_tokens=specials[1:],
        ).save_pretrained(hf_dir)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(hf_dir)
        converter = TransformersConverter(
            str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"], load_as_float16=False
        )
        converter.convert(str(output_dir), quantization=quantization, force=True)
    return output_dir
