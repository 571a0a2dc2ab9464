"""Pull failures by cause, in the words a real node uses.

Each cause (the classes of imgpulld's docs/api.md, "Causes") maps to what the kubelet puts in
the container's waiting state when a pull fails that way: the reason, and the container
runtime's error as the message. The wordings follow the sources:

* kubelet pkg/kubelet/images/image_manager.go: ``ErrImagePull`` carries the runtime's error
  as it is; ``InvalidImageName`` says ``Failed to apply default image tag %q: couldn't parse
  image reference %q: ...``.
* containerd's CRI plugin (``failed to pull and unpack image %q``, ``failed to resolve
  reference %q``) and its docker resolver, core/remotes/docker/resolver.go and errors.go
  (``unexpected status from HEAD request to <url>: 401 Unauthorized``, ``<ref>: not found``,
  ``failed to do request: Head "<url>": ...``); Go's net, crypto/tls and crypto/x509 errors;
  Docker Hub's ``toomanyrequests``.
* The kubelet's eviction manager, pkg/kubelet/eviction: a pod evicted for node pressure ends
  ``Failed`` with reason ``Evicted`` and ``The node was low on resource: <resource>. ...``.

``deadline`` has no pull failure of its own: a Job's ``activeDeadlineSeconds`` produces it
(sim/jobs.py). A client's DELETE produces the usual ``cancelled``; the ``cancelled`` rule
here is the runtime's answer to a pull whose context was cancelled.
"""

import zlib

_RESOLVE = 'rpc error: code = %s desc = failed to pull and unpack image "%s": failed to resolve reference "%s": '


def _parts(image):
    """Registry host, repository and tag (or digest) of a reference, as the resolver uses them."""
    name, _, tag = image.partition("@")
    if not tag:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
        else:
            tag = "latest"
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repo = first, rest
    else:
        host, repo = "registry-1.docker.io", name if "/" in name else "library/" + name
    return host, repo, tag


def _url(image):
    host, repo, tag = _parts(image)
    return "https://%s/v2/%s/manifests/%s" % (host, repo, tag)


def _resolve(code, image, tail):
    return _RESOLVE % (code, image, image) + tail


def _auth(image):
    return _resolve("Unknown", image, "unexpected status from HEAD request to %s: 401 Unauthorized" % _url(image))


def _not_found(image):
    return _resolve("NotFound", image, "%s: not found" % image)


def _network(image):
    host = _parts(image)[0]
    return _resolve("Unavailable", image, 'failed to do request: Head "%s": dial tcp: lookup %s on 10.96.0.10:53: '
                                          "no such host" % (_url(image), host))


def _tls(image):
    return _resolve("Unknown", image, 'failed to do request: Head "%s": tls: failed to verify certificate: x509: '
                                      "certificate signed by unknown authority" % _url(image))


def _rate_limited(image):
    host, repo, _ = _parts(image)
    digest = ("%08x" % zlib.crc32(image.encode())) * 8
    return ('rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to copy: httpReadSeeker: '
            "failed open: unexpected status code https://%s/v2/%s/manifests/sha256:%s: 429 Too Many Requests - "
            "Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by "
            "authenticating and upgrading: https://www.docker.com/increase-rate-limit" % (image, host, repo, digest))


def _timeout(image):
    return ('rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to copy: read tcp '
            "10.244.0.12:51634->10.96.7.7:443: read: i/o timeout" % image)


def _invalid_reference(image):
    return ('Failed to apply default image tag "%s": couldn\'t parse image reference "%s": invalid reference format'
            % (image, image))


def _cancelled(image):
    return 'rpc error: code = Canceled desc = failed to pull and unpack image "%s": context canceled' % image


def _unknown(image):
    digest = ("%08x" % zlib.crc32(image.encode())) * 8
    return ('rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to extract layer '
            "sha256:%s: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/42/fs/usr/lib/"
            "libLLVM.so.15: no space left on device: unknown" % (image, digest))


def _node_unavailable(image):
    return ("The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 524288Ki. "
            "Container pull was using 0, request is 0, has larger consumption of ephemeral-storage. ")


# cause -> (waiting reason, or "Evicted" for a pod the node evicts; message builder)
FAILURES = {
    "auth": ("ErrImagePull", _auth),
    "not_found": ("ErrImagePull", _not_found),
    "network": ("ErrImagePull", _network),
    "tls": ("ErrImagePull", _tls),
    "rate_limited": ("ErrImagePull", _rate_limited),
    "timeout": ("ErrImagePull", _timeout),
    "invalid_reference": ("InvalidImageName", _invalid_reference),
    "node_unavailable": ("Evicted", _node_unavailable),
    "cancelled": ("ErrImagePull", _cancelled),
    "unknown": ("ErrImagePull", _unknown),
}

EVICTED = "Evicted"


def failure(cause, image):
    """(reason, message) of a pull of ``image`` failing for ``cause``; KeyError if unknown."""
    reason, build = FAILURES[cause]
    return reason, build(image)
