"""``uqvit golden``: compare the integer golden model with fake-quant, dump test vectors."""
from __future__ import annotations


from . import checks
from .common import add_model_args, bits


def build_golden(model_name: str, data: str, w_bits: int, a_bits: int, calib: int, device: str = "cpu",
                 checkpoint=None, progress: bool = True, log=print):
    """Quantize with ``uqvit`` and compile the integer model; returns (fake-quant, integer, eval data)."""
    from ..evaluate import prepare_data, resolve_device
    from ..golden import IntegerModel
    from ..models import create_model
    from ..quant import quantize
    from ..quant.methods import INT_TWIN

    dev = resolve_device(device)
    model = create_model(model_name, checkpoint, log=log).to(dev)
    ed = prepare_data(data, model, calib, device=dev)
    qm = quantize(model, ed.calib_images, INT_TWIN, w_bits, a_bits, progress=progress)
    return qm, IntegerModel.from_quantized(qm, ed.calib_images), ed


def _eval_images(ed, n: int):
    import torch

    xs = []
    for x, _ in ed.loader:
        xs.append(x)
        if sum(t.shape[0] for t in xs) >= n:
            break
    return torch.cat(xs)[:n]


def check_compare(a) -> None:
    if a.json:  # first: cheap, while --model and --data import torch
        checks.output_file(a.json, "--json", parents=False)  # its writer makes no folder
    checks.model_args(a)


def cmd_compare(a) -> int:
    from ..golden.compare import compare_codes, format_compare
    from ..golden.intvec_compare import add_vector_points

    out = {}
    for b in a.bits:
        qm, im, ed = build_golden(a.model, a.data, b, b, a.calib, a.device, a.checkpoint, not a.no_progress)
        images = _eval_images(ed, a.images).to(a.device)
        res = add_vector_points(compare_codes(qm, im, images), qm, im, ed.calib_images, images)
        print(f"== W{b}A{b}")
        print(format_compare(res))
        out[f"W{b}A{b}"] = res
    if a.json:
        from ..provenance import write_json

        write_json(a.json, out, "golden_compare", "uqvit golden compare --model " + a.model + " --bits "
                   + ",".join(map(str, a.bits)) + f" --images {a.images} --json {a.json}", indent=2)
    return 0


def check_dump(a) -> None:
    checks.output_dir(a.out, "--out", empty=True)  # first: cheap, while --model and --data import torch
    n = checks.model_args(a)
    checks.image_indices([a.image], n, a.data)


def cmd_dump(a) -> int:
    from ..golden.dump import dump_inference

    qm, im, ed = build_golden(a.model, a.data, a.w_bits, a.a_bits, a.calib, "cpu", a.checkpoint, not a.no_progress)
    img = ed.loader.dataset[a.image][0]
    idx = dump_inference(im, img, a.out, {"model": a.model, "data": a.data, "image": a.image,
                                          "w_bits": a.w_bits, "a_bits": a.a_bits})
    kinds = {}
    for op in idx["ops"]:
        kinds[op["kind"]] = kinds.get(op["kind"], 0) + 1
    print(f"wrote {len(idx['ops'])} operations to {a.out}: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    return 0


def register(sub) -> None:
    g = sub.add_parser("golden", help="integer golden model: compare with fake-quant, dump test vectors")
    gs = g.add_subparsers(dest="golden_command", required=True)
    c = gs.add_parser("compare", help="per-layer agreement of the golden model with fake-quant")
    add_model_args(c)
    c.add_argument("--bits", type=lambda s: [bits(b) for b in s.split(",")], default=[4, 6, 8],
                   help="comma list of W=A bit-widths (default 4,6,8)")
    c.add_argument("--calib", type=checks.int_in(1), default=512)
    c.add_argument("--images", type=checks.int_in(1), default=200, help="evaluation images to compare on")
    c.add_argument("--device", default="cpu")
    c.add_argument("--json")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=cmd_compare, validate=check_compare)
    d = gs.add_parser("dump", help="write every integer-core operation of one inference (npz + index.json)")
    add_model_args(d)
    d.add_argument("--image", type=checks.int_in(0), default=0, help="index into the evaluation set")
    d.add_argument("--out", required=True)
    d.add_argument("--w-bits", type=bits, default=4)
    d.add_argument("--a-bits", type=bits, default=4)
    d.add_argument("--calib", type=checks.int_in(1), default=512)
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_dump, validate=check_dump)
