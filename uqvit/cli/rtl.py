"""``uqvit rtl build`` (Verilog + Verilator lint), ``uqvit rtl verify`` (the cocotb regression),
``uqvit rtl prove`` (bounded proofs and k-induction of the units' properties)."""
from __future__ import annotations

import argparse
import sys

from . import checks
from .common import bits


def _check_build(a) -> None:
    from rtl.common import RTLParameterError, check_drain_lanes

    checks.array_size(a.rows, "--rows")
    checks.array_size(a.cols, "--cols")
    if a.lanes is not None:
        try:
            check_drain_lanes(a.cols, a.lanes)
        except RTLParameterError as e:
            raise checks.ArgumentError("--lanes", str(e)) from None
    if a.act_kib is not None and not a.memory_system:
        raise checks.ArgumentError("--act-kib", "sizes the memory system's activation store: add --memory-system")
    if a.memory_system and a.act_kib is not None:
        from rtl.mem_system import act_entries

        if act_entries(a.rows, a.act_kib * 1024) < 2:
            raise checks.ArgumentError("--act-kib", f"{a.act_kib} KiB holds under two k-steps of {a.rows} words")
    checks.output_dir(a.out, "--out")


def _check_verify(a) -> None:
    checks.array_size(a.rows, "--rows")
    checks.array_size(a.cols, "--cols")
    if a.json:
        checks.output_file(a.json, "--json", parents=False)  # its writer makes no folder


def _check_prove(a) -> None:
    from rtl.formal.properties import names

    if a.json:
        checks.output_file(a.json, "--json", parents=False)  # its writer makes no folder
    if a.property:
        checks.name_list(a.property, names(), "--property", "property")


def _prove(args) -> int:
    import json
    from pathlib import Path

    from rtl.formal.properties import names, prove

    wanted = checks.name_list(args.property, names(), "--property", "property") if args.property else None
    print(f"uqvit rtl prove: depth={args.depth} (bounded check from reset, then k-induction with k = depth)")
    rows = prove(wanted, args.depth, timeout=args.timeout)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("proven", "bounded", "failed", "timeout")}
    print(json.dumps(counts))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if counts["failed"] == 0 and counts["timeout"] == 0 else 1


MUTATE_UNITS = ("core", "array", "normquant", "requant", "demax", "restore", "drain", "gelu", "residual", "layernorm",
                "softmax")


def _check_mutate(a) -> None:
    if a.combine:
        if not a.json:
            raise checks.ArgumentError("--combine", "needs --json: the first seed's finished run, which gets the others")
        for p in [a.json, *a.combine.split(",")]:
            checks.input_file(p, "--combine" if p != a.json else "--json")
        return
    if a.json:
        checks.output_file(a.json, "--json", parents=False)  # its writer makes no folder
    checks.name_list(a.units, MUTATE_UNITS, "--units", "unit")


def _combine(args) -> int:
    """Put finished runs of other seeds beside ``--json``'s run (runs of one tree: the same input hashes)."""
    import json
    from pathlib import Path

    from sim.mutate import combine_seeds
    from uqvit.provenance import write_json

    runs = [json.loads(Path(p).read_text()) for p in [args.json, *args.combine.split(",")]]
    for p, r in zip(args.combine.split(","), runs[1:]):
        if r.get("provenance", {}).get("inputs") != runs[0].get("provenance", {}).get("inputs"):
            raise checks.ArgumentError("--combine", f"{p} was not run on the same tree as {args.json} (its input "
                                       "hashes differ): rerun it")
    try:
        out = combine_seeds(runs)
    except ValueError as e:
        raise checks.ArgumentError("--combine", str(e)) from None
    cmd = "; ".join(r["provenance"]["command"] for r in runs) + f"; uqvit rtl mutate --combine {args.combine} " \
        f"--json {args.json}"
    write_json(args.json, out, "mutation", cmd, indent=2)
    print(f"seeds {', '.join(out['seeds'])}: lowest score {out['min_score']:.3f}; wrote {args.json}")
    return 0 if out["min_score"] >= args.target else 1


