"""Named end-to-end recipes (``uavm recipe NAME``): data preparation followed by training."""
