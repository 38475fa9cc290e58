"""``uqvit sim``: a quantized model through the Verilated core, logits compared with the golden model."""
from __future__ import annotations

import sys

from . import checks
from .common import add_model_args, bits


def check_sim(a) -> None:
    from sim.model_driver import SimConfigError, default_wave_file, wave_format

    if a.data is None:  # the demo's own data set; timm models offline: synthetic images at their input size
        a.data = "digits" if a.model == "demo" else "synthetic"
    checks.array_size(a.rows, "--rows")
    checks.array_size(a.cols, "--cols")
    n = checks.model_args(a)
    checks.image_indices(a.image or [0], n, a.data)
    if a.waves is not None:
        a.waves = a.waves or default_wave_file()
        try:
            wave_format(a.waves)
        except SimConfigError as e:
            raise checks.ArgumentError("--waves", str(e)) from None
        checks.output_file(a.waves, "--waves")
    if a.backend == "fast" and a.waves is not None:
        raise checks.ArgumentError("--backend", "waves are written by the cocotb backend only: use --backend cocotb "
                                   "with --waves, or drop --waves")
    if a.json:
        checks.output_file(a.json, "--json")


def cmd_sim(a) -> int:
    from sim.whole_model import simulate

    res = simulate(a.model, a.data, images=a.image or [0], rows=a.rows, cols=a.cols, w_bits=a.w_bits, a_bits=a.a_bits,
                   calib=a.calib, waves=a.waves, json_path=a.json, batch=a.batch, backend=a.backend,
                   checkpoint=a.checkpoint, pretrained=a.pretrained, command=" ".join(["uqvit", *sys.argv[1:]]))
    return 0 if res["bit_exact"] else 1


def register(sub) -> None:
    s = sub.add_parser("sim", help="run images through the whole quantized model on the RTL (Verilator)")
    add_model_args(s)
    s.add_argument("--image", type=checks.int_in(0), action="append",
                   help="evaluation image index (repeatable; default 0)")
    s.add_argument("--rows", type=checks.int_in(1), default=16)
    s.add_argument("--cols", type=checks.int_in(1), default=16)
    s.add_argument("--w-bits", type=bits, default=4)
    s.add_argument("--a-bits", type=bits, default=4)
    s.add_argument("--calib", type=checks.int_in(1), default=128)
    s.add_argument("--batch", action="store_true", help="run the images as one batch (GEMM M = images x tokens)")
    s.add_argument("--waves", nargs="?", const="", metavar="FILE",
                   help="write a trace, VCD or FST by the file's suffix (default sim_waves.fst where Verilator's "
                        "FST writer can be built, else sim_waves.vcd)")
    s.add_argument("--backend", choices=("fast", "cocotb"),
                   help="fast: the compiled Verilator harness, one C++ call per operation (default); cocotb: the "
                        "cocotb bench, one Python step per cycle (the default with --waves)")
    s.add_argument("--json", help="write the results as JSON here")
    s.set_defaults(func=cmd_sim, validate=check_sim, image=None, data=None)
