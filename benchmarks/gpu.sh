#!/usr/bin/env bash
# One GPU script (under 8 minutes on one H100/H200): the CUDA-marked tests, extraction end to end beside
# the visual encoder's own clips/s at its best batch, a training epoch of the paper UAVM (bf16), and
# `uavm predict` latency. Offline: generated clips and features, random weights of the released sizes.
# Writes benchmarks/RESULTS_gpu.md (or --out FILE).
#
#   benchmarks/gpu.sh                 # on a GPU machine, from anywhere
#   benchmarks/gpu.sh --dry-run       # tiny sizes on the CPU (what CI runs); writes into a temporary folder
#   benchmarks/gpu.sh --out FILE      # the results elsewhere
#
# Python: $UAVM_PYTHON, else ./.venv/bin/python or python3 when they import torch; else a venv
# .venv-gpu is built from the system's packages (--system-site-packages, `pip install --no-index
# --no-deps -e .`: no network needed when torch, torchvision, av, safetensors, click, tqdm, pyyaml and
# pytest are installed). This checkout's src/ comes first on the path.
#
# Sizes: UAVM_GPU_CLIPS (extraction clips, 1024), UAVM_GPU_WORKERS (decoding workers, cores - 2),
# UAVM_GPU_EPOCH_CLIPS (training clips, 18300: the generated features of a full VGGSound epoch,
# 183 k clips, need ~60 GB of disk and minutes to write, so the epoch is timed on a tenth and scaled).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DRY=0
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --dry-run) DRY=1 ;;
    --out)
        OUT="$2"
        shift
        ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "gpu.sh: unknown argument $1 (--dry-run, --out FILE)" >&2
        exit 2
        ;;
    esac
    shift
done

# ---------------------------------------------------------------- python
PY="${UAVM_PYTHON:-}"
if [ -z "$PY" ]; then
    for candidate in "$ROOT/.venv/bin/python" python3; do
        if "$candidate" -c "import torch" >/dev/null 2>&1; then
            PY="$candidate"
            break
        fi
    done
fi
if [ -z "$PY" ] && [ -x "$ROOT/.venv-gpu/bin/python" ]; then
    PY="$ROOT/.venv-gpu/bin/python"
fi
if [ -z "$PY" ]; then
    echo "gpu.sh: building .venv-gpu from the system's packages (offline)" >&2
    python3 -m venv --system-site-packages "$ROOT/.venv-gpu" &&
        "$ROOT/.venv-gpu/bin/pip" install --quiet --no-index --no-deps --no-build-isolation -e "$ROOT" ||
        {
            echo "gpu.sh: could not build a venv; set UAVM_PYTHON to a python with torch" >&2
            exit 1
        }
    PY="$ROOT/.venv-gpu/bin/python"
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"

NPROC=$(nproc 2>/dev/null || echo 4)
WORK=$(mktemp -d -t uavm-gpu-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ "$DRY" = 1 ]; then
    OUT="${OUT:-$(mktemp -d -t uavm-gpu-dry-XXXXXX)/RESULTS_gpu.md}"  # never the committed results
    DEVICE=cpu
    TESTS_LIMIT=120
    EXTRACT=(--clips 2 --seconds 2 --size tiny --workers 1 --batch-size 2 --device cpu --visual-batches 8)
    EPOCH_CLIPS=32
    TRAIN=(--epoch --clips "$EPOCH_CLIPS" --batch 16 --workers 0 --device cpu)
    PREDICT=(--size tiny --seconds 2 --repeats 1 --small-model --device cpu)
else
    OUT="${OUT:-$ROOT/benchmarks/RESULTS_gpu.md}"
    DEVICE=cuda
    TESTS_LIMIT=60
    WORKERS="${UAVM_GPU_WORKERS:-$((NPROC > 3 ? NPROC - 2 : 1))}"
    EXTRACT=(--clips "${UAVM_GPU_CLIPS:-1024}" --size base --workers "$WORKERS" --batch-size 32 --device cuda
        --visual-batches 64,128,256,512)
    EPOCH_CLIPS="${UAVM_GPU_EPOCH_CLIPS:-18300}"
    TRAIN=(--epoch --clips "$EPOCH_CLIPS" --batch 144 --workers 8 --device cuda)
    PREDICT=(--size base --repeats 3 --device cuda)
    if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
        echo "gpu.sh: torch sees no CUDA device (use --dry-run to check the script on a CPU)" >&2
        exit 1
    fi
