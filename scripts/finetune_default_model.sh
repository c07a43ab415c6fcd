#!/usr/bin/env bash
# The shipped models/fastdepth.onnx (docs/model.md), on a CPU: the official FastDepth fine-tuned
# on real RGB-D frames (7-Scenes kitchen 0-798, Replica office) and 30 % rendered rooms in the
# canonical camera, with itself as the teacher (weight 0.3) and frozen BatchNorm, 754 steps of
# 16 (35 min on the 2-core development machine, one torch thread); then WiSE-FT with the
# official weights at alpha 0.8 and the export with the model card.  Resumable (last.pth).
# The model, its card and the updated docs/model.md go to $RUN_DIR; --install writes
# models/fastdepth.onnx (+ .json) and docs/model.md instead; --dry-run prints the commands.
#   SHARED=../shared scripts/finetune_default_model.sh [--install] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib_outputs.sh "$@"
SHARED="${SHARED:-../shared}"
DATA="${DATA:-.devdata}"
CACHE="${FASTDEPTH_CACHE_DIR:-$HOME/.cache/fastdepth_ros}"
RUN_DIR="${RUN_DIR:-$CACHE/runs/finetune-light-rendered-cpu}"
FD=.venv/bin/fastdepth-ros
MODEL="$(dest models/fastdepth.onnx "$RUN_DIR/fastdepth.onnx")"
DOC="$(dest docs/model.md "$RUN_DIR/model.md")"
[ -f "$DATA/init_imagenet_pruned.pth" ] || run env SHARED="$SHARED" DATA="$DATA" scripts/pack_gpu_data.sh
run $FD render --scenes 2400 --workers 2  # the rendered rooms it draws from (cached; ~0.5 s a room per core)
REF="$DATA/reference/fastdepth_pruned_ref.onnx"
run env FASTDEPTH_REFERENCE_DIR="$DATA/reference" $FD train --device cpu --data-on-device --threads 1 --seed 0 \
  --steps 754 --batch-size 16 --lr 0.0001 --warmup-steps 50 --scenes 2400 \
  --init-from "$REF" --frozen-bn --teacher "$REF" --distill-weight 0.3 --distill-rendered \
  --real "$DATA/7scenes_train" --real "$DATA/replica" --render-share 0.3 --render-workers 0 \
  --val "$DATA/7scenes_val" --val "$DATA/realsense" --val nyu_sample --eval-every 250 \
  --checkpoint-every 50 --checkpoint-dir "$RUN_DIR"
run $FD interpolate "$SHARED/reference/fastdepth_pruned_ref.onnx" "$RUN_DIR/last.pth" --alpha 0.8 \
  -o "$RUN_DIR/wise.pth" --why "the smallest alpha whose validation frames meet the targets (docs/model.md)"
[ "$DOC" = docs/model.md ] || run cp docs/model.md "$DOC"  # its generated table, rewritten in the copy
run env FASTDEPTH_REFERENCE_DIR="$SHARED/reference" $FD export "$RUN_DIR/wise.pth" -o "$MODEL" --card \
  --compare "$SHARED/reference/fastdepth_pruned_ref.onnx" --docs "$DOC" \
  --folder "$SHARED/realdata/7scenes_redkitchen:800-998" --folder "$SHARED/realdata/realsense_office" \
  --run-log "finetune-light-rendered=$RUN_DIR/eval.jsonl"
outputs_note "$MODEL" "${MODEL%.onnx}.json" "$DOC"
