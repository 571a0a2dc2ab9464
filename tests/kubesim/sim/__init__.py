"""In-process model of a small Kubernetes API server and its kubelets.

The package is split by responsibility: ``store`` is the etcd-like object
store with one resourceVersion counter, a bounded change history and the
watch fan-out; ``api`` maps REST paths onto it; ``kubelet`` and ``jobs``
simulate the node agent and the Job controller on one scheduler thread;
``control`` exposes the ``/_sim/`` test hooks; ``server`` is the HTTP layer.
Only the Python standard library is used so the simulator runs anywhere the
test suite does.
"""
