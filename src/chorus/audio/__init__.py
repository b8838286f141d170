"""Audio formats: the API's output format names (:mod:`.formats`), encoding (:mod:`.encode`) and
decoding (:mod:`.decode`). Nothing is imported here so that reading format names stays cheap."""
