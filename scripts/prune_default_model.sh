#!/usr/bin/env bash
# NetAdapt for the runtime this machine runs (docs/netadapt.md), in two resumable steps:
#   1. the full-width parent: the default model's recipe (scripts/train_default_model.sh,
#      VARIANT=baseline) at --preset full, unless $PARENT is given;
#   2. fastdepth-ros prune: latency tables on $PROVIDER with $THREADS threads, the NetAdapt
#      search, long-term fine-tunes, the Pareto table and plot (docs/netadapt_pareto.png).
# The schedule is the one that met the goal on this project's 2-core CPU (docs/netadapt.md,
# "The gentle schedule"): 3 % of the parent's latency per iteration (decay 0.98), 20-step
# short-term fine-tunes, stop once the *measured* latency is the official widths' / 1.35,
# 1800-step long-term fine-tunes.  Later flags override it (argparse: the last one wins).
# Run it again after an interruption: both steps continue where they stopped.  The Pareto
# plot goes to $PRUNE_DIR/pareto.png; --install also copies it over docs/netadapt_pareto.png; --dry-run prints
# the commands.
#   SHARED=../shared PROVIDER=cpu THREADS=2 scripts/prune_default_model.sh [--install] [--dry-run] [more prune flags]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib_outputs.sh "$@"
set -- ${ARGS[@]+"${ARGS[@]}"}
SHARED="${SHARED:-../shared}"
CACHE="${FASTDEPTH_CACHE_DIR:-$HOME/.cache/fastdepth_ros}"
PROVIDER="${PROVIDER:-cpu}"
THREADS="${THREADS:-2}"
PARENT_STEPS="${PARENT_STEPS:-3600}"
PARENT_DIR="${PARENT_DIR:-$CACHE/runs/real-full}"
PRUNE_DIR="${PRUNE_DIR:-$CACHE/netadapt/$PROVIDER-${THREADS}t}"
TORCH_THREADS="${TORCH_THREADS:-$(nproc)}"  # for the fine-tunes, not the timed runtime
if [ -z "${PARENT:-}" ]; then
  run env RUN_DIR="$PARENT_DIR" VARIANT=baseline STEPS="$PARENT_STEPS" scripts/train_default_model.sh --preset full
  PARENT="$PARENT_DIR/last.pth"
fi
PLOT=()  # the search writes $PRUNE_DIR/pareto.png; --install copies it into docs/
[ "$INSTALL" = 0 ] || PLOT=(--plot docs/netadapt_pareto.png)
run .venv/bin/fastdepth-ros prune --parent "$PARENT" --run-dir "$PRUNE_DIR" \
  --provider "$PROVIDER" --threads "$THREADS" \
  --real "$SHARED/realdata/7scenes_redkitchen:0-798" \
  --real "$SHARED/realdata/replica_office0_synthetic" --render-share 0.3 \
  --val "$SHARED/realdata/7scenes_redkitchen:800-998" --val "$SHARED/realdata/realsense_office" \
  --budget 20 --reduction 0.03 --decay 0.98 --target-vs-pruned 1.35 --stop-on measured \
  --long-steps 1800 --torch-threads "$TORCH_THREADS" \
  "${PLOT[@]}" "$@"
outputs_note "$PRUNE_DIR/pareto.png${PLOT[1]:+ -> ${PLOT[1]}}"
