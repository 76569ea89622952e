"""Falsification (testing): searching for counterexamples without proving anything."""

from .pgd import pgd_case
from .strategies import DEFAULT_STRATEGIES, STRATEGIES, Effort, Strategy, falsify

__all__ = ["pgd_case", "falsify", "Effort", "Strategy", "STRATEGIES", "DEFAULT_STRATEGIES"]
