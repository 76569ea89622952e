"""Frozen configuration dataclasses, passed explicitly (no globals, no option dicts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LPConfig", "BoundsConfig", "SearchConfig", "AttackConfig", "VerifierConfig"]

_PRESOLVE_CHOICES = ("off", "on", "choose")
_SIMPLEX_CHOICES = ("dual", "primal", "choose")


@dataclass(frozen=True)
class LPConfig:
    """Options of the LP layer (:mod:`verinet.lp`).

    Tolerances are absolute in the solver's (scaled) model unless said otherwise.

    * ``primal_feasibility_tolerance``, ``dual_feasibility_tolerance``: passed to the solver.
      ``1e-9`` (HiGHS's default is ``1e-7``): the search reads bounds and candidate points off
      the LP, so a tighter tolerance costs a few iterations but lets fewer near-violations
      through.  HiGHS accepts values down to ``1e-10``.
    * ``time_limit``: default seconds per solve (``None`` = unlimited); ``solve(time_limit=...)``
      overrides it for one call.  A solve that hits the limit is ``LPStatus.UNKNOWN``.
    * ``threads``: solver threads; 1, because the search parallelises across processes.
    * ``presolve``: ``"off"`` by default.  Warm-started re-solves skip presolve anyway (HiGHS
      presolves only when it has no valid basis), and when presolve is what detects an
      infeasibility HiGHS holds no dual ray and must re-solve to produce one.
    * ``simplex_strategy``: ``"dual"`` (default) re-optimises fastest after bound changes and
      added rows, and its infeasibility proofs come with a dual ray.
    * ``output_flag``: ``False`` silences the solver completely.
    * ``check_tolerance``: the re-check of an "optimal" answer allows a violation of
      ``check_tolerance * max(1, |a_i| . |x|)`` on row ``i`` (``|a_i| . |x|`` is the size of
      the terms summed, i.e. the scale of rounding in ``a_i . x``) and
      ``check_tolerance * max(1, |bound|)`` on a column bound.
    * ``certificate_tolerance``: extra relative margin a certificate (a Farkas ray, or row
      duals turned into an objective bound) must leave in float64, on top of a bound on the
      rounding error of its sums (``~(m + n) * eps``); relative to the sum of absolute values
      of the terms involved.
    """

    primal_feasibility_tolerance: float = 1e-9
    dual_feasibility_tolerance: float = 1e-9
    time_limit: float | None = None
    threads: int = 1
    presolve: Literal["off", "on", "choose"] = "off"
    simplex_strategy: Literal["dual", "primal", "choose"] = "dual"
    output_flag: bool = False
    check_tolerance: float = 1e-7
    certificate_tolerance: float = 1e-12

    def __post_init__(self) -> None:
        if self.presolve not in _PRESOLVE_CHOICES:
            raise ValueError(f"presolve must be one of {_PRESOLVE_CHOICES}, got {self.presolve!r}")
        if self.simplex_strategy not in _SIMPLEX_CHOICES:
            raise ValueError(
                f"simplex_strategy must be one of {_SIMPLEX_CHOICES}, got {self.simplex_strategy!r}"
            )
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be positive or None, got {self.time_limit!r}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads!r}")
        for name in (
            "primal_feasibility_tolerance",
            "dual_feasibility_tolerance",
            "check_tolerance",
            "certificate_tolerance",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class BoundsConfig:
    """Options of the bound computations.

    * ``method``: ``"symbolic"`` (forward symbolic intermediate bounds, backward CROWN
      for the property rows) or ``"interval"`` (plain interval arithmetic, for tests).
    """

    method: Literal["symbolic", "interval"] = "symbolic"


@dataclass(frozen=True)
class SearchConfig:
    """Options of the complete search.

    * ``strategy``: ``"auto"`` picks input splitting for networks with at most
      ``input_split_max_dims`` inputs and ReLU splitting otherwise; ``"input"``,
      ``"relu"`` and ``"smt"`` force one engine.
    * ``batch``: input boxes bounded per numpy call.
    * ``lookahead_max_dims``: with at most this many inputs, input splitting bounds
      both halves along every dimension and keeps the split whose worse half is
      closest to closed (otherwise the ``branching`` heuristic picks one dimension).
    * ``lookahead_dims``: how many dimensions the lookahead tries per box (those with the
      largest gradient-times-width scores; all of them when the input is that small).
    * ``branching``: input-split heuristic when no lookahead runs (``gradient-width``,
      ``widest``); ``relu_branching``: ReLU-split heuristic (``dual-triangle``,
      ``lp-violation``, ``triangle``; see :mod:`verinet.search.branching`).
    * ``rebounds``, ``rebound_shrink``: a box whose shrinking (see
      :func:`verinet.search.input_split.shrink_boxes`) cut more than ``rebound_shrink`` of
      its width in some dimension is bounded again, up to ``rebounds`` times.
    * ``box_solver_depth``, ``box_solver_seconds``: input splitting hands each box still
      open after a multiple of ``box_solver_depth`` splits to ReLU splitting over an LP
      (which reasons about all rows of a conjunction jointly) for at most
      ``box_solver_seconds``; 0 turns this off.
    * ``depth_step``: input splitting explores depth-first down to this many splits, then
      defers deeper boxes until the rest of the tree is done, and raises the cap by as
      much again.
    * ``min_width``: input splitting never splits a dimension narrower than this; a box
      with no dimension left to split (every input the property's rows depend on is
      narrower, inputs they do not depend on are never split) is handed to the exact
      engine instead.
    * ``exact_leaf_seconds``: time z3 gets for one box or ReLU-split leaf that the bounds
      and the LP cannot settle.
    * ``joint_rows``, ``joint_iters``: input splitting bounds every conjunction of two
      rows or more that no single row closes on a box as one *joint* row, a combination
      of its rows with multipliers and ReLU slopes optimised for ``joint_iters`` gradient
      steps (see :mod:`verinet.bounds.joint`); not while recording a certificate.  With
      joint rows the hand-off to ReLU splitting comes every ``joint_box_solver_depth``
      splits instead of every ``box_solver_depth`` (they close most of what the LP would,
      at a fraction of its cost).
    * ``relu_engine``: how ReLU splitting runs: ``"bab"`` batched branch and bound on
      optimised bounds (:mod:`verinet.search.bab`), ``"lp"`` depth first over one LP
      (:mod:`verinet.search.reluplex`), ``"auto"`` branch and bound on chain networks
      (``Affine``/``Relu`` only: its optimised bounds need one) with at least
      ``bab_min_relus`` ReLUs in at least two ReLU layers, and the LP elsewhere.  On
      narrow networks an LP per node is cheap and exact where the bounds need many
      splits (reach_prob_density's gcas_0, 64 ReLUs: 63 s over the LP, a timeout at
      600 s in branch and bound).  With one ReLU layer the first layer's bounds are
      exact, the LP's triangle relaxation is what the optimised bounds tend to, and the
      LP solves it to optimality (verivital's avgpool prop_14_0.04, 23,328 ReLUs in one
      layer: 33 s over the LP, 271 s in branch and bound).  While a certificate is
      recorded, always the LP.  Branch and bound gets ``bab_share`` of the time left
      (default all of it); a case it leaves ``unknown`` (or has not decided by then)
      goes to the LP search for the rest.  On deeper wide networks the LP search does
      not pay: on oval21's cifar_wide_kw img19, given half of 720 s after branch and
      bound, it solved 2 LPs.
    * ``bab_batch``, ``bab_iters``, ``bab_max_mib``: domains split per round, optimised-bound
      steps per round, and the memory cap of the open domains (beyond it: ``unknown``).
    * ``bab_candidates``: per domain, the best-scored neurons whose two children get a
      trial bound; the split whose worse child bounds best is taken (filtered smart
      branching; 1: the score alone).  On oval21's cifar_base_kw img5303, 16 candidates
      close the tree in 47 domains and 3.5 s, the score alone in 1,375 and 14.8 s; on
      cifar_deep_kw img5168, 32 candidates in 127 domains and 30.6 s, 16 in 3,660 and
      103.7 s (docs/search.md).
    * ``bab_workers``, ``bab_executor``: batches bounded at once, each round one per
      worker, and where: ``"threads"`` of this process, ``"processes"`` (worker
      processes that load the model once; falls back to threads for a network with no
      model file, or one that is not the file's), ``"dask"`` (a Dask distributed cluster
      at ``bab_scheduler``, or a local one of ``bab_workers`` processes).  The frontier
      stays in this process, which pops, merges and confirms; the answer does not depend
      on the workers, only the time.  ``verify_parallel`` sets ``bab_workers`` to its
      ``jobs``.
    """

    strategy: Literal["auto", "input", "relu", "smt"] = "auto"
    relu_engine: Literal["auto", "lp", "bab"] = "auto"
    bab_batch: int = 64
    bab_iters: int = 10
    bab_max_mib: float = 256.0
    bab_share: float = 1.0
    bab_min_relus: int = 256
    bab_candidates: int = 32
    bab_workers: int = 1
    bab_executor: Literal["threads", "processes", "dask"] = "threads"
    bab_scheduler: str | None = None
    input_split_max_dims: int = 12
    batch: int = 1024
    min_width: float = 1e-9
    depth_step: int = 24
    rebounds: int = 2
    box_solver_depth: int = 16
    box_solver_seconds: float = 0.5
    rebound_shrink: float = 0.1
    exact_leaf_seconds: float = 5.0
    branching: str = "gradient-width"
    relu_branching: str = "dual-triangle"
    lookahead_max_dims: int = 8
    lookahead_dims: int = 3
    joint_rows: bool = True
    joint_iters: int = 20
    joint_box_solver_depth: int = 32

    def __post_init__(self) -> None:
        if self.relu_engine not in ("auto", "lp", "bab"):
            raise ValueError(f"relu_engine must be 'auto', 'lp' or 'bab', got "
                             f"{self.relu_engine!r}")
        if not 0 < self.bab_share <= 1:
            raise ValueError(f"bab_share must be in (0, 1], got {self.bab_share!r}")
        if (self.bab_batch < 1 or self.bab_iters < 0 or not self.bab_max_mib > 0
                or self.bab_candidates < 1 or self.bab_workers < 1):
            raise ValueError("bab_batch, bab_candidates and bab_workers must be at least "
                             "1, bab_iters at least 0 and bab_max_mib positive, got "
                             f"{self.bab_batch!r}, {self.bab_candidates!r}, "
                             f"{self.bab_workers!r}, {self.bab_iters!r}, "
                             f"{self.bab_max_mib!r}")
        if self.bab_executor not in ("threads", "processes", "dask"):
            raise ValueError(f"bab_executor must be 'threads', 'processes' or 'dask', got "
                             f"{self.bab_executor!r}")

    @property
    def joint_steps(self) -> int:
        """Ascent steps of the optimised bounds: ``joint_iters``, 0 with ``joint_rows`` off."""
        return self.joint_iters if self.joint_rows else 0


@dataclass(frozen=True)
class AttackConfig:
    """Options of the falsification pass run before the search.

    * ``enabled``: run it at all (``--no-attack`` turns it off).
    * ``budget_share``: at most this share of the time budget goes to it.
    * ``samples``: random points tried per input box (sampling strategies).
    * ``restarts``: random starting points per conjunction of the gradient strategies.
    * ``strategies``: falsification strategies run in order (names of
      :data:`verinet.falsify.STRATEGIES`).
    """

    enabled: bool = True
    budget_share: float = 0.1
    samples: int = 2048
    restarts: int = 64
    strategies: tuple[str, ...] = ("uniform", "pgd", "pattern")


_SEMANTICS = ("float32", "real")


@dataclass(frozen=True)
class VerifierConfig:
    """Everything :func:`verinet.verify` can be told, in one frozen value.

    * ``semantics``: what ``unsat`` is proved for: ``"float32"`` (default): the network as
      it runs in float32 (each affine map and sum of the ONNX file within its float32
      rounding error, in any summation order, fused multiply-add or not); ``"real"``: the
      real-valued function its weights define.  Models whose float execution is not modelled
      (``.nnet``, float16 ONNX) are proved in ``"real"`` and the result says so.
    """

    bounds: BoundsConfig = BoundsConfig()
    search: SearchConfig = SearchConfig()
    lp: LPConfig = LPConfig()
    attack: AttackConfig = AttackConfig()
    seed: int = 0
    check_onnxruntime: bool = True
    semantics: Literal["float32", "real"] = "float32"

    def __post_init__(self) -> None:
        if self.semantics not in _SEMANTICS:
            raise ValueError(f"semantics must be one of {_SEMANTICS}, got {self.semantics!r}")
