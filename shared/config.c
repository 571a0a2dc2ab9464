#include "shared/config_table.h"

#include "proto/error.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(f) .offset = offsetof(ipd_config_t, f), .size = sizeof(((ipd_config_t *)0)->f)
#define LIST(f, n)                                                                                                     \
    .offset = offsetof(ipd_config_t, f), .size = sizeof(((ipd_config_t *)0)->f[0]),                                    \
    .count_offset = offsetof(ipd_config_t, n),                                                                         \
    .capacity = sizeof(((ipd_config_t *)0)->f) / sizeof(((ipd_config_t *)0)->f[0])
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define MS(n)         (n##LL)
#define S(n)          (n##LL * 1000)
#define MINUTES(n)    (n##LL * 60000)
#define H(n)          (n##LL * 3600000)
#define K(n)          (n##LL << 10)
#define M(n)          (n##LL << 20)
#define G(n)          (n##LL << 30)

static const char *const scope_names[] = {"cluster", "node", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const role_names[] = {"none", "read", "admin", NULL};

const ipd_config_directive_t ipd_config_table[] = {
    {"listen", IPD_CT_LISTEN, IPD_CF_REPEATABLE, LIST(listen, listen_count), .def = "127.0.0.1:8080",
     .flag = "--listen", .section = "Serving",
     .help = "Address to serve HTTP/1.1, HTTP/2 and WebSocket on: an IPv4 address, [IPv6] address or localhost, "
             "with a port (0: any free port, as tests use). Repeat for several. A non-loopback address requires "
             "tokens_file."},
    {"workers", IPD_CT_INT, IPD_CF_AUTO, FIELD(workers), RANGE(1, 256), .def = "auto", .flag = "--workers",
     .help = "Worker processes serving clients; auto starts one per online CPU."},
    {"instance", IPD_CT_NAME, IPD_CF_RESTART, FIELD(instance), RANGE(1, 64), .def = "default", .flag = "--instance",
     .help = "Instance name, 1-64 of [A-Za-z0-9_.-]. Names the shared-memory segments "
             "/imgpulld.<instance>@table-<random> and @stats-<random>, so several daemons can run on one host."},
    {"tls_cert", IPD_CT_PATH, 0, FIELD(tls_cert), .def = "", .example = "/etc/imgpulld/tls/server.crt",
     .help = "PEM certificate chain. When set, every listener speaks TLS, with HTTP/2 offered through ALPN."},
    {"tls_key", IPD_CT_PATH, 0, FIELD(tls_key), .def = "", .example = "/etc/imgpulld/tls/server.key",
     .help = "PEM private key of tls_cert; required with it."},
    {"tokens_file", IPD_CT_PATH, 0, FIELD(tokens_file), .def = "", .example = "/etc/imgpulld/tokens",
     .help = "File of bearer tokens, each with the role read or admin. Required when any listener is not "
             "loopback; when set, every request needs a token (except on loopback, see loopback_role)."},
    {"loopback_role", IPD_CT_ENUM, 0, FIELD(loopback_role), .choices = role_names, .def = "none",
     .help = "With tokens_file set, what a caller on a loopback listener gets without a token: none (only "
             "/healthz, /readyz and the dashboard's files, as on any listener), read, or admin. Without "
             "tokens_file every loopback caller is admin."},
    {"allowed_hosts", IPD_CT_HOSTS, IPD_CF_REPEATABLE, LIST(allowed_hosts, allowed_hosts_count), .def = "",
     .doc_default = "(loopback names and IP literals)", .example = "node-a.example.com",
     .help = "Host (HTTP/2 :authority) names a request may carry besides localhost, names under .localhost, this "
             "machine's host name and "
             "IP literals; any other name is answered 421, which stops DNS rebinding. Repeat, or list several; "
             "* accepts any name."},
    {"allowed_origins", IPD_CT_ORIGINS, IPD_CF_REPEATABLE, LIST(allowed_origins, allowed_origins_count), .def = "",
     .doc_default = "(the request's own)", .example = "https://dash.example.com",
     .help = "Browser origins (scheme://host[:port]) allowed to call the API and open WebSockets besides the "
             "request's own Host; a request whose Origin is not allowed (\"null\" included) is answered 403. "
             "Repeat, or list several; * accepts any origin."},
    {"max_connections_per_worker", IPD_CT_INT, 0, FIELD(max_connections_per_worker), RANGE(1, 1000000), .def = "10000",
     .help = "Open client connections per worker; further connections wait in the listen queue."},
    {"max_request_body", IPD_CT_SIZE, 0, FIELD(max_request_body), RANGE(K(1), M(64)), .def = "64k",
     .help = "Largest request body; larger requests are answered 413."},
    {"max_header_size", IPD_CT_SIZE, 0, FIELD(max_header_size), RANGE(K(1), M(1)), .def = "16k",
     .help = "Largest request header block; larger requests are answered 431. An HTTP/2 connection holding a "
             "larger unfinished header block is dropped within a second (GOAWAY ENHANCE_YOUR_CALM)."},
    {"max_header_bytes_per_worker", IPD_CT_SIZE, 0, FIELD(max_header_bytes_per_worker), RANGE(K(64), G(4)),
     .def = "64m",
     .help = "Unfinished HTTP/2 header blocks one worker holds, all its connections together; over it, the "
             "connections holding the largest are dropped (GOAWAY ENHANCE_YOUR_CALM) within a second until the rest "
             "fit."},
    {"request_rate_per_conn", IPD_CT_INT, 0, FIELD(request_rate_per_conn), RANGE(1, 1000000), .def = "1000",
     .help = "Requests per second one connection may make before it is dropped; HTTP/2 streams reset or refused "
             "before their request was complete count as requests (rapid reset)."},
    {"http_idle_timeout", IPD_CT_DURATION, 0, FIELD(http_idle_timeout_ms), RANGE(S(1), H(1)), .def = "10s",
     .help = "A client connection that sends nothing for this long is closed: an idle HTTP/1.1 keep-alive or "
             "HTTP/2 connection, a request (a WebSocket upgrade included) or TLS handshake that does not complete. "
             "An HTTP/2 header block still unfinished this long after it began closes its connection however "
             "slowly its bytes arrive. Idle connections hold up a worker's drain (reload, stop) for at most this "
             "long."},
    {"linger_timeout", IPD_CT_DURATION, 0, FIELD(linger_timeout_ms), RANGE(0, MINUTES(1)), .def = "2s",
     .help = "When an HTTP/1.1 request is refused before its body was read (413, a malformed request, 429), "
             "the answer is sent, the sending side shut down and the client's remaining bytes read and discarded "
             "for up to this long, so the client sees the answer instead of a connection reset. 0: close at once."},
    {"max_lingering_per_worker", IPD_CT_INT, 0, FIELD(max_lingering_per_worker), RANGE(0, 1000000), .def = "256",
     .help = "Refused HTTP/1.1 connections one worker drains at once (see linger_timeout); further ones close at "
             "once."},

    {"kubeconfig", IPD_CT_PATH, IPD_CF_KUBE, FIELD(kubeconfig), .def = "", .example = "/etc/imgpulld/kubeconfig",
     .doc_default = "(automatic)", .flag = "--kubeconfig", .section = "Kubernetes",
     .help = "kubeconfig file (its current context is used). With neither kubeconfig nor kube_server set: the "
             "pod's service account when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config."},
    {"kube_server", IPD_CT_URL, IPD_CF_KUBE, FIELD(kube_server), .def = "", .example = "https://10.0.0.1:6443",
     .flag = "--kube-server",
     .help = "API server URL, http:// or https://; excludes kubeconfig. Plain http is meant for the simulator."},
    {"kube_token_file", IPD_CT_PATH, IPD_CF_KUBE, FIELD(kube_token_file), .def = "",
     .example = "/var/run/secrets/kubernetes.io/serviceaccount/token",
     .help = "Bearer token file for kube_server, read again for every request so rotated tokens apply."},
    {"kube_ca_file", IPD_CT_PATH, IPD_CF_KUBE, FIELD(kube_ca_file), .def = "",
     .example = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
     .help = "CA bundle that signs kube_server's certificate; the system store when empty."},
    {"kube_insecure_skip_tls_verify", IPD_CT_BOOL, 0, FIELD(kube_insecure_skip_tls_verify), .def = "off",
     .help = "Do not verify the API server's certificate. For test clusters only."},
    {"scope", IPD_CT_ENUM, IPD_CF_KUBE, FIELD(scope), .choices = scope_names, .def = "cluster", .flag = "--scope",
     .help = "cluster: watch the pull pods of every node. node: watch only this node's pods and their Events; "
             "other nodes' tasks come through redis when it is set, else only through their Kubernetes Jobs "
             "(state without reasons or pull figures)."},
    {"node_name", IPD_CT_DNSNAME, IPD_CF_KUBE, FIELD(node_name), .def = "", .doc_default = "(host name)",
     .example = "node-a", .flag = "--node-name",
     .help = "This node's Kubernetes name; defaults to the lower-cased host name. Required by scope node."},
    {"namespace", IPD_CT_LABEL, IPD_CF_KUBE, FIELD(namespace), RANGE(1, 0), .def = "imgpulld",
     .help = "Namespace in which pull Jobs are created."},
    {"list_page_size", IPD_CT_INT, 0, FIELD(list_page_size), RANGE(1, 10000), .def = "500",
     .help = "Items per page (limit) of list requests."},
    {"watch_timeout", IPD_CT_DURATION, 0, FIELD(watch_timeout_ms), RANGE(S(1), H(1)), .def = "5m",
     .help = "timeoutSeconds asked of the API server for each watch request."},
    {"watch_idle_timeout", IPD_CT_DURATION, 0, FIELD(watch_idle_timeout_ms), RANGE(S(1), H(2)), .def = "6m",
     .help = "A watch that delivers nothing (not even a bookmark) for this long is restarted."},
    {"watch_backoff_initial", IPD_CT_DURATION, 0, FIELD(watch_backoff_initial_ms), RANGE(MS(10), MINUTES(1)),
     .def = "800ms", .help = "First retry delay of list and watch after an error; doubles, with jitter."},
    {"watch_backoff_max", IPD_CT_DURATION, 0, FIELD(watch_backoff_max_ms), RANGE(MS(100), H(1)), .def = "30s",
     .help = "Cap of the list and watch retry delay."},
    {"kube_retries", IPD_CT_INT, 0, FIELD(kube_retries), RANGE(0, 100), .def = "5",
     .help = "A single API request (creating, patching or deleting a Job, listing nodes or pods for a POST; not "
             "the lists and watches, which retry by themselves) that the API server answers 429 or 503 with "
             "Retry-After is sent again after that delay, up to this many times, without blocking anything "
             "else. The client's POST or DELETE waits for the answer that ends it. 0: never."},
    {"kube_retry_max_wait", IPD_CT_DURATION, 0, FIELD(kube_retry_max_wait_ms), RANGE(MS(100), MINUTES(10)),
     .def = "30s", .help = "Longest wait before one such retry: a longer Retry-After waits this long."},
    {"keep_pod_poll", IPD_CT_DURATION, 0, FIELD(keep_pod_poll_ms), RANGE(S(1), H(1)), .def = "5s",
     .help = "A keep job with pod_selector follows the images its pods run: this often one daemon lists those pods "
             "(one list per distinct selection; in scope node the holder of the selection's Redis lease, or without "
             "Redis the daemon of the first node of the selection's oldest job) and creates a keep job for an image "
             "they start to run, and cancels the one of an image none of them runs any more."},
    {"op_visible_timeout", IPD_CT_DURATION, 0, FIELD(op_visible_timeout_ms), RANGE(0, MINUTES(1)), .def = "5s",
     .help = "The 202 answer to POST /api/v1/images/pull or DELETE of a pull job waits until the job table shows "
             "the change (the new jobs present, the cancelled job final), so that a GET or watch that follows "
             "sees it; after this long it is sent anyway. 0: answer as soon as the API server has."},
    {"table_full_retry_after", IPD_CT_DURATION, 0, FIELD(table_full_retry_after_ms), RANGE(S(1), H(1)), .def = "5s",
     .help = "A POST /api/v1/images/pull whose jobs the table cannot hold next to the active ones (table_jobs, "
             "table_tasks) is answered 503 table_full, creating nothing in Kubernetes, with a Retry-After of this "
             "many seconds (rounded up)."},
    {"max_nodes_per_job", IPD_CT_INT, 0, FIELD(max_nodes_per_job), RANGE(1, 100000), .def = "5000",
     .help = "Most target nodes one pull job may have."},

    {"pull_helper_image", IPD_CT_IMAGE, 0, FIELD(pull_helper_image), RANGE(1, 0),
     .def = "docker.io/library/busybox:1.36.1-musl", .section = "Pull pods",
     .help = "Image of the pull pods' init container. It must hold pull_helper_noop and pull_helper_copy as "
             "static programs; busybox's musl build does. Pin it by digest and mirror it where nodes can pull "
             "it. Nothing from the pulled images ever runs: their container runs the no-op program copied from "
             "this image."},
    {"pull_helper_noop", IPD_CT_ABSPATH, 0, FIELD(pull_helper_noop), RANGE(2, 0), .def = "/bin/true",
     .help = "Absolute path, in pull_helper_image, of a static program that exits 0 whatever its arguments. It "
             "is copied under its own name (a multi-call binary picks its applet by name)."},
    {"pull_helper_copy", IPD_CT_ABSPATH, 0, FIELD(pull_helper_copy), RANGE(2, 0), .def = "/bin/cp",
     .help = "Absolute path, in pull_helper_image, of a static program run as `cp SOURCE DEST` to copy the no-op "
             "program into the pod's emptyDir."},
    {"pull_uid", IPD_CT_INT, 0, FIELD(pull_uid), RANGE(1, 2147483647), .def = "65532",
     .help = "Non-root uid and gid both containers of a pull pod run as."},
    {"pull_toleration", IPD_CT_TOLERATE, IPD_CF_REPEATABLE, LIST(pull_toleration, pull_toleration_count), .def = "",
     .doc_default = "(none)", .example = "node-role.kubernetes.io/control-plane:NoSchedule",
     .help = "A taint the pull pods tolerate: `*` (every taint), `key`, `key=value`, each optionally followed by "
             "`:NoSchedule`, `:PreferNoSchedule` or `:NoExecute`. Repeat for several. None by default: nodes with "
             "taints (control-plane nodes included) get no pull pods until listed here."},
    {"pull_job_ttl", IPD_CT_DURATION, 0, FIELD(pull_job_ttl_ms), RANGE(0, H(24 * 365)), .def = "1h",
     .help = "ttlSecondsAfterFinished of every Kubernetes Job whose client set no ttl_seconds_after_finished: "
             "Kubernetes deletes finished Jobs and their pods this long after they end (whole seconds)."},

    {"redis", IPD_CT_ENDPOINT, 0, FIELD(redis), .def = "", .doc_default = "(none)", .example = "127.0.0.1:6379",
     .flag = "--redis", .section = "Redis",
     .help = "Redis for cross-node coherence, host:port or unix:/path. Requires scope node: each daemon publishes "
             "its node's tasks and shows every node's. Redis down is degraded: the daemon serves its node and the "
             "last known remote state, and reconnects."},
    {"redis_password_file", IPD_CT_PATH, 0, FIELD(redis_password_file), .def = "",
     .example = "/etc/imgpulld/redis.password",
     .help = "File whose first line is the Redis password (AUTH). Read again on reload."},
    {"redis_username", IPD_CT_NAME, 0, FIELD(redis_username), RANGE(0, 64), .def = "", .example = "imgpulld",
     .help = "Redis ACL user name, with redis_password_file; empty: the default user."},
    {"redis_prefix", IPD_CT_NAME, 0, FIELD(redis_prefix), RANGE(1, 64), .def = "imgpulld",
     .help = "Prefix of every Redis key, used as their hash tag ({prefix}) so that one Redis Cluster slot holds them; "
             "daemons sharing a prefix share their state."},
    {"redis_stream_maxlen", IPD_CT_INT, 0, FIELD(redis_stream_maxlen), RANGE(1, 100000000), .def = "100000",
     .help = "Length the change Stream is trimmed to (approximately, MAXLEN ~). A daemon that falls further behind "
             "resyncs from the per-node hashes."},
    {"redis_read_count", IPD_CT_INT, 0, FIELD(redis_read_count), RANGE(1, 20000), .def = "4000",
     .help = "Stream entries one XREAD asks for (COUNT). A daemon behind the Stream applies a whole reply, then "
             "publishes each job it changed once: more entries per reply publish a job changed several times in them "
             "once. The reading connection keeps about 1.5 KB per entry between replies (6 MB at 4000)."},
    {"redis_catchup_publish", IPD_CT_DURATION, 0, FIELD(redis_catchup_publish_ms), RANGE(0, S(10)), .def = "100ms",
     .help = "While the daemon is behind the Stream (a full reply came and the next is already arriving), it applies "
             "the replies and publishes the jobs they changed at most this long after the first change, once for "
             "all of them, instead of after every reply: other nodes' changes then reach clients at most this late "
             "during a catch-up, never later once it is over. The jobs are then written 1 024 per turn of the "
             "master's loop, with no entry read meanwhile. Changes of its own node are not held back. 0ms: after "
             "every reply."},
    {"redis_liveness_ttl", IPD_CT_DURATION, 0, FIELD(redis_liveness_ttl_ms), RANGE(S(1), H(1)), .def = "15s",
     .help = "TTL of this node's liveness key, refreshed every third of it. When another node's key expires, its "
             "unfinished tasks show unknown with reason NodeDaemonLost, then as their Kubernetes Jobs end: every "
             "third of it one daemon (the stand-in lease's holder) lists the Jobs of the nodes without a live "
             "daemon."},
    {"redis_lease_release_wait", IPD_CT_DURATION, 0, FIELD(redis_lease_release_wait_ms), RANGE(0, S(5)), .def = "200ms",
     .help = "On a clean stop the daemon gives back the Redis leases it holds (a pod selection it follows, the "
             "stand-in for nodes without a live daemon), so that another daemon takes over at once; the stop waits "
             "at most this long for Redis to answer. 0: sent without waiting."},
    {"redis_standin_page", IPD_CT_INT, 0, FIELD(redis_standin_page), RANGE(1, 5000), .def = "500",
     .help = "Jobs per page of the stand-in's list of the pull Jobs of nodes without a live daemon (limit and "
             "continue): a page of 500 is about 1.6 MB. Its list of their pull pods, made when one of those Jobs "
             "ran at the last list, is paged alike."},
    {"redis_standin_node_reads", IPD_CT_INT, 0, FIELD(redis_standin_node_reads), RANGE(0, 10000), .def = "64",
     .help = "Nodes the stand-in lists, one request each, per list of the Jobs of nodes without a live daemon, for "
             "the Jobs it finds waiting suspended there (their node could not take a pull pod, or beyond the job's "
             "parallelism): once a node can, its Job is resumed, or a parallelism slot claimed for it; and once per "
             "node with a running Job or a keep job's Job. A node not found was deleted: its Jobs are given up (a "
             "keep job's task leaves the job). The next list reads "
             "on. 0: such Jobs wait for their node's daemon."},
    {"redis_standin_event_reads", IPD_CT_INT, 0, FIELD(redis_standin_event_reads), RANGE(0, 10000), .def = "64",
     .help = "Event lists the stand-in makes, one request each, per list of the Jobs of nodes without a live "
             "daemon, for the Jobs whose pull pod fails its pull there: the pulls are counted as that node's "
             "daemon counts them, and one past the job's backoff_limit is given up (the task failed, its Job "
             "deleted; the kubelet would retry for ever). With more such Jobs, each is read about once in as "
             "many lists as it takes. 0: such pulls wait for their node's daemon."},
    {"redis_standin_watch", IPD_CT_BOOL, 0, FIELD(redis_standin_watch), .def = "on",
     .help = "The stand-in also watches the Jobs it lists, so that a Job deleted between two of its lists (a "
             "cancel right after the POST) still ends its task, cancelled; without the watch that job waits for "
             "that node's task for ever. The watch receives every change of those Jobs: with many nodes "
             "without a live daemon, about as many bytes as a cluster-scope daemon's Job watch. off: lists only."},
    {"redis_slots_ttl", IPD_CT_DURATION, 0, FIELD(redis_slots_ttl_ms), RANGE(H(1), H(24 * 365)), .def = "7d",
     .help = "How long a job's parallelism slots (node scope with Redis: which nodes' Jobs may run) stay in Redis "
             "after their last change. A job's waiting nodes claim every second, so only a job that ran this long "
             "with none waiting loses them; the daemons whose Jobs run say so again after every reconnect."},

    {"table_jobs", IPD_CT_INT, IPD_CF_RESTART, FIELD(table_jobs), RANGE(16, 1048576), .def = "4096",
     .section = "Shared-memory table",
     .help = "Job slots. Finished jobs are evicted oldest first (failed ones last) when slots run out."},
    {"table_tasks", IPD_CT_INT, IPD_CF_RESTART, FIELD(table_tasks), RANGE(16, 16777216), .def = "65536",
     .help = "Task slots shared by all jobs (one task per target node)."},
    {"table_ring", IPD_CT_INT, IPD_CF_RESTART, FIELD(table_ring), RANGE(64, 16777216), .def = "65536",
     .help = "Change records kept in the event ring; a client resuming further back gets a resync. A change of n "
             "tasks takes n records (one when n is over table_ring / 64)."},
    {"table_json_inline", IPD_CT_SIZE, IPD_CF_RESTART, FIELD(table_json_inline), RANGE(0, M(1)), .def = "8k",
     .help = "Bytes of pre-encoded JSON stored with each job; larger jobs are encoded on demand."},
    {"shm_group", IPD_CT_GROUP, IPD_CF_RESTART, FIELD(shm_group), .def = "", .example = "imgpulld-read",
     .help = "Group allowed to read the segment (mode 0640); owner only (0600) when empty."},

    {"ws_max_message", IPD_CT_SIZE, 0, FIELD(ws_max_message), RANGE(125, M(16)), .def = "64k", .section = "WebSocket",
     .help = "Largest client message; a larger frame closes the connection with 1009."},
    {"ws_max_subscriptions", IPD_CT_INT, 0, FIELD(ws_max_subscriptions), RANGE(1, 1000000), .def = "1000",
     .help = "Jobs one connection may subscribe to."},
    {"ws_max_subscriptions_per_worker", IPD_CT_INT, 0, FIELD(ws_max_subscriptions_per_worker), RANGE(1, 100000000),
     .def = "100000",
     .help = "Job subscriptions over all WebSocket connections of a worker (each costs about 200 bytes, an absent "
             "job id included); a subscribe beyond it is refused with too_many_subscriptions."},
    {"ws_ping_interval", IPD_CT_DURATION, 0, FIELD(ws_ping_interval_ms), RANGE(S(1), H(1)), .def = "30s",
     .help = "Period of server pings."},
    {"ws_pong_timeout", IPD_CT_DURATION, 0, FIELD(ws_pong_timeout_ms), RANGE(S(1), H(1)), .def = "1m",
     .help = "A connection silent this long after a ping is closed; longer than ws_ping_interval."},
    {"ws_handshake_timeout", IPD_CT_DURATION, 0, FIELD(ws_handshake_timeout_ms), RANGE(S(1), MINUTES(5)), .def = "10s",
     .help = "Time allowed for the 101 answer of a WebSocket upgrade to be written; the upgrade request itself "
             "is bounded by http_idle_timeout."},
    {"ws_write_timeout", IPD_CT_DURATION, 0, FIELD(ws_write_timeout_ms), RANGE(S(1), H(1)), .def = "10s",
     .help = "A client that accepts no data for this long is closed."},
    {"ws_max_outbound", IPD_CT_SIZE, 0, FIELD(ws_max_outbound), RANGE(K(4), G(1)), .def = "1m",
     .help = "Bytes queued to one client before it is treated as slow and only sent each job's latest state."},
    {"ws_send_buffer", IPD_CT_SIZE, 0, FIELD(ws_send_buffer), RANGE(0, M(64)), .def = "0",
     .help = "Kernel send buffer of each WebSocket connection (SO_SNDBUF, which the kernel doubles); 0 leaves it "
             "to the kernel's autotuning, which on a fast link holds megabytes of updates a slow client has not "
             "read yet. Smaller, and a slow client is sooner sent only each job's latest state."},
    {"ws_max_connections", IPD_CT_INT, 0, FIELD(ws_max_connections), RANGE(1, 1000000), .def = "8192",
     .help = "WebSocket connections per worker; an upgrade beyond it is answered 503. Keep it below "
             "max_connections_per_worker, which stops accepting instead of answering."},

    {"log_namespace", IPD_CT_LABELS, IPD_CF_REPEATABLE, LIST(log_namespace, log_namespace_count), .def = "",
     .doc_default = "(namespace)", .example = "imgpulld", .section = "Pod logs",
     .help = "Namespace whose pod logs clients may stream. Repeat, or list several, to allow more."},
    {"logs_tail_lines_max", IPD_CT_INT, 0, FIELD(logs_tail_lines_max), RANGE(0, 1000000), .def = "10000",
     .help = "Largest tailLines a client may ask for; more is answered 400."},
    {"logs_pod_wait", IPD_CT_DURATION, 0, FIELD(logs_pod_wait_ms), RANGE(S(1), H(1)), .def = "1m",
     .help = "How long a stream waits for its pod to exist before closing with 4404."},
    {"logs_client_write_timeout", IPD_CT_DURATION, 0, FIELD(logs_client_write_timeout_ms), RANGE(S(1), H(1)),
     .def = "10s", .help = "A log client that accepts no data for this long is closed."},
    {"logs_max_streams_per_worker", IPD_CT_INT, 0, FIELD(logs_max_streams_per_worker), RANGE(1, 100000), .def = "64",
     .help = "Concurrent log streams per worker."},
    {"logs_max_streams", IPD_CT_INT, 0, FIELD(logs_max_streams), RANGE(1, 1000000), .def = "256",
     .help = "Concurrent log streams over all workers."},
    {"logs_frame_size", IPD_CT_SIZE, 0, FIELD(logs_frame_size), RANGE(K(1), M(16)), .def = "64k",
     .help = "Largest binary frame of log bytes sent to a client."},

    {"log_level", IPD_CT_ENUM, 0, FIELD(log_level), .choices = level_names, .def = "info", .flag = "--log-level",
     .section = "Process", .help = "Least severe level logged: debug, info, warn or error."},
    {"stats_file", IPD_CT_PATH, IPD_CF_AUTO, FIELD(stats_file), .def = "auto",
     .help = "Where SIGUSR1 writes the stats JSON. auto: $RUNTIME_DIRECTORY/<instance>.stats.json under systemd, "
             "/run/imgpulld/<instance>.stats.json as root, else ./imgpulld-<instance>.stats.json. A missing last "
             "directory is created (mode 0750)."},
    {"watchdog", IPD_CT_BOOL, IPD_CF_AUTO, FIELD(watchdog), .def = "auto",
     .help = "Send WATCHDOG=1 to systemd; auto: when systemd sets WATCHDOG_USEC."},
    {"reload_drain_timeout", IPD_CT_DURATION, 0, FIELD(reload_drain_timeout_ms), RANGE(0, H(1)), .def = "30s",
     .help = "After SIGHUP, how long old workers may finish their connections before they are killed."},
    {"respawn_backoff_initial", IPD_CT_DURATION, 0, FIELD(respawn_backoff_initial_ms), RANGE(MS(10), MINUTES(1)),
     .def = "100ms", .help = "Delay before a worker that died is started again; doubles while it keeps dying."},
    {"respawn_backoff_max", IPD_CT_DURATION, 0, FIELD(respawn_backoff_max_ms), RANGE(MS(100), H(1)), .def = "30s",
     .help = "Cap of the worker respawn delay."},
};

const size_t ipd_config_table_len = sizeof(ipd_config_table) / sizeof(ipd_config_table[0]);
static_assert(sizeof(ipd_config_table) / sizeof(ipd_config_table[0]) <= IPD_CONFIG_MAX_DIRECTIVES,
              "ipd_config_t bookkeeping arrays are too small for the directive table");

const ipd_config_directive_t *ipd_config_find(const char *name)
{
    for (size_t i = 0; i < ipd_config_table_len; i++)
        if (strcmp(ipd_config_table[i].name, name) == 0)
            return &ipd_config_table[i];
    return NULL;
}

size_t ipd_config_index(const ipd_config_directive_t *row)
{
    return (size_t)(row - ipd_config_table);
}

/* Edit distance with transpositions, bounded to short names. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        for (size_t j = 0; j <= lb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = i + j;
                continue;
            }
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *ipd_config_suggest(const char *name)
{
    const char *best = NULL;
    size_t best_d = strlen(name) / 3 + 1;
    if (best_d > 3)
        best_d = 3;
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        size_t d = distance(name, ipd_config_table[i].name);
        if (d <= best_d && (best == NULL || d < best_d)) {
            best = ipd_config_table[i].name;
            best_d = d;
        }
    }
    return best;
}

int ipd_config_fail(char *err, size_t errlen, const char *where, const char *name, const char *fmt, ...)
{
    if (errlen == 0)
        return IPD_EINVAL;
    int n = snprintf(err, errlen, name ? "%s: %s: " : "%s: ", where, name);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return IPD_EINVAL;
}

int ipd_config_fail_unknown(char *err, size_t errlen, const char *where, const char *name)
{
    const char *hint = ipd_config_suggest(name);
    if (hint)
        return ipd_config_fail(err, errlen, where, NULL, "unknown directive \"%s\" (did you mean \"%s\"?)", name, hint);
    return ipd_config_fail(err, errlen, where, NULL, "unknown directive \"%s\"", name);
}

void ipd_config_init(ipd_config_t *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        const char *def = row->def;
        int r = 0;
        if (def[0] != '\0' || !(row->flags & IPD_CF_REPEATABLE) || row->type == IPD_CT_LISTEN)
            r = ipd_config_apply(cfg, row, &def, 1, IPD_CONFIG_SOURCE_DEFAULT, "default", err, sizeof(err));
        assert(r == 0 && "a built-in default fails its own validation");
        (void)r;
    }
}

int ipd_config_set(ipd_config_t *cfg, const char *name, const char *value, ipd_config_source_t source,
                   const char *where, char *err, size_t errlen)
{
    const ipd_config_directive_t *row = ipd_config_find(name);
    if (!row)
        return ipd_config_fail_unknown(err, errlen, where, name);
    return ipd_config_apply(cfg, row, &value, 1, source, where, err, errlen);
}

int ipd_config_source_of(const ipd_config_t *cfg, const char *name)
{
    const ipd_config_directive_t *row = ipd_config_find(name);
    return row ? cfg->_source[ipd_config_index(row)] : -1;
}

int ipd_config_load(ipd_config_t *cfg, const char *path, bool path_required, char *const *envp,
                    const char *const *flag_directives, const char *const *flag_values, const char *const *flag_names,
                    size_t nflags, char *err, size_t errlen)
{
    int r;
    ipd_config_init(cfg);
    if (path) {
        snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", path);
        cfg->_path_optional = !path_required;
        r = ipd_config_load_file(cfg, path, err, errlen);
        if (r == -ENOENT && !path_required) {
            cfg->config_path[0] = '\0';
            r = 0;
        }
        if (r != 0)
            return r;
    }
    if (envp && (r = ipd_config_load_env(cfg, envp, err, errlen)) != 0)
        return r;
    for (size_t i = 0; i < nflags; i++) {
        char where[IPD_CONFIG_ORIGIN_SIZE];
        snprintf(where, sizeof(where), "option %s", flag_names[i]);
        r = ipd_config_set(cfg, flag_directives[i], flag_values[i], IPD_CONFIG_SOURCE_FLAG, where, err, errlen);
        if (r != 0)
            return r;
    }
    return ipd_config_finalize(cfg, err, errlen);
}

int ipd_config_reload(const ipd_config_t *current, ipd_config_t *next, char *const *envp, char *err, size_t errlen)
{
    int r;
    ipd_config_init(next);
    memcpy(next->config_path, current->config_path, sizeof(next->config_path));
    next->_path_optional = current->_path_optional;
    if (next->config_path[0] && (r = ipd_config_load_file(next, next->config_path, err, errlen)) != 0 &&
        !(r == -ENOENT && next->_path_optional))
        return r;
    if (envp && (r = ipd_config_load_env(next, envp, err, errlen)) != 0)
        return r;
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        if (current->_source[i] != IPD_CONFIG_SOURCE_FLAG)
            continue;
        size_t bytes = row->count_offset ? row->size * row->capacity : row->size;
        memcpy((char *)next + row->offset, (const char *)current + row->offset, bytes);
        if (row->count_offset)
            memcpy((char *)next + row->count_offset, (const char *)current + row->count_offset, sizeof(size_t));
        next->_source[i] = IPD_CONFIG_SOURCE_FLAG;
        next->_auto[i] = current->_auto[i];
        memcpy(next->_origin[i], current->_origin[i], sizeof(next->_origin[i]));
    }
    return ipd_config_finalize(next, err, errlen);
}

const char *ipd_config_changed(const ipd_config_t *a, const ipd_config_t *b, unsigned flags)
{
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        const ipd_config_directive_t *row = &ipd_config_table[i];
        const char *x = (const char *)a + row->offset, *y = (const char *)b + row->offset;
        /* A string's bytes after its NUL are not part of its value. */
        bool text = row->type == IPD_CT_NAME || row->type == IPD_CT_LABEL || row->type == IPD_CT_DNSNAME ||
                    row->type == IPD_CT_GROUP || row->type == IPD_CT_PATH || row->type == IPD_CT_URL ||
                    row->type == IPD_CT_ENDPOINT || row->type == IPD_CT_IMAGE || row->type == IPD_CT_ABSPATH;
        if ((row->flags & flags) == flags && !row->count_offset &&
            (text ? strncmp(x, y, row->size) : memcmp(x, y, row->size)) != 0)
            return row->name;
    }
    return NULL;
}

const char *ipd_config_restart_required(const ipd_config_t *a, const ipd_config_t *b)
{
    return ipd_config_changed(a, b, IPD_CF_RESTART);
}

size_t ipd_config_flags(ipd_config_flag_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ipd_config_table_len; i++) {
        if (!ipd_config_table[i].flag)
            continue;
        if (n < max)
            out[n] = (ipd_config_flag_t){ipd_config_table[i].flag, ipd_config_table[i].name};
        n++;
    }
    return n;
}
