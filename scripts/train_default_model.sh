#!/usr/bin/env bash
# The recipe of the shipped models/fastdepth.onnx (docs/model.md): ImageNet encoder, pruned
# widths, L1 + SGD (the paper's), batches mixing real RGB-D folders and rendered rooms, in
# the canonical camera. VARIANT=teacher (default, the shipped model) adds the reference model as
# a teacher on every frame with half the batches rendered; VARIANT=baseline is the paper's
# recipe (ground truth only); VARIANT=distill the teacher on real frames only.
# Resumable: run it again after an interruption and it continues from last.pth.
#   SHARED=../shared VARIANT=baseline|distill|teacher STEPS=3600 scripts/train_default_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-../shared}"
VARIANT="${VARIANT:-teacher}"
STEPS="${STEPS:-3600}"
# --val nyu_sample reads the official NYU frame: the package has no default folder for it
export FASTDEPTH_REFERENCE_DIR="${FASTDEPTH_REFERENCE_DIR:-$SHARED/reference}"
RUN_DIR="${RUN_DIR:-${FASTDEPTH_CACHE_DIR:-$HOME/.cache/fastdepth_ros}/runs/real-$VARIANT}"
extra=()
share=0.3
if [ "$VARIANT" = distill ]; then
  extra=(--teacher "$SHARED/reference/fastdepth_pruned_ref.onnx" --distill-weight 0.5)
elif [ "$VARIANT" = teacher ]; then  # the teacher on every frame, rendered ones too
  share=0.5
  extra=(--teacher "$SHARED/reference/fastdepth_pruned_ref.onnx" --distill-weight 1.0 --distill-rendered)
fi
exec .venv/bin/fastdepth-ros train --preset pruned --seed 0 --steps "$STEPS" \
  --init imagenet --pretrained "$SHARED/pretrained/mobilenet_v1_1.0_224_imagenet.npz" \
  --real "$SHARED/realdata/7scenes_redkitchen:0-798" \
  --real "$SHARED/realdata/replica_office0_synthetic" \
  --render-share "$share" --render-workers 0 --workers 1 --threads 1 \
  --val "$SHARED/realdata/7scenes_redkitchen:800-998" --val "$SHARED/realdata/realsense_office" \
  --val nyu_sample --eval-every 300 --checkpoint-every 50 \
  --checkpoint-dir "$RUN_DIR" "${extra[@]}" "$@"
