#!/usr/bin/env bash
# Pack what scripts/train_gpu.sh reads into DATA (default .devdata, git-ignored: it holds copies
# of ../shared data and must never be committed), small enough to send to a lent GPU machine
# (~50 MB): half-resolution copies of the RGB-D folders (fastdepth-ros scale-folder), the
# ImageNet-initialised pruned model at step 0 (5 MB instead of the 17 MB npz), and the
# reference folder's teacher ONNX and official NYU sample.
#   SHARED=../shared DATA=.devdata scripts/pack_gpu_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-../shared}"
DATA="${DATA:-.devdata}"
PY="${PY:-.venv/bin/python}"
R="$SHARED/realdata"
cli() { "$PY" -m fastdepth_ros.training.cli "$@"; }
rm -rf "$DATA" && mkdir -p "$DATA/reference/official_sample"
cli scale-folder "$R/7scenes_redkitchen:0-798" "$DATA/7scenes_train" --scale 0.5
cli scale-folder "$R/7scenes_redkitchen:800-998" "$DATA/7scenes_val" --scale 0.5 --every 2
cli scale-folder "$R/replica_office0_synthetic" "$DATA/replica" --scale 0.4
cli scale-folder "$R/realsense_office" "$DATA/realsense" --scale 0.5
cli train --init imagenet --pretrained "$SHARED/pretrained/mobilenet_v1_1.0_224_imagenet.npz" --steps 0 \
  --render-share 0 --render-workers 0 --eval-every 0 --no-resume --checkpoint-dir "$DATA/init"
mv "$DATA/init/last.pth" "$DATA/init_imagenet_pruned.pth" && rm -rf "$DATA/init"
cp "$SHARED/reference/fastdepth_pruned_ref.onnx" "$DATA/reference/"
cp "$SHARED/reference/official_sample/"{rgb,depth}.npy "$DATA/reference/official_sample/"
du -sh "$DATA"
