"""``uqvit sim``: a quantized model through the Verilated core, logits compared with the golden model."""
from __future__ import annotations

from .common import add_model_args, bits


def cmd_sim(a) -> int:
    from sim.whole_model import simulate

    res = simulate(a.model, a.data, images=a.image or [0], rows=a.rows, cols=a.cols, w_bits=a.w_bits, a_bits=a.a_bits,
                   calib=a.calib, waves=a.waves, json_path=a.json, batch=a.batch)
    return 0 if res["bit_exact"] else 1


def register(sub) -> None:
    s = sub.add_parser("sim", help="run images through the whole quantized model on the RTL (Verilator)")
    add_model_args(s)
    s.add_argument("--image", type=int, action="append", help="evaluation image index (repeatable; default 0)")
    s.add_argument("--rows", type=int, default=16)
    s.add_argument("--cols", type=int, default=16)
    s.add_argument("--w-bits", type=bits, default=4)
    s.add_argument("--a-bits", type=bits, default=4)
    s.add_argument("--calib", type=int, default=128)
    s.add_argument("--batch", action="store_true", help="run the images as one batch (GEMM M = images x tokens)")
    s.add_argument("--waves", nargs="?", const="sim_waves.fst", help="write an FST trace (default sim_waves.fst)")
    s.add_argument("--json", help="write the results as JSON here")
    s.set_defaults(func=cmd_sim, image=None)
