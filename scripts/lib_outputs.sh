# Sourced by the scripts that train, prune or export (finetune_default_model.sh,
# prune_default_model.sh, prune_shipped_model.sh): they write the checkout's models/ and docs/
# only when asked.  Options taken out of "$@" (the rest is left in ARGS for the script):
#   --install   write the results where the package ships them (models/, docs/)
#   --dry-run   print the commands instead of running them
# shellcheck shell=bash
INSTALL=0
DRY_RUN=0
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    --dry-run) DRY_RUN=1 ;;
    *) ARGS+=("$arg") ;;
  esac
done

# run CMD...: run it, or print it (shell-quoted) with --dry-run
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}

# dest CHECKOUT_PATH SCRATCH_PATH: the checkout's file with --install, else the scratch one
dest() {
  if [ "$INSTALL" = 1 ]; then echo "$1"; else echo "$2"; fi
}

# said at the end: where the results went, and how to install them
outputs_note() {
  if [ "$INSTALL" = 1 ]; then
    echo "installed into the checkout: $*" >&2
  else
    echo "results in: $* (the checkout's models/ and docs/ are untouched; rerun with --install to replace them)" >&2
  fi
}
