"""Speech-to-text keyterms: does biasing recognise rare words, and does it leave other speech alone?

Material (every keyterm below is in pocketsphinx's pronunciation dictionary, and either missing from its
language model or rarer than 10^-5.5 as a unigram, so the plain decoder rarely picks it):

* synthesised: 48 sentences, each with one to three rare keyterms (names, places, jargon, food, animals),
  spoken by the four flite voices through Chorus's engine registry. Sentences 1-24 tune the boost,
  sentences 25-48 are held out; the two halves share no keyterm.
* real: every English clip of ../shared/data/speech whose reference holds such rare words (at most four,
  the rarest); those words are its keyterms. Never used for tuning.

Each utterance is decoded with: no keyterms; its own keyterms plus those of the next two utterances of its
set ("own + distractors", about three times as many terms as are spoken); the keyterms of three other
utterances only ("none spoken", the hallucination test); and, for held-out sentences, every keyterm of the
held-out set. Reported: WER, keyterm recall (the keyterm's words appear, in order, in the transcript) and
false insertions: words of the keyterm list that the transcript holds more often than the reference, next
to the same count for the transcript made without keyterms.

The engine runs in this process (the API hands keyterms straight to it). Tuning decodes sentences 1-24 at
each boost of BOOSTS and picks one by :func:`select_boost`; the held-out figures are taken at that boost
(``--skip-tune``: at ``DEFAULT_BOOST``), which should then be ``DEFAULT_BOOST`` (the script says so if not).

Run: .venv/bin/python bench/stt_keyterms.py [--write] [--skip-tune] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, today, write_section  # noqa: E402

from chorus.engines.base import SynthesisRequest  # noqa: E402
from chorus.engines.registry import EngineRegistry  # noqa: E402
from chorus.stt.audio_input import decode_any, to_16k  # noqa: E402
from chorus.stt.keyterm_bias import DEFAULT_BOOST, keyterm_phrases  # noqa: E402
from chorus.testing.asr import normalize_words, word_errors  # noqa: E402

SPEECH = Path(
    os.environ.get("CHORUS_SPEECH_DATA", Path(__file__).resolve().parents[2] / "shared/data/speech")
)
VOICES = ("rms", "awb", "slt", "kal16")
BOOSTS = (-5.0, -4.0, -3.5, -3.0, -2.5, -2.0, -1.0)
RARE_LOG10 = -5.5  # a rare word: unigram log10 probability below this, or missing from the language model

# (sentence, its keyterms). Written for this benchmark; the keyterms were checked against the dictionary and
# the language model of the pocketsphinx wheel (main() checks again).
TUNING = [
    ("the technician replaced the capacitor and checked the oscilloscope", ("capacitor", "oscilloscope")),
    ("my cousin ordered gazpacho with quinoa and mozzarella", ("gazpacho", "quinoa", "mozzarella")),
    ("the doctor prescribed amoxicillin for the infection", ("amoxicillin",)),
    ("the zoo keeps an ocelot next to the marmoset", ("ocelot", "marmoset")),
    ("please ask professor kowalski about the transistor", ("Professor Kowalski", "transistor")),
    ("we drove from kalamazoo to schenectady in one day", ("Kalamazoo", "Schenectady")),
    ("she plays the bassoon and the harpsichord", ("bassoon", "harpsichord")),
    ("the recipe needs ricotta and a little prosciutto", ("ricotta", "prosciutto")),
    ("a wombat and a koala slept under the tree", ("wombat", "koala")),
    ("the astronomers found a quasar near the nebula", ("quasar", "nebula")),
    ("he had an endoscopy after the appendicitis", ("endoscopy", "appendicitis")),
    ("the router lost power so the modem restarted", ("router", "modem")),
    ("we saw a geyser on the way to the fjord", ("geyser", "fjord")),
    ("mister pemberton bought a xylophone for his son", ("Pemberton", "xylophone")),
    ("the mackerel and the sardine were fresh this morning", ("mackerel", "sardine")),
    ("the firmware update broke the ethernet driver", ("firmware", "Ethernet")),
    ("our guide in montevideo spoke about patagonia", ("Montevideo", "Patagonia")),
    ("a tarantula crawled past the salamander", ("tarantula", "salamander")),
    ("the nurse gave him a tetanus shot and some penicillin", ("tetanus", "penicillin")),
    ("the orchestra played a concerto and a sonata", ("concerto", "sonata")),
    ("add the baguette and the camembert to the basket", ("baguette", "Camembert")),
    ("doctor nakamura treated the glaucoma early", ("Doctor Nakamura", "glaucoma")),
    ("the pelican flew over the lagoon", ("pelican", "lagoon")),
    ("solder the diode next to the resistor", ("diode", "resistor")),
]
HELD_OUT = [
    ("the ship reached the atoll before the archipelago", ("atoll", "archipelago")),
    ("she ordered tiramisu and a cappuccino", ("tiramisu", "cappuccino")),
    ("the kernel panic came from the compiler", ("kernel", "compiler")),
    ("the manatee swam slowly through the estuary", ("manatee", "estuary")),
    ("missus abernathy teaches the clarinet and the oboe", ("Abernathy", "clarinet", "oboe")),
    ("we flew from tallahassee to reykjavik last spring", ("Tallahassee", "Reykjavik")),
    ("the meteorite landed near the glacier", ("meteorite", "glacier")),
    ("the clinic treats leukemia and anemia", ("leukemia", "anemia")),
    ("a lemur and an iguana live in the same room", ("lemur", "iguana")),
    ("he ate falafel and hummus at lunch", ("falafel", "hummus")),
    ("agent gutierrez found the inductor in the drawer", ("Agent Gutierrez", "inductor")),
    ("the walrus and the ostrich were the stars of the show", ("walrus", "ostrich")),
    ("the band added a ukulele a banjo and a mandolin", ("ukulele", "banjo", "mandolin")),
    ("the pulsar was hidden behind the supernova", ("pulsar", "supernova")),
    ("we hiked from the tundra down to the savanna", ("tundra", "savanna")),
    ("grandma made ravioli with parmesan and gnocchi", ("ravioli", "parmesan", "gnocchi")),
    ("the trombone player also owns a tuba", ("trombone", "tuba")),
    ("the surgeon removed the cataract with a small tool", ("cataract",)),
    ("mister whitaker moved to chattanooga in june", ("Whitaker", "Chattanooga")),
    ("the bluetooth speaker has a bright pixel display", ("Bluetooth", "pixel")),
    ("we climbed kilimanjaro and then visited zanzibar", ("Kilimanjaro", "Zanzibar")),
    ("the croissant and the pretzel were still warm", ("croissant", "pretzel")),
    ("the halibut was served with an anchovy sauce", ("halibut", "anchovy")),
    ("she read dostoevsky while he listened to tchaikovsky", ("Dostoevsky", "Tchaikovsky")),
]


@dataclass(frozen=True)
class Utterance:
    name: str
    reference: str
    pcm: bytes  # 16 kHz mono s16le
    keyterms: tuple[str, ...]
    group: int  # utterances of one sentence (four voices) share a group


# --- material -----------------------------------------------------------------------------------------


def synthesised(sentences: Sequence[tuple[str, tuple[str, ...]]], limit: int | None) -> list[Utterance]:
    registry = EngineRegistry.from_names(["flite"])
    flite = registry["flite"]
    if not flite.available():
        sys.exit(f"flite is unavailable: {flite.unavailable_reason()}")
    assert flite.output_format().sample_rate == 16_000
    out: list[Utterance] = []
    for group, (text, terms) in enumerate(sentences[:limit]):
        for voice in VOICES:
            pcm = b"".join(chunk.pcm for chunk in flite.synthesize(SynthesisRequest(text, voice)))
            out.append(Utterance(f"{voice}:{group + 1}:{text[:24]}", text, pcm, terms, group))
    registry.close()
    return out


class Vocabulary:
    """The pocketsphinx wheel's dictionary and unigram log10 probabilities of its language model."""

    def __init__(self) -> None:
        from pocketsphinx import NGramModel

        from chorus.stt.pocketsphinx_engine import PocketsphinxEngine, model_paths

        self.words = PocketsphinxEngine().dictionary_words()
        self._lm = NGramModel.readfile(str(model_paths()["lm"]))

    def log10(self, word: str) -> float:
        """Unigram log10 probability; -inf when the language model lacks the word."""
        score = self._lm.prob([word])  # logmath units, base 1.0001
        return -math.inf if score <= -(2**28) else score * math.log(1.0001) / math.log(10)

    def rare(self, word: str) -> bool:
        return word in self.words and self.log10(word) < RARE_LOG10


