# Sourced by scripts run by hand (tests/h2spec.sh, tests/bench/bench_h2_abuse.sh): a work
# directory, the Kubernetes simulator on a free loopback port, and clean-up on exit.
#
#   sim_world_start TAG [SIM_ARGS...]
#                          sets $work (a new temporary directory), $instance (a prefix for the
#                          daemons' instance names) and $sim_port; every PID added to the array
#                          $pids is stopped on exit, the instances' segments and $work removed
#   free_port              prints a free TCP port on 127.0.0.1
# Needs $root, the repository's top directory.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

sim_world_cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -f /dev/shm/imgpulld."$instance"*
    rm -rf "$work"
}

sim_world_start() {
    work=$(mktemp -d "/tmp/ipd-$1.XXXXXX")
    instance="$1-$$-"
    pids=()
    trap sim_world_cleanup EXIT
    # Later arguments win (argparse): SIM_ARGS may set another --nodes.
    python3 -u "$root/tests/kubesim/kubesim.py" --port 0 --nodes 2 "${@:2}" >"$work/sim.out" 2>"$work/sim.err" &
    pids+=("$!")
    for _ in $(seq 600); do
        grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break
        sleep 0.1
    done
    sim_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out")
    [ -n "$sim_port" ] || { echo "the simulator did not start" >&2; exit 1; }
}
