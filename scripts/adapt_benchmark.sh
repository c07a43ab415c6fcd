#!/usr/bin/env bash
# The `fastdepth-ros adapt` benchmark (docs/model.md, "Adapt the model to your camera"): a bag
# built with make-bag from the 500 shared 7-Scenes kitchen frames (JPEG colour, mcap), adapted
# from the official model with a 15-minute budget, then `eval` of the result beside the
# official model on the original frames 00800-00998, the NYU frame and the RealSense office.
# Bag, state and outputs go to WORK (default ~/.cache/fastdepth_ros/adapt-benchmark), never into
# the repository; rerunning resumes.
#   SHARED=../shared scripts/adapt_benchmark.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="$(cd "${SHARED:-../shared}" && pwd)"
WORK="${WORK:-$HOME/.cache/fastdepth_ros/adapt-benchmark}"
FD=.venv/bin/fastdepth-ros
K="$SHARED/realdata/7scenes_redkitchen"
REF="$SHARED/reference/fastdepth_pruned_ref.onnx"
export FASTDEPTH_REFERENCE_DIR="$SHARED/reference"
mkdir -p "$WORK"
[ -d "$WORK/kitchen_bag" ] || $FD make-bag --rgb "$K/rgb" --depth "$K/depth" --intrinsics "$K/meta.json" \
  --compress jpeg --jpeg-quality 95 --storage mcap -o "$WORK/kitchen_bag"
[ -d "$WORK/adapted" ] || $FD adapt --bag "$WORK/kitchen_bag" --out "$WORK/adapted" --init-from "$REF" \
  --time-budget-min "${MINUTES:-15}" --device cpu
$FD eval "$WORK/adapted/model.onnx" --compare "$REF" --folder "$K:800-998" \
  --folder "$SHARED/realdata/realsense_office" --heldout 50 --json "$WORK/eval.json"