def check_keyterms(sentences: Sequence[tuple[str, tuple[str, ...]]], vocabulary: Vocabulary) -> None:
    for text, terms in sentences:
        reference = normalize_words(text)
        for phrase in keyterm_phrases(terms):
            rare = [w for w in phrase if vocabulary.rare(w)]
            assert rare, f"keyterm {phrase} of {text!r} has no rare in-dictionary word"
            assert all(w in vocabulary.words for w in phrase), f"{phrase} is not all in the dictionary"
            assert _contains(reference, phrase), f"{phrase} is not in {text!r}"


def real_clips(vocabulary: Vocabulary, limit: int | None) -> list[Utterance]:
    out: list[Utterance] = []
    with (SPEECH / "transcripts.tsv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t") if row["lang"] == "en"]
    for row in rows:
        words = [w for w in dict.fromkeys(normalize_words(row["text"])) if len(w) >= 4 and vocabulary.rare(w)]
        if not words:
            continue
        terms = tuple(sorted(words, key=vocabulary.log10)[:4])
        pcm, rate = decode_any((SPEECH / row["file"]).read_bytes())
        out.append(Utterance(row["file"], row["text"], to_16k(pcm, rate), terms, len(out)))
        if limit is not None and len(out) >= limit:
            break
    return out


# --- keyterm lists and scores -------------------------------------------------------------------------


