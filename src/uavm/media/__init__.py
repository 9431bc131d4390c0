"""Media decoding: audio tracks as 16 kHz mono waveforms, video tracks as sampled, resized frames.

Kept apart from :mod:`uavm.features` (log-mel input and neural encoders): these modules
only read files with PyAV and never load a network.
"""
