#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine with its own python3 (torch with CUDA, numpy, scipy,
# pandas, protobuf, pytest, httpx, hypothesis) and no network. The packages are linked in rather than installed.
# Needs bench/.gpu/20ng.npz (bench/gpu.py --prepare). Writes logs and JSON under $OUT (default: bench/.gpu/out).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/.gpu/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
site=$(mktemp -d)
ln -s "$PWD/containers/core" "$site/container_core"
ln -s "$PWD/containers/ntm" "$site/ntm_container"
ln -s "$PWD/containers/knn" "$site/knn_container"
export PYTHONPATH="$site:$PWD"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, numpy, scipy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)"
# pytest's config lives in pyproject.toml (strict markers, warnings as errors); -p no:cacheprovider keeps the tree clean
python3 -m pytest -q -p no:cacheprovider -m gpu tests/unit/test_ntm_model.py tests/contract/test_ntm_train.py \
  2>&1 | tee "$OUT/pytest-gpu.log" | tail -15
python3 -m pytest -q -p no:cacheprovider -x --deselect "tests/contract/test_ntm_train.py::test_two_hosts_train_one_model" \
  tests/contract/test_ntm_train.py 2>&1 | tee "$OUT/pytest-ntm-train.log" | tail -8
timeout 120 python3 -m pytest -q -p no:cacheprovider "tests/contract/test_ntm_train.py::test_two_hosts_train_one_model" \
  2>&1 | tee "$OUT/pytest-two-hosts.log" | tail -15
skip=(--skip knn)
if python3 -c "import faiss; assert faiss.get_num_gpus() > 0" 2>/dev/null; then
  python3 -m pytest -q -p no:cacheprovider -m gpu tests/unit/test_knn_index.py 2>&1 | tee "$OUT/pytest-knn-gpu.log" | tail -8
  skip=()
else
  echo "faiss with GPU support is not importable here: the k-NN GPU test and bench rows are not run"
fi
timeout 300 python3 bench/gpu.py "${skip[@]}" --corpus bench/.gpu/20ng.npz --out "$OUT/gpu.json" 2>&1 | tee "$OUT/bench.log" | tail -20
