# Sourced by scripts run by hand (tests/h2spec.sh, tests/bench/bench_h2_abuse.sh, bench_keep.sh,
# bench_big_pull.sh): a work directory, the Kubernetes simulator and daemons on free loopback
# ports, and clean-up on exit.
#
#   sim_world_start TAG [SIM_ARGS...]
#                          sets $work (a new temporary directory) and $instance (a prefix for the
#                          daemons' instance names), then sim_world_sim --nodes 2 SIM_ARGS
#                          (a later --nodes wins); every PID in the array $pids is stopped on
#                          exit, the instances' segments and $work removed
#   sim_world_sim [SIM_ARGS...]
#                          starts a simulator with SIM_ARGS (output in $work/sim.out), waits up to
#                          60 s for it to listen; sets $sim_port and $sim_pid
#   sim_world_conf NAME [DIRECTIVES...]
#                          writes $work/NAME.conf: kube_server (the simulator), instance
#                          $instanceNAME, listen 127.0.0.1:<free port>, workers 1, then each
#                          directive; sets $daemon_port
#   sim_world_daemon NAME [DIRECTIVES...]
#                          sim_world_conf, then starts $bin (the daemon) with it, its output in
#                          $work/NAME.log, and waits up to 60 s for GET /readyz 200; sets $daemon_pid
#   sim_world_stop PID     stops PID (SIGTERM, then waits) and forgets it
#   free_port              prints a free TCP port on 127.0.0.1
# Needs $root, the repository's top directory.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

sim_world_cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    # Under set -e a process that died of its signal would end the clean-up here.
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f /dev/shm/imgpulld."$instance"*
    rm -rf "$work"
}

sim_world_start() {
    work=$(mktemp -d "/tmp/ipd-$1.XXXXXX")
    instance="$1-$$-"
    pids=()
    trap sim_world_cleanup EXIT
    # Later arguments win (argparse): SIM_ARGS may set another --nodes.
    sim_world_sim --nodes 2 "${@:2}"
}

sim_world_sim() {
    python3 -u "$root/tests/kubesim/kubesim.py" --port 0 "$@" >"$work/sim.out" 2>"$work/sim.err" &
    sim_pid=$!
    pids+=("$sim_pid")
    sim_port=
    for _ in $(seq 600); do
        sim_port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/sim.out" 2>/dev/null)
        [ -n "$sim_port" ] && break
        sleep 0.1
    done
    [ -n "$sim_port" ] || { echo "the simulator did not start" >&2; exit 1; }
}

sim_world_conf() {
    local name=$1 d
    shift
    daemon_port=$(free_port)
    {
        echo "kube_server http://127.0.0.1:$sim_port"
        echo "instance $instance$name"
        echo "listen 127.0.0.1:$daemon_port"
        echo "workers 1"
        for d in "$@"; do echo "$d"; done
    } >"$work/$name.conf"
}

sim_world_daemon() {
    sim_world_conf "$@"
    "$bin" -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
    daemon_pid=$!
    pids+=("$daemon_pid")
    for _ in $(seq 600); do
        curl -sf -o /dev/null "http://127.0.0.1:$daemon_port/readyz" && return 0
        sleep 0.1
    done
    echo "the daemon $1 did not get ready" >&2
    exit 1
}

sim_world_stop() {
    local p kept=()
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    pids=("${kept[@]}")
}
