"""Training and evaluation of the UAVM models (SPEC §5)."""
