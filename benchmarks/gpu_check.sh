#!/usr/bin/env bash
# Run on a GPU machine from the repository root; installs nothing (needs torch, torchvision, timm).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, timm, torchvision; print('torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available())"
timeout 330 python3 benchmarks/gpu_check.py
