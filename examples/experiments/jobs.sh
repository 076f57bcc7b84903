# Sourced by the experiment scripts: run commands in the background, at most $JOBS at a time.
#   spawn CMD ARGS...   start CMD once fewer than $JOBS jobs run
#   wait_all WHAT       wait for every spawned job; exit 1 naming WHAT if any failed
pids=()
spawn() {
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  "$@" &
  pids+=($!)
}
wait_all() {
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  pids=()
  [ "$failed" = 0 ] || { echo "[experiments] a run failed (see ${1:-its logs})" >&2; exit 1; }
}