def _contains(words: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == tuple(phrase) for i in range(len(words) - n + 1))


def group_terms(utterances: Sequence[Utterance]) -> list[tuple[str, ...]]:
    terms: dict[int, tuple[str, ...]] = {}
    for u in utterances:
        terms.setdefault(u.group, u.keyterms)
    return [terms[g] for g in sorted(terms)]


def keyterm_lists(utterances: Sequence[Utterance], u: Utterance) -> dict[str, tuple[str, ...]]:
    """The keyterm lists ``u`` is decoded with (see the module docstring)."""
    groups = group_terms(utterances)
    n = len(groups)
    own = u.keyterms + tuple(t for k in (1, 2) for t in groups[(u.group + k) % n])
    reference = set(normalize_words(u.reference))
    others = [t for k in (3, 4, 5) for t in groups[(u.group + k) % n]]
    # "none spoken": drop any term that shares a word with the reference (rare here, possible in real clips)
    wrong = tuple(t for t in others if not reference & {w for p in keyterm_phrases([t]) for w in p})
    return {"own": tuple(dict.fromkeys(own)), "wrong": wrong}


@dataclass
class Tally:
    utterances: int = 0
    words: int = 0
    errors: int = 0
    terms: int = 0
    found: int = 0
    inserted: int = 0  # keyterm-list words beyond the reference's count
    inserted_plain: int = 0  # the same, in the transcript made without keyterms
    flagged: set[str] = field(default_factory=set)

    def add(self, u: Utterance, text: str, terms: tuple[str, ...], plain: str, spoken: bool) -> None:
        hypothesis, reference, baseline = (
            normalize_words(text),
            normalize_words(u.reference),
            normalize_words(plain),
        )
        errors, total = word_errors(u.reference, text)
        self.utterances += 1
        self.words += total
        self.errors += errors
        if spoken:
            for phrase in keyterm_phrases(u.keyterms):
                self.terms += 1
                self.found += _contains(hypothesis, phrase)
        list_words = {w for p in keyterm_phrases(terms) for w in p}
        ref_counts, hyp_counts, base_counts = Counter(reference), Counter(hypothesis), Counter(baseline)
        extra = sum(max(0, hyp_counts[w] - ref_counts[w]) for w in list_words)
        self.inserted += extra
        self.inserted_plain += sum(max(0, base_counts[w] - ref_counts[w]) for w in list_words)
        if extra:
            self.flagged.add(f"{u.name}: {' '.join(w for w in hypothesis if w in list_words)}")

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.words)

    @property
    def recall(self) -> float:
        return self.found / max(1, self.terms)


Transcribe = Callable[[bytes, tuple[str, ...]], str]


