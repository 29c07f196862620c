#!/usr/bin/env bash
# One resumable piece of GPU work on the lent machine (the device tool), in one call.
#
# Why: the lent GPU machine has torch and triton but not pydantic, no network, a 10-minute limit
# per call and 64 MiB of carried files, and it starts bare each session. Every piece of work
# there needs the same preamble (install the carried wheels, unpack DeepGEMM, point its JIT at
# nvcc, name the committed code version the rows will record) and the same ending (send back
# exactly the site_data files the run changed). Written once here instead of retyped per call.
#
# Usage, from the repository root on the GPU machine:
#   BLOCKGEMM_GIT_SHA=<sha of the committed tree> bash lab/gpu_piece.sh <seconds> <generator args>
# e.g. bash lab/gpu_piece.sh 540 bench --sweep model --model deepseek-v3 --tp-size 8 --resume
# or a lab script in place of the generator command (its JSON goes to $OUT as it writes it):
#   bash lab/gpu_piece.sh 280 lab/pass_replay.py
# Carry: .whl (pydantic 2.14.4, pydantic_core 2.50.5, annotated-types 0.8.0, typing-inspection
# 0.4.5, typing_extensions 4.16.0: `pip download --only-binary=:all: --python-version 3.12
# --platform manylinux2014_x86_64 -d .whl pydantic==2.14.4`) and, for the DeepGEMM providers,
# .deepgemm (`make deepgemm`). The generator command runs under `timeout -s INT`, which the
# tuner and the bench take as Ctrl-C: finished work is saved and the next piece resumes it.
# Changed files come back as $OUT/site_data.tgz (unpack over the checkout: tar -xzf ... -C .),
# with the command's log as $OUT/piece.log. DeepGEMM compiles each kernel it runs with nvcc on
# first use (seconds each, on every bare machine): its compiled kernels come back as
# $OUT/dgjit.tgz; put that file in .deepgemm/ (carried), and the next piece starts warm.
set -uo pipefail
if [ $# -lt 2 ]; then
    echo "usage: BLOCKGEMM_GIT_SHA=<sha> bash lab/gpu_piece.sh <seconds> <generator args...>" >&2
    exit 2
fi
limit=$1
shift
: "${OUT:?OUT must name the folder whose files come back}"
: "${BLOCKGEMM_GIT_SHA:?BLOCKGEMM_GIT_SHA must name the committed code version the rows record}"
export BLOCKGEMM_GIT_SHA

site=/tmp/blockgemm-site
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu_piece: no wheels under .whl/ (carry them; see the header of this script)" >&2
    exit 2
fi
python -m pip install -q --no-index --no-deps --target "$site" .whl/*.whl || exit 2
paths="$site:$PWD"
archive=$(ls .deepgemm/*.tar.xz 2>/dev/null | head -1)
if [ -n "$archive" ]; then
    mkdir -p /tmp/dg && tar -xJf "$archive" -C /tmp/dg || exit 2
    paths="/tmp/dg:$paths"
    export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda} DG_JIT_CACHE_DIR=/tmp/dgjit
    mkdir -p /tmp/dgjit
    if [ -f .deepgemm/dgjit.tgz ]; then
        tar -xzf .deepgemm/dgjit.tgz -C /tmp/dgjit || echo "gpu_piece: JIT cache unreadable, compiling afresh" >&2
    fi
fi
export PYTHONPATH="$paths${PYTHONPATH:+:$PYTHONPATH}"

marker=$(mktemp)
sleep 1 # a file written in the same second as the marker still counts as newer below
if [[ "$1" == *.py ]]; then
    command=(python "$@") # a lab script: the same preamble, its own output
else
    command=(python -m generator "$@")
fi
timeout -s INT "$limit" "${command[@]}" 2>&1 | tee "$OUT/piece.log"
rc=${PIPESTATUS[0]}
find site_data -type f -newer "$marker" | tar -czf "$OUT/site_data.tgz" -T -
if [ -n "$archive" ]; then
    tar -czf "$OUT/dgjit.tgz" -C /tmp/dgjit . && echo "gpu_piece: DeepGEMM JIT cache $(du -sh "$OUT/dgjit.tgz" | cut -f1)"
fi
echo "gpu_piece: exit $rc; changed: $(tar -tzf "$OUT/site_data.tgz" | wc -l) files"
exit "$rc"
