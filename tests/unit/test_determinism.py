"""Seeded output stays byte-identical whatever else has run in the process.

Flite's clustergen vocoder and eSpeak NG draw noise from the C library's rand(), seeded under
:func:`chorus.engines.base.seeded_libc_rand`. That lock only keeps out code that takes it: a native thread
calling rand() mid-synthesis shifts the sequence and the audio from there on. onnxruntime 1.29+ started
such a thread (its telemetry uploader, about 9 s after import and then every few seconds), so once speech to
text had run (Silero VAD), a voice-design preview or a TTS request with a seed could come out different.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Long enough for onnxruntime's first background draw (about 9 s after it is imported).
WINDOW_S = 12.0

_PROBE = textwrap.dedent(
    """
    import ctypes, json, sys, time
    import numpy as np
    from chorus.engines.base import libc, seeded_libc_rand
    from chorus.stt.vad import shared_vad

    vad = shared_vad()
    if not vad.available():
        print(json.dumps({"skip": vad.unavailable_reason()}))
        sys.exit(0)
    vad.probabilities(np.zeros(16000, np.float32))  # onnxruntime loaded and run, as by any STT request
    rand = ctypes.CFUNCTYPE(ctypes.c_int)(("rand", libc()))
    with seeded_libc_rand(1234):
        expected = [rand() for _ in range(8)]
    with seeded_libc_rand(1234):  # what an engine sees: seeded, then drawing while it works
        deadline = time.monotonic() + float(sys.argv[1])
        while time.monotonic() < deadline:
            time.sleep(0.1)
        drawn = [rand() for _ in range(8)]
    print(json.dumps({"expected": expected, "drawn": drawn}))
    """
)


def test_nothing_else_draws_from_the_seeded_generator_after_onnxruntime_has_run() -> None:
    # The subprocess must get the setting from chorus itself, not from this (already configured) process.
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(WINDOW_S)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if "skip" in report:
        pytest.skip(f"Silero VAD unavailable: {report['skip']}")
    # Anything that called rand() while the lock was held would have shifted the sequence.
    assert report["drawn"] == report["expected"]
