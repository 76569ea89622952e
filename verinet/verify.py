"""``verify``: the one orchestrator.  A property, a network, a time budget -> a ``Result``.

Order of work, all under one deadline:

1. check the property fits the network (and, for a model whose final Softmax was dropped,
   that every row is decided exactly on the logits: ``network.output_transform``);
2. a short falsification pass (:func:`verinet.falsify.falsify`: by default random
   points in each input box, then PGD; a share of the budget, ``AttackConfig``),
   answering ``sat`` when a confirmed counterexample turns up;
3. the complete search on each property case, by the strategy chosen in
   ``SearchConfig`` (``auto``: input splitting for few inputs, ReLU splitting
   otherwise).  ``sat`` as soon as one case is ``sat``; ``unsat`` only when every
   case is ``unsat``.
"""

from __future__ import annotations

import math
import sys
import time
import types

import numpy as np
from threadpoolctl import threadpool_limits

from . import allocator
from .bounds import crown_bounds
from .bounds.joint import joint_bounds
from .config import VerifierConfig
from .counterexample import CexChecker
from .deadline import DeadlineExceeded, until
from .errors import InputError
from .falsify import Effort, falsify
from .network.ir import Network
from .network.ops import Relu
from .network.output_transform import check_property
from .result import Result, Stats, Status
from .search.input_split import CaseRows, SplitOutcome, input_split
from .spec.property import Box, Case, Property

__all__ = ["verify"]


def _row_bounder(network: Network, case: Case, joint_iters: int | None = None):
    """``bound(lower, upper) -> (lb, A, c)`` for the stacked rows of ``case``.

    ``lb (B, K)`` are sound lower bounds of ``C_in x + C_out y`` over each box (CROWN
    back-substitution, intersected with interval bounds); ``A x + c`` (``A (B, K, n_in)``,
    ``c (B, K)``) is the linear lower bound they come from, valid on the box.  With
    ``joint_iters`` (not ``None``) the rows are ``CaseRows.of(..., joint=True)``: a joint
    row of a conjunction that no single row closes on a box gets the optimised joint
    bound of :func:`verinet.bounds.joint.joint_bounds` there (``-inf`` elsewhere).
    """
    joint = joint_iters is not None
    plain = CaseRows.of(case, network.n_inputs, network.n_outputs)  # the rows themselves
    rows = CaseRows.of(case, network.n_inputs, network.n_outputs, joint=joint)
    real = ~rows.joint
    C_out, C_in, b = plain.C_out, plain.C_in, plain.b
    C_in_pos, C_in_neg = np.maximum(C_in, 0.0), np.minimum(C_in, 0.0)
    has_in = bool(np.any(C_in))
    joint_of = np.flatnonzero(rows.joint)  # column of each conjunction's joint row
    joint_conj = rows.conj[joint_of]

    def bound(lower: np.ndarray, upper: np.ndarray):
        bd = crown_bounds(network, lower, upper, C_out, lower_only=True)
        lb, slopes, offset = bd.out_lower, bd.lower_A, bd.lower_b
        if has_in:
            # exact bound of the input part; its rounding is covered by one ulp step
            lin = lower @ C_in_pos.T + upper @ C_in_neg.T
            err = 4 * np.finfo(float).eps * (np.abs(lower) + np.abs(upper)) @ np.abs(C_in).T
            with np.errstate(over="ignore", invalid="ignore"):
                lb = np.nextafter(lb + lin - err - np.abs(lb) * 4 * np.finfo(float).eps,
                                  -np.inf)
            slopes = slopes + C_in[None]
        lb = np.where(np.isfinite(lb), lb, -np.inf)  # overflow proves nothing
        if not joint:
            return lb, slopes, offset
        B, n = lower.shape
        full_lb = np.full((B, rows.b.size), -np.inf)
        full_A = np.zeros((B, rows.b.size, n))
        full_c = np.full((B, rows.b.size), -np.inf)
        full_lb[:, real], full_A[:, real], full_c[:, real] = lb, slopes, offset
        # pairs (box, conjunction) that no single row closes and the box is not empty
        closed = plain.closed_conj(lb - b)[:, joint_conj]
        box_of, which = np.nonzero(~closed & ~bd.infeasible[:, None])
        if box_of.size:
            member = plain.conj[None, :] == joint_conj[which][:, None]
            val, A_j, c_j, _ = joint_bounds(network, bd, lower, upper, C_out, C_in, b,
                                            box_of, member, iters=joint_iters)
            col = joint_of[which]
            full_lb[box_of, col], full_A[box_of, col], full_c[box_of, col] = val, A_j, c_j
        return full_lb, full_A, full_c

    return bound


