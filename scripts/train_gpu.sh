#!/usr/bin/env bash
# The default model's recipes (scripts/train_default_model.sh) on one GPU for a fixed wall time,
# side by side on the same card: VARIANTS (default "baseline distill teacher") train concurrently, each
# with its batches, augmentation and teacher on the GPU (fastdepth-ros train --device cuda),
# while background processes render training rooms into FASTDEPTH_CACHE_DIR.
#
# DATA holds compact copies made on the workstation (fastdepth-ros scale-folder, x0.5; the
# official transform shrinks 640x480 to 333x250 first anyway) and the starting weights:
#   7scenes_train/ (7-Scenes 0-798)  7scenes_val/ (800-998)  replica/  realsense/
#   init_imagenet_pruned.pth (ImageNet encoder, see below)   reference/ (the teacher ONNX and
#   official_sample/, i.e. a FASTDEPTH_REFERENCE_DIR)
# init_imagenet_pruned.pth is `--init imagenet --pretrained mobilenet_v1_1.0_224_imagenet.npz`
# saved at step 0 (a 5 MB checkpoint instead of the 17 MB npz).
#   DATA=.devdata OUT_DIR=out MINUTES=6.5 scripts/train_gpu.sh
# Each run's last.pth and eval.jsonl land in OUT_DIR/VARIANT, logs in LOG_DIR (default OUT_DIR); export them here with
# fastdepth-ros export (docs/model.md).  The runs fail fast: if any dies in its first minute,
# all stop.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-.devdata}"
OUT_DIR="${OUT_DIR:-runs-gpu}"
LOG_DIR="${LOG_DIR:-$OUT_DIR}"
MINUTES="${MINUTES:-6.5}"
VARIANTS="${VARIANTS:-baseline distill teacher}"
RENDER_WORKERS="${RENDER_WORKERS:-10}"
BATCH="${BATCH:-16}"  # the paper's 8 leaves a GPU idle between launches; 16 costs about the same step time
DEVICE="${DEVICE:-cuda}"
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1
export FASTDEPTH_CACHE_DIR="${FASTDEPTH_CACHE_DIR:-/tmp/fastdepth_cache}"
export FASTDEPTH_REFERENCE_DIR="$DATA/reference"
mkdir -p "$OUT_DIR" "$LOG_DIR"
cli() { "$PY" -m fastdepth_ros.training.cli "$@"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
cli render --scenes 12000 --workers "$RENDER_WORKERS" >"$LOG_DIR/render.log" 2>&1 &
render_pid=$!
sleep 15  # a first batch of rooms; the runs render any of the first 64 still missing

pids=()
for v in $VARIANTS; do
  share=0.3; extra=(); init="$DATA/init_imagenet_pruned.pth"
  case "$v" in
    baseline) ;;
    distill) extra=(--teacher "$DATA/reference/fastdepth_pruned_ref.onnx" --distill-weight 0.5) ;;
    teacher) share=0.5
             extra=(--teacher "$DATA/reference/fastdepth_pruned_ref.onnx" --distill-weight 1.0 --distill-rendered) ;;
    finetune*)  # the official model itself fine-tuned (its BN is folded: frozen BN, a small lr),
                # with itself as the teacher so that it keeps what it knows of NYU rooms
      ref="$DATA/reference/fastdepth_pruned_ref.onnx"; share=0; w=1.0
      [ "$v" = finetune-rendered ] && share=0.3
      [ "$v" = finetune-light ] && w=0.3
      init="$ref"; extra=(--frozen-bn --lr 0.0001 --teacher "$ref" --distill-weight "$w" --distill-rendered) ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  mkdir -p "$OUT_DIR/$v"
  cli train --device "$DEVICE" --time-budget-min "$MINUTES" --steps 200000 --batch-size "$BATCH" \
    --preset pruned --seed 0 --init-from "$init" \
    --real "$DATA/7scenes_train" --real "$DATA/replica" --render-share "$share" --render-workers 0 \
    --val "$DATA/7scenes_val" --val "$DATA/realsense" --val nyu_sample \
    --eval-every "${EVAL_EVERY:-2000}" --checkpoint-every 1000 --checkpoint-dir "$OUT_DIR/$v" "${extra[@]}" \
    >"$LOG_DIR/$v.log" 2>&1 &
  pids+=($!)
done

sleep 60
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "a run died in its first minute; stopping" >&2
    pkill -P "$render_pid" 2>/dev/null || true
    kill "${pids[@]}" "$render_pid" 2>/dev/null || true
    for v in $VARIANTS; do tail -n 30 "$LOG_DIR/$v.log"; done
    exit 1
  fi
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
pkill -P "$render_pid" 2>/dev/null || true  # the renderer processes, then their parent
kill "$render_pid" 2>/dev/null || true
tail -n 3 "$LOG_DIR/render.log"
for v in $VARIANTS; do
  echo "== $v"; grep -E "time budget" "$LOG_DIR/$v.log" || true
  tail -n 2 "$LOG_DIR/$v.log" | cut -c1-400
done
exit $status
