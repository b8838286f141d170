"""Speech to text: the engine contract (:mod:`chorus.stt.base`) and the embedded pocketsphinx engine."""