def _output_dependence(network: Network) -> np.ndarray | None:
    """``(n_in, n_out)``: which outputs each input reaches by a path of nonzero weights, or
    ``None`` (every input counts as relevant) for networks with very many inputs.

    One-hot dependence masks are pushed through the operations (``|W|`` for affine maps;
    every other operation is monotone and keeps a nonnegative mask nonnegative, with a zero
    output only where no input entry reaches it); NaN counts as reached.  The same for
    every case of a property, so it is computed once per query.
    """
    from .network.ops import Affine

    n = network.n_inputs
    if n > 2048:
        return None
    vals: dict[str, np.ndarray] = {network.input_name: np.eye(n)}
    with np.errstate(all="ignore"):
        for name, op in network.plan[1:]:
            xs = [vals[s] for s in op.inputs]
            if isinstance(op, Affine):
                out = np.asarray(abs(op.W) @ xs[0].T).T
            else:
                out = op.forward(*xs)
            vals[name] = (np.asarray(out) != 0).astype(float)
    return vals[network.output_name]


def _input_relevance(network: Network, case: Case, dep: np.ndarray | None) -> np.ndarray:
    """``(n_in,)`` bool: inputs some row of ``case`` depends on structurally.

    Input ``d`` is irrelevant when no path of nonzero weights leads from it to an output
    that a row reads (``dep``, from :func:`_output_dependence`), and no row reads it
    directly; the rows are then constant in ``x_d``, so splitting on it can never help.
    """
    n = network.n_inputs
    if dep is None:
        return np.ones(n, dtype=bool)
    rows = CaseRows.of(case, n, network.n_outputs)
    with np.errstate(all="ignore"):
        reach = (np.abs(rows.C_out) @ dep.T) != 0  # (K, n_in)
    return reach.any(axis=0) | (rows.C_in != 0).any(axis=0)


def verify(network: Network, prop: Property, timeout: float = 60.0,
           config: VerifierConfig | None = None, *, start: float | None = None,
           roots: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
           proof=None) -> Result:
    """Decide whether some input of ``prop``'s region drives ``network`` into the bad region.

    Args:
        network: the network (see :func:`verinet.load`).
        prop: the property; its bad region describes counterexamples.
        timeout: seconds for the whole call (counted from ``start`` if given, so that
            a caller can include loading time).
        config: options; defaults to ``VerifierConfig()``.
        roots: for a one-case property, ``(lower, upper, depth)``: boxes covering every
            point of its box not yet proved safe and their split depths (an earlier
            ``Result.frontier``): input splitting starts from them, and ``unsat`` means "no
            counterexample in these boxes".
        proof: a :class:`verinet.proof.produce.ProofLog` that records the search tree for a
            certificate (:func:`verinet.proof.produce.write_proof` completes it after an
            ``unsat``); not with ``roots``.
    Returns:
        a :class:`Result`: ``SAT`` with a confirmed counterexample, ``UNSAT`` when every
        branch was closed soundly, else ``TIMEOUT`` or ``UNKNOWN``.
    """
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise InputError(f"timeout must be a finite number of seconds greater than 0, "
                         f"got {timeout!r}")
    config = config or VerifierConfig()
    t0 = time.monotonic() if start is None else start
    allocator.tune()
    if config.semantics == "real":
        network = network.real()
    semantics = "float32" if network.models_float else "real"
    deadline = t0 + timeout
    stats = Stats()
    prop.check_fits(network.n_inputs, network.n_outputs, where=network.name)
    check_property(network.output_transforms, prop)  # a dropped final Softmax: exact rows only
    checker = CexChecker(network, prop, use_onnxruntime=config.check_onnxruntime)

    def done(status: Status, cex=None, reason: str = "", frontier=None) -> Result:
        stats.rejected = max(stats.rejected, checker.rejected)
        return Result(status, cex, time.monotonic() - t0, stats, reason, frontier, semantics)

    if roots is not None and len(prop.cases) != 1:
        raise InputError("roots need a property with one case")
    if roots is not None and proof is not None:
        raise InputError("a certificate needs the whole search (no roots)")

    try:
        with threadpool_limits(limits=1, user_api="blas"), until(deadline):
            return _run(network, prop, config, checker, stats, deadline, done, roots, proof)
    except DeadlineExceeded:  # a long computation was cut off: no answer, never a proof
        return done(Status.TIMEOUT)


