#!/usr/bin/env bash
# The wheels bench/gpu.py needs on the GPU machine, which has torch, torchvision, JAX, Jinja2 and
# PyYAML but no network, no pydantic and no Keras (Python 3.12, x86-64). Saved to .whl/ (ignored
# by git); the device tool carries them with carry: [".whl"].
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
    keras==3.15.1 namex==0.1.0 optree==0.20.0
