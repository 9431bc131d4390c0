"""The offline end-to-end demo: a generated audio-visual dataset and the whole pipeline on it."""
