"""Speaker diarization: who spoke when, for ``diarize=true`` on ``POST /v1/speech-to-text``.

Pipeline (16 kHz mono):

1. Speech: the caller's speech segments, else Silero VAD (:data:`DIARIZATION_VAD`). Silence never gets a
   speaker, and the speech is joined end to end so that every embedding window is full of speech.
2. Embeddings: windows of ``window_s`` every ``hop_s`` over the joined speech (its level raised to -30 dBFS,
   as the encoder was trained), one resemblyzer embedding each (:mod:`chorus.stt.speaker_embedding`).
3. Clustering, in two stages. (a) Agglomerative clustering of the windows (average linkage, cosine
   distance) cut low, at ``window_cut``: small clusters that each hold one voice. (b) The two closest
   clusters merge, again and again, while closer than the cut that ``diarization_threshold`` maps to
   (:meth:`DiarizationParams.cosine_threshold`), and while there are more than ``num_speakers`` (the API's
   maximum). Closeness is the cosine distance of the clusters' centroids less ``size_penalty`` times the
   sum of 1/(seconds of speech) of the two: centroids average away the windows' noise, the less so the
   smaller the cluster. On the tuning material one speaker's 1 s windows lie 0.13-0.33 apart (cosine
   distance, 5th-95th percentile of 1.5 s windows) and two speakers' 0.39-0.64, a thin margin for windows;
   centroids of halves of one speaker lie under 0.1 apart and of different speakers over 0.25. Clusters
   still holding under ``min_speaker_s`` of speech (a cough, a laugh, a burst of overlap, a speaker who
   said two words) then join the cluster with the nearest centroid, and windows are re-assigned to the
   nearest centroid.
4. Re-segmentation: a Viterbi pass over the windows picks for each the speaker whose centroid it resembles
   most, paying ``switch_penalty`` (in cosine similarity) for every change of speaker inside a speech
   segment (``boundary_switch_penalty`` at a pause). Turns therefore do not flicker, and a stretch where two
   people talk at once goes to whoever dominates its windows.
5. Turns: each 10 ms frame of speech takes the label of the window centred nearest to it; runs shorter than
   ``min_turn_s`` join a neighbour; runs of one label within a speech segment are the turns. Speakers are
   named ``speaker_0``, ``speaker_1``, ... in order of first appearance.

Input shorter than one window (or ``num_speakers=1``) is one speaker; input without speech has no turns.
The settings were chosen on conversations built from half of the LibriSpeech speakers in the shared data;
the other half, the AMI excerpts and the Picovoice clip only measure them (``bench/stt_diarization.py``,
docs/BENCHMARKS.md). Known limits: a speaker with under ``min_speaker_s`` of speech is merged into
another, and far-field meeting audio (AMI) is often taken for one speaker: the encoder hears the room.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from chorus.errors import BadRequest
from chorus.stt.speaker_embedding import HOP, SAMPLE_RATE, SpeakerEmbedder, normalise_level
from chorus.stt.vad import SileroVAD, VADParams, segment_speech, shared_vad

__all__ = [
    "DEFAULT_DIARIZATION_THRESHOLD",
    "DIARIZATION_VAD",
    "MAX_SPEAKERS",
    "DiarizationParams",
    "Diarizer",
    "SpeakerTurn",
    "assign_speakers",
]

MAX_SPEAKERS = 32  # the API's num_speakers maximum
DEFAULT_DIARIZATION_THRESHOLD = 0.22  # ElevenLabs' default diarization_threshold ("0.22 usually")
THRESHOLD_RANGE = (0.1, 0.4)  # the API's bounds on diarization_threshold
FRAME_S = HOP / SAMPLE_RATE  # 10 ms
MAX_TREE_WINDOWS = 2000  # the stage-1 tree's memory grows with the square of its windows

# Speech for diarization when the caller has none: little padding (padding is silence given a speaker) and
# short pauses kept as boundaries, since a change of speaker usually falls on one.
DIARIZATION_VAD = VADParams(threshold=0.5, min_speech_ms=200, min_silence_ms=150, speech_pad_ms=60)


@dataclass(frozen=True)
class SpeakerTurn:
    """``speaker`` talks from ``start_s`` to ``end_s`` (seconds from the start of the input)."""

    start_s: float
    end_s: float
    speaker: str


class Timed(Protocol):
    """Anything with a start and an end in seconds (an engine's :class:`~chorus.stt.base.Word`)."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...


@dataclass(frozen=True)
class DiarizationParams:
    """The method's settings (chosen on the tuning half of the material; see the module docstring)."""

    window_s: float = 1.0  # embedding window over the joined speech
    hop_s: float = 0.25  # step between windows (also the resolution of speaker changes)
    window_cut: float = 0.2  # stage-1 cut of the window tree (cosine distance): small, pure clusters
    # Stage-2 cut (cosine distance between cluster centroids) at the API's default diarization_threshold,
    # and how much it moves per unit of diarization_threshold (see cosine_threshold).
    distance_at_default: float = 0.14
    distance_slope: float = 0.5
    size_penalty: float = 0.1  # subtracted per 1/second of speech in each of two clusters being compared
    min_speaker_s: float = 3.0  # clusters with less speech than this merge into their nearest
    refine_iterations: int = 2  # passes re-assigning windows to the nearest centroid
    switch_penalty: float = 0.2  # Viterbi cost (in cosine similarity) of a change of speaker in a segment
    boundary_switch_penalty: float = 0.0  # ... and on a pause between segments
    min_turn_s: float = 0.2  # shorter runs inside a speech segment go to a neighbour
    vad: VADParams = field(default_factory=lambda: DIARIZATION_VAD)

    def cosine_threshold(self, diarization_threshold: float | None) -> float:
        """The merge cut (see stage 3b) for the API's ``diarization_threshold``.

        Linear and increasing: ``distance_at_default + distance_slope * (d - 0.22)``; with the defaults
        0.1 -> 0.08, 0.22 -> 0.14, 0.4 -> 0.23. On the tuning material every conversation got its true
        number of speakers for cuts from 0.11 to 0.17 (and every single speaker stayed one from 0.07 up);
        under 0.11 a speaker starts to split, over 0.17 different speakers start to merge. So the API's
        range runs from "split readily" to "merge readily" with its default in the middle of the plateau.
        The merges happen in one order, closest first, whatever the cut, and a higher cut only stops later:
        the number of clusters out of stage 3b never grows with the threshold.
        """
        d = DEFAULT_DIARIZATION_THRESHOLD if diarization_threshold is None else float(diarization_threshold)
        return self.distance_at_default + self.distance_slope * (d - DEFAULT_DIARIZATION_THRESHOLD)


def _check_arguments(num_speakers: int | None, threshold: float | None) -> None:
    if num_speakers is not None and (
        isinstance(num_speakers, bool)
        or not isinstance(num_speakers, int | np.integer)
        or not 1 <= num_speakers <= MAX_SPEAKERS
    ):
        raise BadRequest(
            f"num_speakers must be an integer from 1 to {MAX_SPEAKERS}, got {num_speakers!r}.",
            status="invalid_num_speakers",
        )
    if threshold is not None:
        low, high = THRESHOLD_RANGE
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float | np.floating)
            or not low <= float(threshold) <= high
        ):
            raise BadRequest(
                f"diarization_threshold must be between {low} and {high}, got {threshold!r}.",
                status="invalid_diarization_threshold",
            )


