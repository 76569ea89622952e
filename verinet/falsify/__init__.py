"""Falsification (testing): searching for counterexamples without proving anything."""

from .pgd import pgd_case

__all__ = ["pgd_case"]