def evaluate(
    utterances: Sequence[Utterance],
    transcribe: Transcribe,
    long_list: bool = False,
    plain_texts: dict[str, str] | None = None,
    workers: int = 2,
) -> dict[str, Tally]:
    """Decode every utterance with each keyterm list; a tally per condition. ``plain_texts``: transcripts
    without keyterms by utterance name, reused when present and filled in otherwise."""
    plain_texts = {} if plain_texts is None else plain_texts
    jobs: list[tuple[Utterance, str, tuple[str, ...]]] = []
    every = tuple(dict.fromkeys(t for terms in group_terms(utterances) for t in terms))
    for u in utterances:
        lists = {"plain": (), **keyterm_lists(utterances, u)}
        if long_list:
            lists["every"] = every
        jobs += [
            (u, condition, terms) for condition, terms in lists.items() if terms or u.name not in plain_texts
        ]
    # Consecutive jobs with one list reuse a decoder built for it: keep each list's jobs together.
    jobs.sort(key=lambda job: (job[1], job[2], job[0].group))
    with ThreadPoolExecutor(workers) as pool:
        texts = list(pool.map(lambda job: transcribe(job[0].pcm, job[2]), jobs))
    results = {
        (u.name, condition): (terms, text) for (u, condition, terms), text in zip(jobs, texts, strict=True)
    }
    for u in utterances:
        if (u.name, "plain") in results:
            plain_texts[u.name] = results[(u.name, "plain")][1]
        results[(u.name, "plain")] = ((), plain_texts[u.name])
    tallies: dict[str, Tally] = {}
    for u in utterances:
        plain = results[(u.name, "plain")][1]
        for condition in ("plain", "own", "wrong", *(("every",) if long_list else ())):
            terms, text = results[(u.name, condition)]
            lists = keyterm_lists(utterances, u)
            counted = terms if condition != "plain" else lists["own"]
            tally = tallies.setdefault(condition, Tally())
            tally.add(u, text, counted, plain, spoken=condition in ("plain", "own", "every"))
    return tallies


# --- transcribers -------------------------------------------------------------------------------------


def in_process(boost: float | None) -> tuple[Transcribe, Callable[[], None]]:
    from chorus.stt.base import TranscribeOptions
    from chorus.stt.pocketsphinx_engine import PocketsphinxEngine, PocketsphinxSettings

    engine = PocketsphinxEngine(max_decoders=2, settings=PocketsphinxSettings(keyterm_boost=boost))

    def transcribe(pcm: bytes, terms: tuple[str, ...]) -> str:
        return engine.transcribe(pcm, 16_000, TranscribeOptions(keyterms=terms)).text

    return transcribe, engine.close


# --- report -------------------------------------------------------------------------------------------

CONDITIONS = {
    "plain": "no keyterms",
    "own": "own + distractors",
    "wrong": "none spoken",
    "every": "every held-out keyterm",
}


def table(tallies: dict[str, Tally], terms_per_list: dict[str, float]) -> list[str]:
    lines = [
        "| keyterms | terms per list | WER | keyterm recall | list words falsely inserted (without → with keyterms) |",
        "|---|---|---|---|---|",
    ]
    for condition, tally in tallies.items():
        recall = f"{tally.recall:.0%} ({tally.found}/{tally.terms})" if tally.terms else "–"
        inserted = (
            f"{tally.inserted_plain} → **{tally.inserted}**" if condition != "plain" else f"{tally.inserted}"
        )
        lines.append(
            f"| {CONDITIONS[condition]} | {terms_per_list.get(condition, 0):.1f} | {tally.wer:.3f} | {recall} | "
            f"{inserted} |"
        )
    return lines


def mean_terms(utterances: Sequence[Utterance]) -> dict[str, float]:
    every = len({t for terms in group_terms(utterances) for t in terms})
    sums: Counter[str] = Counter()
    for u in utterances:
        for condition, terms in keyterm_lists(utterances, u).items():
            sums[condition] += len(terms)
    return {"plain": 0.0, **{k: v / len(utterances) for k, v in sums.items()}, "every": float(every)}


