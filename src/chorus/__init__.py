"""Chorus: a self-hosted voice AI platform that speaks the ElevenLabs API."""

import os as _os
import sys as _sys
import warnings as _warnings

__version__ = "0.1.0"

# onnxruntime 1.29+ starts a telemetry uploader thread when it is imported that calls the C library's rand()
# every few seconds for the life of the process. Flite and eSpeak NG draw their noise from that same
# generator (see chorus.engines.base.seeded_libc_rand), so a draw landing mid-synthesis changed seeded output.
# The opt-out is read once, when onnxruntime is imported; every onnxruntime import in Chorus (Silero VAD,
# Piper, Kokoro, faster-whisper's VAD) comes after this package's import. It is forced, not defaulted: the
# seed guarantee depends on it, and a self-hosted server has no business sending telemetry anyway.
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"
if "onnxruntime" in _sys.modules:
    _warnings.warn(
        "onnxruntime was imported before chorus, so its telemetry thread may be running and draw from the "
        "C library's rand(): requests with a seed may not give byte-identical audio",
        RuntimeWarning,
        stacklevel=2,
    )
