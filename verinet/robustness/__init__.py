"""Robustness of a classifier over a data set: the bracket between attacks and proofs.

For every point of a data set and every radius, a status on a ladder —
``misclassified`` (the clean prediction is wrong), ``falsified`` (an adversarial input,
confirmed in float64 and by onnxruntime), ``verified`` (a proof that the class holds on
the whole ball), ``unknown`` or ``timeout`` — and, per radius, the accuracies they bound:
attacks give an upper bound on robust accuracy, proofs a lower bound.

Modules: :mod:`.data` (reading points and labels), :mod:`.attack` (FGSM and PGD over
many points in one numpy call), :mod:`.pool` (worker processes with hard timeouts),
:mod:`.run` (the ladder, reuse across radii, resumable results), :mod:`.report`
(statistics, Markdown, plots).  The entry point is :func:`robustness_run`.
"""

from .run import PointResult, RobustnessReport, RunSettings, robustness_run

__all__ = ["robustness_run", "RunSettings", "RobustnessReport", "PointResult"]
