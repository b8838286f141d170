"""Voice lab DSP: audio isolation and other speech-to-speech transforms (numpy/scipy, no torch at import)."""
