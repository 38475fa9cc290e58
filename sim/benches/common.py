"""Shared bench plumbing: job I/O, clock/reset, the per-cycle loop, beat accounting."""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

DRAIN_CYCLES = 64  # extra cycles after the last expected beat: anything arriving is a duplicate


def load_job() -> dict:
    with open(os.environ["UQVIT_SIM_JOB"]) as fh:
        return json.load(fh)


def write_result(job: dict, result: dict) -> None:
    with open(job["result"], "w") as fh:
        json.dump(result, fh)


async def start(dut, statics: dict | None = None) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name, value in (statics or {}).items():
        getattr(dut, name).value = value
    if os.environ.get("UQVIT_MUTSEL"):  # a mutant netlist (sim.mutate): select the mutation to run
        dut.mutsel.value = int(os.environ["UQVIT_MUTSEL"])
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def run_until(dut, drivers, monitors, expected_beats: dict, max_cycles: int) -> int:
    """Step everything each cycle until every monitor has its expected beat count and all
    drivers are idle, then DRAIN_CYCLES more; returns the cycles until completion."""
    cycles = 0
    done_at = None
    while True:
        await RisingEdge(dut.clk)
        for d in drivers:
            d.step()
        for m in monitors:
            m.step()
        cycles += 1
        if done_at is None and all(d.idle() for d in drivers) and all(
                len(m.raw) >= expected_beats[m] for m in monitors):
            done_at = cycles
        if done_at is not None and cycles - done_at >= DRAIN_CYCLES:
            return done_at
        if cycles > max_cycles:
            return cycles


def beat_errors(monitors, expected_beats: dict) -> int:
    return sum(abs(len(m.raw) - expected_beats[m]) for m in monitors)
