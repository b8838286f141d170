"""Small bundled word lists used by the speech-to-text post-processing (no network, no model weights)."""