def _mutate(args) -> int:
    from sim.mutate import run_mutation

    if args.combine:
        return _combine(args)
    units = checks.name_list(args.units, MUTATE_UNITS, "--units", "unit")
    cluster = None
    if args.cluster:  # reach the scheduler before any unit is built: an unreachable one is one error line
        from uqvit.cluster import connect

        client, close = connect(args.cluster)
        close()
        cluster = args.cluster
    if len(args.seed) > 1:
        from sim.mutate import run_seeds

        s = run_seeds(units, args.seed, args.sample, json_path=args.json, check_equiv=args.equiv, jobs=args.jobs,
                      cluster=cluster)
        return 0 if s["min_score"] >= args.target else 1
    s = run_mutation(units, args.seed[0], args.sample, json_path=args.json, check_equiv=args.equiv, jobs=args.jobs,
                     cluster=cluster)
    return 0 if s["score"] >= args.target else 1


def _build(args) -> int:
    from rtl.build import build_verilog
    from sim.lint import lint

    if args.memory_system:
        path = _build_memory_system(args)
    else:
        path = build_verilog(args.rows, args.cols, args.bits, args.out, lanes=args.lanes)
    print(f"wrote {path}")
    if args.lint:
        warnings = lint(path)
        for w in warnings:
            print(w)
        if warnings:
            print(f"verilator lint: {len(warnings)} warning(s) beyond the waiver list (rtl/build.py LINT_WAIVERS)")
            return 1
        print("verilator lint: clean (waivers: see rtl/build.py LINT_WAIVERS)")
    return 0


def _build_memory_system(args):
    """The core behind its memory system (:class:`rtl.mem_system.MemorySystem`), as ``<core name>_mem.v``."""
    from pathlib import Path

    from rtl.build import core_name, to_verilog
    from rtl.core import DEFAULT_MAX_K, DEFAULT_MAX_N, check_core_params
    from rtl.mem_system import DEFAULT_WEIGHT_K, MemorySystem

    check_core_params(args.rows, args.cols, args.bits, DEFAULT_MAX_K, DEFAULT_MAX_N, args.lanes)
    ms = MemorySystem(args.rows, args.cols, args.bits, act_bytes=None if args.act_kib is None else args.act_kib * 1024,
                      weight_k=DEFAULT_WEIGHT_K, lanes=args.lanes)
    name = core_name(args.rows, args.cols, args.bits) + "_mem"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.v"
    path.write_text(to_verilog(ms, name))
    print(f"memory system: activation store {ms.act_bytes / 1024:.0f} KiB ({ms.act_depth} k-steps of {args.rows} "
          f"words), weight buffer {ms.weight_bytes / 1024:.0f} KiB (two slots of {ms.weight_k} k-steps)")
    return path


def _verify(args) -> int:
    from sim.regression import run_regression
    from sim.toolchain import setup_verilator

    setup_verilator()  # here, not only in the bench processes: a missing or broken Verilator is one error line

    from sim.mem_verify import regression_specs as system_specs
    from sim.vector_units import regression_specs

    cluster = None
    if args.cluster:  # reach the scheduler before any bench runs: an unreachable one is one error line
        from uqvit.cluster import connect

        cluster, _ = connect(args.cluster)
    s = run_regression(args.transactions, args.seed, args.rows, args.cols, jobs=args.jobs, cluster=cluster,
                       extra={**regression_specs(args.transactions, args.seed),
                              **system_specs(args.transactions, args.seed)})
    if cluster is not None:
        s["cluster"] = args.cluster
        cluster.close()
    if args.json:  # with its provenance: reports/verify.json is the README's regression figure
        from uqvit.provenance import write_json

        write_json(args.json, s, "verify", f"uqvit rtl verify --transactions {args.transactions} --seed {args.seed} "
                   f"--rows {args.rows} --cols {args.cols} --jobs {args.jobs} --json {args.json}", indent=2)
    return verify_status(s)