def _as_float(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples).reshape(-1)
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    raise ValueError(f"samples must be int16 (or float) mono 16 kHz, got dtype {samples.dtype}")


def _speech_spans(speech: Sequence[tuple[float, float]], total: int) -> list[tuple[int, int]]:
    """The caller's (start_s, end_s) pairs as sorted, merged sample ranges inside the audio."""
    spans = []
    for start_s, end_s in speech:
        start = max(0, round(float(start_s) * SAMPLE_RATE))
        end = min(total, round(float(end_s) * SAMPLE_RATE))
        if end > start:
            spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..K-1 in order of first appearance, and K."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)], len(first)


def _centroids(embeddings: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Unit-length mean embedding of each cluster (zero for an empty one)."""
    sums = np.zeros((count, embeddings.shape[1]), np.float64)
    np.add.at(sums, labels, embeddings)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.maximum(norms, 1e-12)


def _merge_closest(
    embeddings: np.ndarray,
    labels: np.ndarray,
    clusters: int,
    cut: float,
    limit: int,
    size_penalty: float = 0.0,
    seconds_per_window: float = 1.0,
) -> tuple[np.ndarray, int]:
    """Merge the two closest clusters while closer than ``cut`` or more than ``limit``.

    Closeness is the centroids' cosine distance less ``size_penalty * (1/s_a + 1/s_b)`` (s: seconds of
    speech in each cluster), since small clusters' centroids are noisy.
    """
    sums = np.zeros((clusters, embeddings.shape[1]), np.float64)
    np.add.at(sums, labels, embeddings)
    seconds = np.bincount(labels, minlength=clusters) * seconds_per_window
    centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    inverse = 1.0 / seconds
    distance = 1.0 - centroids @ centroids.T - size_penalty * (inverse[:, None] + inverse[None, :])
    np.fill_diagonal(distance, np.inf)
    owner = np.arange(clusters)  # which surviving cluster each original one is now part of
    alive = np.ones(clusters, bool)
    while alive.sum() > 1:
        a, b = np.unravel_index(int(np.argmin(distance)), distance.shape)
        if distance[a, b] >= cut and alive.sum() <= limit:
            break
        keep, gone = min(a, b), max(a, b)
        alive[gone] = False
        owner[owner == gone] = keep
        sums[keep] += sums[gone]
        seconds[keep] += seconds[gone]
        inverse[keep] = 1.0 / seconds[keep]
        centroids[keep] = sums[keep] / max(float(np.linalg.norm(sums[keep])), 1e-12)
        row = 1.0 - centroids @ centroids[keep] - size_penalty * (inverse + inverse[keep])
        row = np.where(alive, row, np.inf)
        row[keep] = np.inf
        distance[keep, :] = distance[:, keep] = row
        distance[gone, :] = distance[:, gone] = np.inf
    return _compact(owner[labels])


def _viterbi(scores: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """Labels maximising sum(scores[t, label_t]) - sum(penalties[t] where label_t != label_t-1).

    ``scores`` is [T, K]; ``penalties[t]`` is the cost of a change between windows t-1 and t.
    """
    steps, states = scores.shape
    best = scores[0].copy()
    back = np.zeros((steps, states), np.int64)
    stay_index = np.arange(states)
    for t in range(1, steps):
        leader = int(np.argmax(best))
        switch = best[leader] - penalties[t]
        choose_switch = switch > best
        back[t] = np.where(choose_switch, leader, stay_index)
        best = np.where(choose_switch, switch, best) + scores[t]
    path = np.empty(steps, np.int64)
    path[-1] = int(np.argmax(best))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _absorb_short_runs(labels: np.ndarray, shortest: int) -> np.ndarray:
    """Runs shorter than ``shortest`` frames take the label of the longer neighbouring run."""
    labels = labels.copy()
    while True:
        changes = np.flatnonzero(np.diff(labels)) + 1
        bounds = [0, *changes.tolist(), len(labels)]
        if len(bounds) <= 2:
            return labels
        lengths = np.diff(bounds)
        i = int(np.argmin(lengths))
        if lengths[i] >= shortest:
            return labels
        left = lengths[i - 1] if i > 0 else -1
        right = lengths[i + 1] if i + 1 < len(lengths) else -1
        neighbour = bounds[i] - 1 if left >= right else bounds[i + 1]
        labels[bounds[i] : bounds[i + 1]] = labels[neighbour]


class Diarizer:
    """Who spoke when. Thread-safe; the embedder and the VAD load their models lazily.

    ``embedder`` defaults to a new :class:`SpeakerEmbedder`, ``vad`` to the process's Silero VAD. Share one
    Diarizer (the service container owns it) so the encoder is loaded once.
    """

    def __init__(
        self,
        embedder: SpeakerEmbedder | None = None,
        vad: SileroVAD | None = None,
        params: DiarizationParams | None = None,
    ) -> None:
        self.embedder = embedder if embedder is not None else SpeakerEmbedder()
        self._vad = vad
        self.params = params or DiarizationParams()
        self._lock = threading.Lock()

    @property
    def vad(self) -> SileroVAD:
        if self._vad is None:
            with self._lock:
                if self._vad is None:
                    self._vad = shared_vad()
        return self._vad

    def unavailable_reason(self) -> str | None:
        """None when diarization can run; otherwise what is missing and how to install it."""
        return self.embedder.unavailable_reason() or self.vad.unavailable_reason()

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def diarize(
        self,
        samples: np.ndarray,
        speech: Sequence[tuple[float, float]] | None = None,
        num_speakers: int | None = None,
        threshold: float | None = None,
    ) -> list[SpeakerTurn]:
        """Speaker turns of ``samples`` (int16 mono 16 kHz), in time order and not overlapping.

        ``speech``: (start_s, end_s) stretches of speech when the caller knows them (e.g. from its
        recogniser's VAD); None runs Silero VAD. ``num_speakers``: at most this many speakers (1..32).
        ``threshold``: the API's ``diarization_threshold`` (0.1..0.4; higher merges more, so it never
        gives more speakers); None is the API's default, 0.22. Turns cover speech only. Raises
        :class:`BadRequest` for out-of-range arguments, and
        :class:`~chorus.stt.speaker_embedding.EmbedderUnavailable` /
        :class:`~chorus.stt.vad.VADUnavailable` when a model is missing.
        """
        _check_arguments(num_speakers, threshold)
        audio = _as_float(samples)
        params = self.params
        if speech is None:
            segments = [(s.start, s.end) for s in segment_speech(audio, params.vad, self.vad)]
        else:
            segments = _speech_spans(speech, audio.size)
        if not segments:
            return []
        window = max(1, round(params.window_s / FRAME_S))
        hop = max(1, round(params.hop_s / FRAME_S))
        joined = np.concatenate([audio[start:end] for start, end in segments])
        frames = max(1, joined.size // HOP)
        if num_speakers == 1 or frames < window:
            return self._turns(segments, np.zeros(frames, np.int64))
        starts = np.arange(0, frames - window + 1, hop)
        if starts[-1] != frames - window:
            starts = np.append(starts, frames - window)  # the last window ends with the speech
        embeddings = self.embedder.embed_windows(normalise_level(joined), starts, window).astype(np.float64)
        labels = self._cluster(embeddings, num_speakers, threshold)
        centres = starts + window / 2
        # Windows t-1 and t straddle a pause when a segment boundary lies between their centres.
        boundaries = np.cumsum([end - start for start, end in segments])[:-1] / HOP
        crossing = np.zeros(len(starts), bool)
        crossing[1:] = np.searchsorted(boundaries, centres[1:]) != np.searchsorted(boundaries, centres[:-1])
        labels = self._resegment(embeddings, labels, crossing)
        # Each frame takes the label of the window whose centre is nearest.
        if len(centres) == 1:
            return self._turns(segments, np.full(frames, labels[0]))
        frame_centres = np.arange(frames) + 0.5
        right = np.clip(np.searchsorted(centres, frame_centres), 1, len(centres) - 1)
        nearest = np.where(
            frame_centres - centres[right - 1] <= centres[right] - frame_centres, right - 1, right
        )
        return self._turns(segments, labels[nearest])

    def _cluster(
        self, embeddings: np.ndarray, num_speakers: int | None, threshold: float | None
    ) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster, linkage

        params = self.params
        count = len(embeddings)
        valid = np.flatnonzero(np.linalg.norm(embeddings, axis=1) > 1e-6)  # silence can embed to zero
        if len(valid) < 2:
            return np.zeros(count, np.int64)
        # Stage 1 (a long input builds its tree from every stride-th window; the rest join by centroid).
        sample = valid[:: -(-len(valid) // MAX_TREE_WINDOWS)]
        tree = linkage(embeddings[sample], method="average", metric="cosine")
        found = fcluster(tree, t=params.window_cut, criterion="distance") - 1
        centroids = _centroids(embeddings[sample], found, int(found.max()) + 1)
        labels, clusters = _compact(np.argmax(embeddings @ centroids.T, axis=1))
        # Stage 2.
        limit = num_speakers if num_speakers is not None else MAX_SPEAKERS
        labels, clusters = _merge_closest(
            embeddings,
            labels,
            clusters,
            params.cosine_threshold(threshold),
            limit,
            params.size_penalty,
            params.hop_s,
        )
        labels, clusters = self._fold_small(embeddings, labels, clusters)
        for _ in range(params.refine_iterations):
            updated = np.argmax(embeddings @ _centroids(embeddings, labels, clusters).T, axis=1)
            if np.array_equal(updated, labels):
                break
            labels, clusters = _compact(updated)
        return labels

    def _fold_small(
        self, embeddings: np.ndarray, labels: np.ndarray, clusters: int
    ) -> tuple[np.ndarray, int]:
        """Merge clusters with under ``min_speaker_s`` of speech, smallest first, into the cluster with the
        nearest centroid (of any size: the pieces of a quiet speaker can still add up to one)."""
        labels = labels.copy()
        while clusters > 1:
            sizes = np.bincount(labels, minlength=clusters)
            smallest = int(np.argmin(sizes))
            if sizes[smallest] * self.params.hop_s >= self.params.min_speaker_s:
                break
            centroids = _centroids(embeddings, labels, clusters)
            similarity = centroids @ centroids[smallest]
            similarity[smallest] = -np.inf
            labels[labels == smallest] = int(np.argmax(similarity))
            labels, clusters = _compact(labels)
        return labels, clusters

    def _resegment(self, embeddings: np.ndarray, labels: np.ndarray, crossing: np.ndarray) -> np.ndarray:
        clusters = int(labels.max()) + 1
        if clusters < 2:
            return labels
        scores = embeddings @ _centroids(embeddings, labels, clusters).T
        penalties = np.where(crossing, self.params.boundary_switch_penalty, self.params.switch_penalty)
        return _viterbi(scores, penalties)

    def _turns(self, segments: list[tuple[int, int]], frame_labels: np.ndarray) -> list[SpeakerTurn]:
        """Turns from a label per 10 ms frame of the joined speech; speakers named by first appearance."""
        shortest = max(1, round(self.params.min_turn_s / FRAME_S))
        last_frame = len(frame_labels) - 1
        names: dict[int, str] = {}
        turns: list[SpeakerTurn] = []
        offset = 0  # where the segment starts in the joined speech, in samples
        for start, end in segments:
            length = end - start
            first = min(offset // HOP, last_frame)
            labels = _absorb_short_runs(
                frame_labels[first : min((offset + length - 1) // HOP, last_frame) + 1], shortest
            )
            changes = (np.flatnonzero(np.diff(labels)) + 1).tolist()
            edges = [start, *(start + (first + c) * HOP - offset for c in changes), end]
            run_starts = [0, *changes]
            for i, run_start in enumerate(run_starts):
                a, b = max(start, edges[i]), min(end, edges[i + 1])
                if b <= a:
                    continue
                name = names.setdefault(int(labels[run_start]), f"speaker_{len(names)}")
                if turns and turns[-1].speaker == name and round(turns[-1].end_s * SAMPLE_RATE) == a:
                    turns[-1] = SpeakerTurn(turns[-1].start_s, b / SAMPLE_RATE, name)
                else:
                    turns.append(SpeakerTurn(a / SAMPLE_RATE, b / SAMPLE_RATE, name))
            offset += length
        return turns

    @staticmethod
    def assign_speakers(words: Sequence[Timed], turns: Sequence[SpeakerTurn]) -> list[str]:
        """See :func:`assign_speakers`."""
        return assign_speakers(words, turns)


def assign_speakers(words: Sequence[Timed], turns: Sequence[SpeakerTurn]) -> list[str]:
    """The speaker of each word (anything with ``start_s``/``end_s``): the turn it overlaps most, else the
    nearest turn (ties: the earlier one); ``speaker_0`` for every word when there are no turns."""
    if not turns:
        return ["speaker_0"] * len(words)
    ordered = sorted(turns, key=lambda t: (t.start_s, t.end_s))
    starts = [t.start_s for t in ordered]
    ends = [t.end_s for t in ordered]
    reach = np.maximum.accumulate(np.array(ends)).tolist()  # latest end among turns so far
    out: list[str] = []
    for word in words:
        w_start = float(word.start_s)
        w_end = max(float(word.end_s), w_start)
        upto = bisect.bisect_right(starts, w_end)  # turns starting no later than the word ends
        since = bisect.bisect_right(reach, w_start)  # turns before this all end by the word's start
        best, best_overlap = -1, 0.0
        for i in range(since, upto):
            overlap = min(ends[i], w_end) - max(starts[i], w_start)
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best < 0:  # no overlap: the nearest turn (one containing a zero-length word is at distance 0)
            candidates = sorted({max(0, since - 1), max(0, upto - 1), min(len(ordered) - 1, upto)})
            candidates += range(since, upto)
            best = min(candidates, key=lambda i: (max(starts[i] - w_end, w_start - ends[i], 0.0), starts[i]))
        out.append(ordered[best].speaker)
    return out
