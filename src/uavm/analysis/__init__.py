"""Analyses of trained models (the paper's Figures 2–5).

One module per analysis, each a library function plus a figure:

* :mod:`~uavm.analysis.representations`: time-pooled outputs of every layer, streamed.
* :mod:`~uavm.analysis.probe`: audio-vs-visual linear probe per layer.
* :mod:`~uavm.analysis.tsne`: 2-D t-SNE of audio and visual representations per layer.
* :mod:`~uavm.analysis.retrieval`: cross-modal retrieval (R@k, median rank) per layer.
* :mod:`~uavm.analysis.attention`: mean attention maps, audio/visual difference, per-head
  attention received per time step.
* :mod:`~uavm.analysis.sweeps`: accuracy against a swept setting from several runs (Figure 2).
* :mod:`~uavm.analysis.runner`: all of the model analyses in one resumable job.

scikit-learn and matplotlib (the ``[analysis]`` extra) are imported only inside the
functions that need them, so ``import uavm`` stays light.
"""
