"""How fast bad input is refused: wall time of ``uqvit`` runs that must stop at their argument checks.

    .venv/bin/python -m benchmarks.cli_errors

Each command runs in a fresh process (as a user would start it) and must exit with status 2;
the issue's target is under 5 s each.  Prints one line per command and the maximum.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["sim", "--model", "demo", "--image", "99999"],
    ["golden", "dump", "--out", "{tmp}/file", "--image", "0"],
    ["eval", "--model", "deit_tiny_patch16_224", "--checkpoint", "{tmp}/file"],
    ["eval", "--model", "no_such_model"],
    ["eval", "--data", "{tmp}/missing"],
    ["report", "--eval", "{tmp}/file"],
    ["rtl", "build", "--lanes", "3"],
    ["eval-det", "--model", "maskrcnn_swin_t", "--coco-images", "{tmp}/missing", "--coco-ann", "{tmp}/file"],
    ["eval", "--w-bits", "9"],
]


def main() -> int:
    exe = Path(sys.executable).with_name("uqvit")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "file").write_text("not what the command wants\n")
        for cmd in COMMANDS:
            argv = [a.format(tmp=tmp) for a in cmd]
            t0 = time.perf_counter()
            res = subprocess.run([str(exe), *argv], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            worst = max(worst, dt)
            line = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "(no message)"
            print(f"{dt:5.2f} s  rc={res.returncode}  uqvit {' '.join(cmd)}\n          {line[:110]}")
            if res.returncode != 2:
                print("          ^ expected exit status 2")
                return 1
    print(f"slowest refusal: {worst:.2f} s (target < 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