fi
mkdir -p "$(dirname "$OUT")"

# ---------------------------------------------------------------- steps
FAILED=0
SECTIONS="$WORK/sections.md"
: >"$SECTIONS"

# step TITLE LIMIT_S COMMAND...: runs it under `timeout`, appends its output to the results
step() {
    local title="$1" limit="$2"
    shift 2
    local log="$WORK/step.log" start end rc status
    echo "gpu.sh: $title ..." >&2
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    if [ $rc = 0 ]; then
        status="ok"
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        status="TIMED OUT after $limit s"
        FAILED=1
    else
        status="FAILED (exit status $rc)"
        FAILED=1
    fi
    {
        echo "## $title"
        echo
        echo "\`${*/#"$ROOT/"/}\` — $status, $((end - start)) s"
        echo
        if [ $rc = 0 ]; then
            # the tables and summary lines, a blank line between a table and the text around it
            grep -E '^\||^[a-zA-Z0-9].*(clips|machine|epoch|passed|skipped|failed)' "$log" | tail -40 |
                awk '{ t = /^\|/; if (NR > 1 && t != prev) print ""; print; prev = t }'
        else
            echo '```'
            tail -30 "$log"
            echo '```'
        fi
        echo
    } >>"$SECTIONS"
    echo "gpu.sh: $title: $status ($((end - start)) s)" >&2
    LAST_LOG="$log"
    cp "$log" "$WORK/$(echo "$title" | tr -c 'a-zA-Z0-9\n' '_').log"
}

TOTAL_START=$(date +%s)
mapfile -t CUDA_TESTS < <(grep -rl --include='*.py' 'pytest.mark.cuda' tests)
step "CUDA-marked tests" "$TESTS_LIMIT" "$PY" -m pytest -q -p no:cacheprovider -m cuda "${CUDA_TESTS[@]}"
step "Extraction end to end vs the encoders alone" 170 "$PY" "$ROOT/benchmarks/extract.py" "${EXTRACT[@]}"
step "Training epoch (paper UAVM, store loader)" 130 "$PY" "$ROOT/benchmarks/train.py" "${TRAIN[@]}"
EPOCH_LINE=$(grep -E '^one epoch of' "$LAST_LOG" || true)
if [ -n "$EPOCH_LINE" ]; then
    SECONDS_EPOCH=$(echo "$EPOCH_LINE" | sed -E 's/.*: ([0-9.]+) s$/\1/')
    SCALED=$(awk -v s="$SECONDS_EPOCH" -v n="$EPOCH_CLIPS" 'BEGIN { printf "%.1f", s * 183000 / n }')
    echo "Scaled to a VGGSound epoch (183 k clips, linear in clips): **$SCALED s** (goal ≤ 30 s on one H100-class GPU)." >>"$SECTIONS"
    echo >>"$SECTIONS"
fi
step "uavm predict latency" 100 "$PY" "$ROOT/benchmarks/predict.py" "${PREDICT[@]}"
TOTAL=$(($(date +%s) - TOTAL_START))

# ---------------------------------------------------------------- results
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
TORCH=$("$PY" -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda)" 2>/dev/null)
{
    echo "# One GPU script (benchmarks/gpu.sh)"
    echo
    if [ "$DRY" = 1 ]; then
        echo "**Dry run** (tiny sizes, CPU): checks the script, not the speed."
        echo
    fi
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- device: $DEVICE${GPU:+ ($GPU)}; $NPROC CPU cores; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    echo "- torch $TORCH; python $PY"
    echo "- whole script: $TOTAL s (goal ≤ 480 s)"
    echo "- goals: extraction end to end ≥ 90 % of the visual encoder alone at its best batch; a VGGSound"
    echo "  epoch ≤ 30 s (bf16); random weights of the released sizes, generated clips and features"
    echo
    cat "$SECTIONS"
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo "gpu.sh: wrote $OUT" >&2
exit $FAILED
