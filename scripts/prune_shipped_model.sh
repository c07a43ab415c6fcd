#!/usr/bin/env bash
# NetAdapt from the shipped model (docs/netadapt.md, "From the shipped model"): prunes
# models/fastdepth.onnx -- the official NetAdapt widths (found for the TX2 GPU), fine-tuned on
# real frames -- further, for the runtime this machine runs ($PROVIDER, $THREADS ORT threads),
# to the official widths' latency / $RATIO by the latency table.  Every fine-tune uses the
# shipped model's recipe (scripts/finetune_default_model.sh): the same real frames + 30 %
# rendered rooms, frozen (folded) BatchNorm, SGD lr 1e-4, L1 + 0.3 x L1 to the shipped model as
# teacher.  The official widths row is the shipped model given the same long fine-tune.
# Resumable: run it again after an interruption.  The Pareto plot goes to
# $PRUNE_DIR/pareto.png; --install also copies it over docs/netadapt_pareto_shipped.png; --dry-run prints the commands.
#   SHARED=../shared PROVIDER=cpu THREADS=2 scripts/prune_shipped_model.sh [--install] [--dry-run] [more prune flags]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib_outputs.sh "$@"
set -- ${ARGS[@]+"${ARGS[@]}"}
SHARED="${SHARED:-../shared}"
DATA="${DATA:-.devdata}"
CACHE="${FASTDEPTH_CACHE_DIR:-$HOME/.cache/fastdepth_ros}"
PROVIDER="${PROVIDER:-cpu}"
THREADS="${THREADS:-2}"
RATIO="${RATIO:-1.4}"
PRUNE_DIR="${PRUNE_DIR:-$CACHE/netadapt/shipped-$PROVIDER-${THREADS}t}"
FD=.venv/bin/fastdepth-ros
PLOT=()  # the search writes $PRUNE_DIR/pareto.png; --install copies it into docs/
[ "$INSTALL" = 0 ] || PLOT=(--plot docs/netadapt_pareto_shipped.png)
[ -d "$DATA/7scenes_train" ] || run env SHARED="$SHARED" DATA="$DATA" scripts/pack_gpu_data.sh
run $FD render --scenes 2400 --workers 2  # the rendered rooms the fine-tunes draw from (cached)
run $FD prune --parent models/fastdepth.onnx --run-dir "$PRUNE_DIR" \
  --provider "$PROVIDER" --threads "$THREADS" --target-vs-pruned "$RATIO" --reduction 0.02 --decay 0.98 \
  --budget 10 --batch-size 8 --lr 0.0001 --val-stride 1 --select delta1_scaled --seed 0 \
  --data-on-device --frozen-bn --teacher models/fastdepth.onnx --distill-weight 0.3 --distill-rendered \
  --real "$DATA/7scenes_train" --real "$DATA/replica" --render-share 0.3 \
  --val "$DATA/7scenes_val" --val "$DATA/realsense" \
  --long-steps 300 --long-lr 0.0001 --long-batch-size 16 --long-warmup-steps 20 --points 2 \
  "${PLOT[@]}" "$@"
outputs_note "$PRUNE_DIR/pareto.png${PLOT[1]:+ -> ${PLOT[1]}}"
