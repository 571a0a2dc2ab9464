"""What the Python benchmarks that start daemons share: a free loopback port, and stopping what
they started (every process by its handle, the instances' shared-memory segments, the work
directory), so that a benchmark leaves the machine as it found it."""
import glob
import os
import shutil
import signal
import socket
import subprocess


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop_all(procs, instances, workdir):
    """SIGTERM to every process (newest first), SIGKILL to any still there after 15 s, then the
    segments of `instances` (their names: shared/shm.h) and `workdir` go."""
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for inst in instances:
        for seg in glob.glob("/dev/shm/imgpulld.%s@*" % inst):
            os.unlink(seg)
    shutil.rmtree(workdir, ignore_errors=True)