def verify_status(s: dict) -> int:
    """The exit status of a regression summary: 1 on a mismatch, a lost or duplicated beat, or a coverage bin no bench
    hit (a hole is a claim the run did not check: one line names them and what to do), else 0."""
    holes = s.get("coverage", {}).get("holes") or []
    if holes:
        print(f"uqvit rtl verify: {len(holes)} coverage bin(s) never hit: {', '.join(holes)}; "
              "raise --transactions or try another --seed", file=sys.stderr)
    return 0 if s["mismatches"] == 0 and s["lost_beats"] == 0 and not holes else 1


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("rtl", help="generate and verify the Amaranth core")
    sub = p.add_subparsers(dest="rtl_cmd", required=True)
    b = sub.add_parser("build", help="write the core's Verilog")
    b.add_argument("--rows", type=checks.int_in(1), default=16)
    b.add_argument("--cols", type=checks.int_in(1), default=16)
    b.add_argument("--bits", type=bits, default=8)
    b.add_argument("--lanes", type=checks.int_in(1), default=None,
                   help="requant/restore drain lanes, a divisor of --cols (default: rtl.common.default_drain_lanes)")
    b.add_argument("--out", default="build/rtl")
    b.add_argument("--no-lint", dest="lint", action="store_false", help="skip the Verilator lint check")
    b.add_argument("--memory-system", action="store_true",
                   help="the core behind its activation store and weight buffer (rtl.mem_system, issue 28)")
    b.add_argument("--act-kib", type=checks.int_in(1), default=None,
                   help="with --memory-system: the activation store's size (default: the largest that keeps the "
                        "SRAM within 512 KiB, rtl.mem_system.default_act_bytes)")
    b.set_defaults(func=_build, validate=_check_build)
    v = sub.add_parser("verify", help="randomised cocotb/Verilator regression against the contract")
    v.add_argument("--transactions", type=checks.int_in(1), default=10000)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--rows", type=checks.int_in(1), default=4)
    v.add_argument("--cols", type=checks.int_in(1), default=4)
    v.add_argument("--jobs", type=checks.int_in(1), default=2,
                   help="worker processes for the benches (default 2; the same figures as 1, but for the wall times)")
    v.add_argument("--cluster", metavar="ADDRESS",
                   help="run the benches on a Dask cluster (its scheduler, e.g. tcp://10.0.0.5:8786) instead of --jobs; "
                        "its workers need this repository and Verilator; a bench whose worker dies is rerun")
    v.add_argument("--json", default=None, help="write the summary JSON here")
    v.set_defaults(func=_verify, validate=_check_verify)
    f = sub.add_parser("prove", help="bounded model checking / k-induction of the units' formal properties (smtbmc + Yices)")
    f.add_argument("--depth", type=checks.int_in(2, 200), default=12,
                   help="steps of the bounded check and k of the induction (the SRC equivalences use latency + 2)")
    f.add_argument("--property", default=None, help="comma list of property names (default: all)")
    f.add_argument("--timeout", type=checks.int_in(1), default=600, help="seconds per solver call")
    f.add_argument("--json", default=None, help="write [{property, unit, config, status, depth, seconds}] here")
    f.set_defaults(func=_prove, validate=_check_prove)
    mu = sub.add_parser("mutate", help="mutation testing: planted single-bit bugs (yosys mutate) against the benches")
    mu.add_argument("--units", default=",".join(MUTATE_UNITS), help=f"comma list of {', '.join(MUTATE_UNITS)}")
    mu.add_argument("--seed", type=checks.int_list(0), default=[1],
                    help="mutation sampling seed, or a comma list: the first seed's run is the report's, the others "
                         "are stored beside it (seeds) and the exit status takes the lowest score")
    mu.add_argument("--sample", type=checks.int_in(1, 255), default=20, help="mutants per unit")
    mu.add_argument("--target", type=float, default=0.95, help="exit status 1 when the score is below this")
    mu.add_argument("--no-equiv", dest="equiv", action="store_false",
                    help="skip the equivalence check of survivors (faster; survivors stay 'survived')")
    mu.add_argument("--jobs", type=checks.int_in(1), default=1,
                    help="worker processes for the mutants' bench runs and equivalence checks (same results as 1)")
    mu.add_argument("--cluster", metavar="ADDRESS",
                    help="run the bench runs and equivalence checks on a Dask cluster (its scheduler, e.g. "
                         "tcp://10.0.0.5:8786) instead of --jobs; its workers need this repository, its tools and the "
                         "build folders at the same paths (same results as --jobs)")
    mu.add_argument("--json", default=None, help="write {mutants, killed, survived, equivalent, score, units} here")
    mu.add_argument("--combine", default=None, metavar="JSON[,JSON]",
                    help="run nothing: put these finished runs (other seeds, same units and sample) beside --json's "
                         "run under seeds, with min_score (seeds run as separate processes)")
    mu.set_defaults(func=_mutate, validate=_check_mutate)
    return p
