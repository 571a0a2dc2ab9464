/*
 * Who may call what: bearer tokens with roles, and the per-connection request rate cap.
 *
 * Tokens file (directive tokens_file), read by each worker when it starts:
 *
 *     # comment lines and blank lines are ignored
 *     s3cr3t-dashboard-token   read
 *     0p3r4t0r-token           admin      # a trailing comment
 *
 * One `TOKEN ROLE` per line, separated by spaces or tabs. A token is 16..256 characters of
 * the RFC 6750 b64token alphabet (A-Z a-z 0-9 - . _ ~ + / and trailing '='). ROLE is `read`
 * (GET endpoints) or `admin` (everything, including POST and DELETE). A duplicate token, an
 * unknown role or a malformed line rejects the whole file with a message naming the line.
 *
 * Tokens are required on every listener whose configured address is not loopback (the
 * decision follows cfg->listen[i], not the socket). /healthz, /readyz and the dashboard page
 * are always open; the page asks for the token and sends it with its API calls.
 */
#ifndef IPD_PROTO_HTTP_AUTH_H
#define IPD_PROTO_HTTP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define IPD_HTTP_TOKEN_MIN 16
#define IPD_HTTP_TOKEN_MAX 256
/** Largest tokens file accepted. */
#define IPD_HTTP_TOKENS_FILE_MAX (1u << 20)

/** Roles, ordered: a role grants everything the lower ones do. */
typedef enum ipd_http_role {
    IPD_HTTP_ROLE_NONE = 0,  /**< no or unknown token */
    IPD_HTTP_ROLE_READ = 1,  /**< GET endpoints */
    IPD_HTTP_ROLE_ADMIN = 2, /**< also POST and DELETE */
} ipd_http_role_t;

/** The loaded tokens. Owns its memory (ipd_http_tokens_dispose). Zero-initialised is empty. */
typedef struct ipd_http_tokens {
    struct ipd_http_token {
        char *token; /**< owned, NUL-terminated */
        size_t len;
        ipd_http_role_t role;
    } * entries; /**< owned array */
    size_t count;
} ipd_http_tokens_t;

/**
 * Parses tokens-file text (`len` bytes, borrowed) into `out` (caller's, replaced on success).
 * Returns 0, IPD_EINVAL with "line N: problem" in `err`, or -ENOMEM. On failure `out` is empty.
 */
int ipd_http_tokens_parse(const char *text, size_t len, ipd_http_tokens_t *out, char *err, size_t errcap);

/** Frees the entries (wiping the token bytes) and leaves `t` empty. */
void ipd_http_tokens_dispose(ipd_http_tokens_t *t);

/** The role of `token` (`len` bytes, borrowed), compared in constant time per entry; NONE if unknown. */
ipd_http_role_t ipd_http_tokens_role(const ipd_http_tokens_t *t, const char *token, size_t len);

/**
 * Extracts the credentials of an Authorization value "Bearer <token>" (scheme in any case).
 * Returns 0 with `*token`/`*len` pointing into `hdr`, or -1 for another scheme or no token.
 */
int ipd_http_bearer(const char *hdr, size_t len, const char **token, size_t *toklen);

/**
 * A token bucket: `rate` requests per second with a burst of `rate`. Lives in the caller's
 * memory (one per connection); counts in thousandths of a request.
 */
typedef struct ipd_http_rate {
    uint64_t milli; /**< available credit, in thousandths of a request */
    uint64_t last_ms;
} ipd_http_rate_t;

/** Starts a full bucket at time `now_ms` (any monotonic millisecond clock). */
void ipd_http_rate_init(ipd_http_rate_t *r, unsigned rate, uint64_t now_ms);

/** Takes one request at `now_ms`: returns 1 if allowed, 0 if the connection is over its rate. */
int ipd_http_rate_take(ipd_http_rate_t *r, unsigned rate, uint64_t now_ms);

/**
 * The bearer token of a WebSocket handshake that carries no Authorization header (browsers
 * cannot set one): the `access_token` query parameter (percent-decoded), else in the
 * Sec-WebSocket-Protocol value either the pair of entries "bearer", "<token>" or one entry
 * "base64url.bearer.<token in unpadded base64url>" (for tokens with characters a subprotocol
 * may not hold). `query` (`qlen` bytes) and `protocols` (`plen` bytes) are borrowed and may be
 * NULL. Writes the token, NUL-terminated, to `out` (`cap` bytes; IPD_HTTP_TOKEN_MAX + 1 is
 * enough). Returns its length, 0 when none is offered, or -1 when one is offered but malformed
 * (holding a NUL byte once decoded, or too long).
 */
int ipd_http_ws_token(const char *query, size_t qlen, const char *protocols, size_t plen, char *out, size_t cap);
/**
 * The subprotocol to answer for a Sec-WebSocket-Protocol value (`plen` bytes, borrowed): "bearer"
 * when offered, else the first entry that carries no credential. Returns 0 with *sel and *sellen
 * pointing into `protocols`, or -1 when there is none to answer.
 */
int ipd_http_ws_protocol_select(const char *protocols, size_t plen, const char **sel, size_t *sellen);

#endif
