"""API errors carried as exceptions and rendered as ``Status`` objects.

Every non-2xx answer of the simulator is a ``Status`` with the HTTP code
repeated in ``code`` and a machine-readable ``reason``, because clients
(client-go and the daemon alike) branch on those, not on the text.
"""

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_object(code, message, reason=None, details=None):
    obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        obj["details"] = details
    return obj


def too_old_message(requested, oldest):
    """The wording clients match on for an expired resourceVersion."""
    return "too old resource version: %s (%s)" % (requested, oldest)


class ApiError(Exception):
    """An error that becomes a ``Status`` response with ``code``."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.details = details
        self.headers = headers or {}

    def status(self):
        return status_object(self.code, self.message, self.reason, self.details)


def not_found(group, resource, name):
    qualified = resource if not group else "%s.%s" % (resource, group)
    return ApiError(404, '%s "%s" not found' % (qualified, name),
                    details={"name": name, "group": group, "kind": resource})


def already_exists(group, resource, name):
    qualified = resource if not group else "%s.%s" % (resource, group)
    return ApiError(409, '%s "%s" already exists' % (qualified, name), "AlreadyExists",
                    details={"name": name, "group": group, "kind": resource})


def conflict(group, resource, name, why):
    qualified = resource if not group else "%s.%s" % (resource, group)
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s' % (qualified, name, why), "Conflict",
                    details={"name": name, "group": group, "kind": resource})


def invalid(kind, group, name, causes):
    """422 with one cause per offending field, as validation reports it."""
    text = "; ".join("%s: %s" % (c["field"], c["message"]) for c in causes)
    return ApiError(422, '%s "%s" is invalid: %s' % (kind, name, text), "Invalid",
                    details={"name": name, "group": group, "kind": kind, "causes": causes})


def expired(requested, oldest):
    return ApiError(410, too_old_message(requested, oldest), "Expired")