def select_boost(results: dict[float, dict[str, Tally]]) -> float:
    """The boost with the best tuning recall among those that leave speech without keyterms alone: WER on
    "none spoken" lists at most half a point worse than without keyterms, and at most one falsely inserted
    keyterm word per 100 utterances more; on a tie the weaker boost."""
    allowed = []
    for boost, tallies in results.items():
        wrong, plain = tallies["wrong"], tallies["plain"]
        extra = wrong.inserted - wrong.inserted_plain
        if wrong.wer <= plain.wer + 0.005 and extra <= max(1, wrong.utterances // 100):
            allowed.append((tallies["own"].recall, -boost, boost))
    if not allowed:
        sys.exit("no boost leaves speech without keyterms alone")
    return max(allowed)[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument("--skip-tune", action="store_true", help="held-out figures at the default boost only")
    parser.add_argument("--limit", type=int, default=None, help="sentences per set and real clips")
    args = parser.parse_args()
    if args.write and (args.skip_tune or args.limit):
        sys.exit("--write needs the full run (no --skip-tune, no --limit)")
    vocabulary = Vocabulary()
    check_keyterms(TUNING + HELD_OUT, vocabulary)
    tuning_terms = {w for _, terms in TUNING for p in keyterm_phrases(terms) for w in p if vocabulary.rare(w)}
    held_terms = {w for _, terms in HELD_OUT for p in keyterm_phrases(terms) for w in p if vocabulary.rare(w)}
    assert not tuning_terms & held_terms, tuning_terms & held_terms

    sections: list[str] = []
    boost = DEFAULT_BOOST
    if not args.skip_tune:
        tuning = synthesised(TUNING, args.limit)
        plain_texts: dict[str, str] = {}
        results: dict[float, dict[str, Tally]] = {}
        for candidate in BOOSTS:
            transcribe, close = in_process(candidate)
            results[candidate] = evaluate(tuning, transcribe, plain_texts=plain_texts)
            close()
            own, wrong = results[candidate]["own"], results[candidate]["wrong"]
            print(f"boost {candidate:g}: recall {own.recall:.0%} WER {own.wer:.3f} / {wrong.wer:.3f} "
                  f"inserted {own.inserted} / {wrong.inserted}", flush=True)  # fmt: skip
        boost = select_boost(results)
        plain = results[boost]["plain"]
        rows = [
            "| boost | keyterm recall | WER own + distractors | WER none spoken | false insertions own + "
            "distractors / none spoken |",
            "|---|---|---|---|---|",
            f"| no keyterms | {plain.recall:.0%} | {plain.wer:.3f} | {plain.wer:.3f} | "
            f"{results[boost]['own'].inserted_plain} / {results[boost]['wrong'].inserted_plain} |",
        ]
        for candidate, tallies in results.items():
            own, wrong = tallies["own"], tallies["wrong"]
            label = f"**{candidate:g}** (chosen)" if candidate == boost else f"{candidate:g}"
            rows.append(
                f"| {label} | {own.recall:.0%} | {own.wer:.3f} | {wrong.wer:.3f} | {own.inserted} / {wrong.inserted} |"
            )
        sections += [
            f"Tuning ({len(tuning)} utterances: sentences 1-24 × {len(VOICES)} flite voices). Chosen: the best recall",
            'whose "none spoken" WER is at most 0.5 points above no keyterms and which falsely inserts at most',
            "one more keyterm word per 100 utterances:",
            "",
            *rows,
            "",
        ]
        if boost != DEFAULT_BOOST:
            print(
                f"NOTE: the chosen boost {boost:g} is not DEFAULT_BOOST ({DEFAULT_BOOST:g}) in keyterm_bias.py"
            )

    held = synthesised(HELD_OUT, args.limit)
    real = real_clips(vocabulary, args.limit)
    transcribe, close = in_process(boost)
    held_tallies = evaluate(held, transcribe, long_list=True)
    real_tallies = evaluate(real, transcribe)
    close()
    for name, tallies in (("held-out", held_tallies), ("real", real_tallies)):
        for condition, tally in tallies.items():
            print(name, condition, f"WER {tally.wer:.3f} recall {tally.recall:.0%} inserted {tally.inserted}")
            for line in sorted(tally.flagged):
                print("   ", line)
    real_words = sum(len(normalize_words(u.reference)) for u in real)
    sections += [
        f"Held out, synthesised ({len(held)} utterances: sentences 25-48 × {len(VOICES)} flite voices, "
        f"{held_tallies['plain'].words} words, {held_tallies['own'].terms} keyterm occurrences), boost {boost:g}:",
        "",
        *table(held_tallies, mean_terms(held)),
        "",
        f"Held out, real speech ({len(real)} English clips of `shared/data/speech` whose reference has rare "
        f"in-dictionary words, {real_words} words, {real_tallies['own'].terms} keyterm occurrences), boost "
        f"{boost:g}:",
        "",
        *table(real_tallies, mean_terms(real)),
    ]
    body = "\n".join(
        [
            f"Measured {today()} on {machine()} (accuracy only: not timing-sensitive).",
            "",
            "`bench/stt_keyterms.py`: keyterms that are in pocketsphinx's dictionary but rare or absent in its",
            "language model; the keyterm model is interpolated into the decoder's (`chorus.stt.keyterm_bias`).",
            "The engine runs in process (the API passes keyterms straight to it; `tests/api/test_stt_keyterms.py`",
            "covers that path). Recall: the keyterm's words appear, in order, in the transcript. False insertions:",
            "words of the request's keyterm list that the transcript holds more often than the reference (left",
            'of the arrow: the same count for the transcript made without keyterms). "own + distractors": the',
            'utterance\'s keyterms plus those of the next two utterances; "none spoken": the keyterms of three',
            "other utterances only.",
            "",
            *sections,
        ]
    )
    print(body)
    if args.write:
        write_section("Speech to text: keyterms", body)


if __name__ == "__main__":
    main()