def _run(network: Network, prop: Property, config: VerifierConfig, checker: CexChecker,
         stats: Stats, deadline: float, done, roots=None, proof=None) -> Result:
    """The attack, then the complete search case by case (see :func:`verify`)."""
    rng = np.random.default_rng(config.seed)
    strategy = "input" if roots is not None else config.search.strategy
    if strategy == "auto":
        small = network.n_inputs <= config.search.input_split_max_dims
        strategy = "input" if small else "relu"
    if config.attack.enabled:
        cex = _attack(network, prop, checker, stats, deadline, config, rng,
                      probe=strategy == "relu")
        if cex is not None:
            return done(Status.SAT, cex)
    stats.strategy = strategy
    dep = _output_dependence(network) if strategy == "input" else None
    undecided = ""
    for k, case in enumerate(prop.cases):
        if time.monotonic() > deadline:
            return done(Status.TIMEOUT)
        out = _decide_case(strategy, network, case, checker, deadline, stats, config, dep,
                           roots, proof.case(k) if proof is not None else None)
        if out.status == "sat":
            return done(Status.SAT, out.counterexample)
        if out.status == "timeout":
            front = None if undecided or out.frontier is None else {
                "case": k, "lower": out.frontier[0], "upper": out.frontier[1],
                "depth": out.frontier[2]}
            return done(Status.TIMEOUT, frontier=front)
        if out.status == "unknown" and time.monotonic() > deadline:
            # undecided because the budget ran out (an LP cut off at its time limit):
            # that is a timeout, not a case the engines gave up on
            return done(Status.TIMEOUT, reason=f"the budget ran out ({out.reason})"
                        if out.reason else "")
        if out.status == "unknown":
            undecided = out.reason or "undecided"
    if undecided:
        return done(Status.UNKNOWN, reason=undecided)
    return done(Status.UNSAT)


def _attack(network: Network, prop: Property, checker: CexChecker, stats: Stats,
            deadline: float, config: VerifierConfig, rng: np.random.Generator, probe: bool):
    """The falsification pass, within ``config.attack.budget_share`` of the time left.

    With ``probe`` (ReLU splitting ahead: image-sized inputs, where the attack's gradient
    steps are dear), root bounds come first (CROWN on the network as given, cut off after
    half the share): if they close every conjunction, there is nothing to find and the
    attack is skipped (the search closes them at its root); otherwise the attack skips the
    closed conjunctions and takes the others loosest first.  A confirmed counterexample,
    or None."""
    ta = time.monotonic()
    budget = ta + config.attack.budget_share * (deadline - ta)
    effort = Effort(samples=config.attack.samples, restarts=config.attack.restarts)
    if probe:
        target = _open_at_root(network, prop, stats, ta + 0.5 * (budget - ta),
                               config.search.joint_steps)
        if target is None:
            return None
        prop = target
    t = time.monotonic()
    try:
        return falsify(network, prop, checker, rng, budget, config.attack.strategies, stats,
                       effort=effort)
    finally:
        stats.time_attack += time.monotonic() - t


def _open_at_root(network: Network, prop: Property, stats: Stats, end: float,
                  iters: int = 0) -> Property | None:
    """``prop`` without the conjunctions CROWN root bounds close, the others loosest first;
    None when nothing is left.  ``prop`` itself when the bounds take past ``end``."""
    from .search.reluplex import root_gaps

    cases = []
    try:
        with until(end):
            for case in prop.cases:
                gaps = root_gaps(network, case, stats, iters)
                keep = [case.bad[j] for j in np.argsort(gaps, kind="stable") if gaps[j] <= 0]
                if keep:
                    cases.append(Case(case.box, tuple(keep)))
    except DeadlineExceeded:
        return prop
    return Property(tuple(cases), prop.n_inputs, prop.n_outputs) if cases else None


def _decide_case(strategy: str, network: Network, case: Case, checker: CexChecker,
                 deadline: float, stats: Stats, config: VerifierConfig,
                 dep: np.ndarray | None = None, roots=None, tree=None) -> SplitOutcome:
    """One property case by the chosen engine (``dep``: :func:`_output_dependence`;
    ``tree``: the case's :class:`~verinet.proof.produce.BoxTree`, for a certificate)."""

    # the engines are imported when first used: input splitting that needs neither the
    # LP nor z3 (most small queries) does not pay for loading them
    def smt_decide(*args, **kw):
        from .search.smt import smt_decide as run

        return run(*args, **kw)

    relus = [n for n, op in network.plan if isinstance(op, Relu)]

    def split_relus(sub: Case, end: float, node, **kw) -> SplitOutcome:
        """ReLU splitting on ``sub``; an ``unsat`` is recorded as a hand-off at ``node``."""
        from .search.reluplex import SplitTree, relu_split

        record = SplitTree() if tree is not None and node is not None else None
        out = relu_split(network, sub, checker, end, stats, config, tree=record, **kw)
        if record is not None and out.status == "unsat":
            tree.handoff(node, record, relus, len(case.bad))
        return out

    if strategy == "smt":
        out = smt_decide(network, case, checker, deadline, stats)
        if tree is not None and out.status == "unsat":
            tree.unchecked(tree.root(), "exact engine (z3) on the whole case")
        return out

    def exact_box(lower: np.ndarray, upper: np.ndarray) -> SplitOutcome:
        """z3 on a sub-box the bounds cannot close (a few seconds at most)."""
        slice_end = min(deadline, time.monotonic() + config.search.exact_leaf_seconds)
        return smt_decide(network, case, checker, slice_end, stats, box=(lower, upper))

    if strategy == "input":
        def solve_box(lower: np.ndarray, upper: np.ndarray, end: float, node=None
                      ) -> SplitOutcome:
            """ReLU splitting over an LP on one input box of the case."""
            return split_relus(Case(Box(lower, upper), case.bad), end, node)

        joint = config.search.joint_rows and tree is None
        bounder = _row_bounder(network, case, config.search.joint_iters if joint else None)
        return input_split(case, bounder, network.evaluate, checker,
                           network.n_outputs, deadline, stats, config.search,
                           exact_box=exact_box, solve_box=solve_box,
                           relevant=_input_relevance(network, case, dep), roots=roots,
                           proof=tree, joint=joint, refine=_pattern_refiner(network, case,
                                                                            deadline))
    if strategy == "relu":
        def exact_leaf(phases: dict[str, np.ndarray], box):
            """z3 on a ReLU-split node the LP cannot settle (``box``: a Box or a pair)."""
            bounds = (box.lower, box.upper) if hasattr(box, "lower") else tuple(box)
            slice_end = min(deadline, time.monotonic() + config.search.exact_leaf_seconds)
            out = smt_decide(network, case, checker, slice_end, stats, fixed=phases,
                             box=bounds)
            if out.status == "sat" and out.counterexample is not None:
                return ("sat", out.counterexample.x)
            return out.status if out.status == "unsat" else "unknown"

        if tree is None and _use_bab(network, config):
            from .search.bab import relu_bab
            from .search.bab_workers import executor_for

            s = config.search
            now = time.monotonic()
            share = now + s.bab_share * (deadline - now)
            out = relu_bab(network, case, checker, share, stats, batch=s.bab_batch,
                           iters=s.bab_iters, max_mib=s.bab_max_mib, exact_leaf=exact_leaf,
                           fsb=s.bab_candidates, workers=s.bab_workers,
                           executor=executor_for(network, config))
            if out.status in ("sat", "unsat") or time.monotonic() > deadline:
                return out  # else the LP search takes over with the rest of the time
        return split_relus(case, deadline, tree.root() if tree is not None else None,
                           exact_leaf=exact_leaf)
    return SplitOutcome("unknown", reason=f"strategy {strategy!r} is not available")


def _pattern_refiner(network: Network, case: Case, deadline: float):
    """Input splitting's ``refine``: the linear programs of the activation patterns of a
    batch's best candidates (:mod:`verinet.falsify.pattern`), each pattern tried once per
    case; None where the patterns would be large."""
    from .falsify.pattern import MAX_COST, pattern_cost, pattern_points

    if pattern_cost(network) > MAX_COST:
        return None
    seen: set = set()
    return lambda X: pattern_points(network, case, X, deadline=deadline, seen=seen)


def bab_query(network: Network, config: VerifierConfig) -> bool:
    """Whether ``verify`` would decide a property of ``network`` by ReLU splitting with
    branch and bound (the strategy ``auto`` picks ReLU splitting above
    ``input_split_max_dims`` inputs)."""
    strategy = config.search.strategy
    if strategy == "auto":
        strategy = ("input" if network.n_inputs <= config.search.input_split_max_dims
                    else "relu")
    return strategy == "relu" and _use_bab(network, config)


def _use_bab(network: Network, config: VerifierConfig) -> bool:
    """Whether ReLU splitting runs as batched branch and bound (``relu_engine``)."""
    engine = config.search.relu_engine
    if engine == "auto":
        from .bounds.joint import chain_of
        from .network.ops import Relu

        chain = chain_of(network)
        return (chain is not None and network.relu_count >= config.search.bab_min_relus
                and sum(isinstance(op, Relu) for _, op in chain) >= 2)
    return engine == "bab"


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`verify`.

    Importing the submodule ``verinet.verify`` binds the name ``verify`` in the package
    to the module, which would shadow the public function ``verinet.verify``; calling the
    module calls the function, so ``verinet.verify(...)`` works in every import order.
    """

    def __call__(self, *args, **kwargs) -> Result:
        return verify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
