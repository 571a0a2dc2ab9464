/*
 * Who a request says it is for, and where a browser says it comes from: the Host header (or
 * HTTP/2 :authority) and the Origin header, parsed without trusting either. The worker checks
 * them against its allow-lists before any handler runs (DNS rebinding, cross-origin requests
 * from web pages; docs/operations.md, "Host and Origin").
 *
 * Pure functions over borrowed bytes that need not be NUL-terminated.
 */
#ifndef IPD_PROTO_HTTP_HOST_H
#define IPD_PROTO_HTTP_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** An authority split into its parts; `host` points into the parsed bytes (borrowed). */
typedef struct ipd_http_authority {
    const char *host; /**< without the brackets of an IPv6 literal */
    size_t host_len;
    int port;   /**< 1-65535, or 0 when absent */
    bool is_ip; /**< host is an IPv4 or IPv6 literal */
} ipd_http_authority_t;

/**
 * Parses an authority "host[:port]" or "[IPv6][:port]" (no userinfo). The host is an IPv4
 * literal, a bracketed IPv6 literal, or a DNS name (letters, digits, '-', '.', '_', at most 253
 * bytes, no empty label except a trailing dot). Returns 0 and fills `out`, or -1.
 */
int ipd_http_authority_parse(const char *s, size_t len, ipd_http_authority_t *out);

/** True for "localhost" (any case, a trailing dot allowed), names under ".localhost", 127.0.0.0/8 and ::1. */
bool ipd_http_host_is_loopback(const ipd_http_authority_t *a);

/** A browser origin "scheme://authority" split into its parts (borrowed from the parsed bytes). */
typedef struct ipd_http_origin {
    bool https;                     /**< scheme https (else http) */
    ipd_http_authority_t authority; /**< port 0 when absent (the scheme's default) */
} ipd_http_origin_t;

/**
 * Parses an Origin header value: "http://" or "https://" (any case), then an authority, with
 * nothing after it ("null", paths, lists and other schemes are refused). Returns 0 or -1.
 */
int ipd_http_origin_parse(const char *s, size_t len, ipd_http_origin_t *out);

/**
 * True when the two authorities name the same host (ASCII case-insensitive, a trailing dot
 * ignored) and the same port, an absent port standing for `default_port`.
 */
bool ipd_http_authority_same(const ipd_http_authority_t *a, const ipd_http_authority_t *b, int default_port);

/** True when `a`'s host equals the NUL-terminated `name` (case-insensitive; brackets and trailing dot ignored). */
bool ipd_http_host_is(const ipd_http_authority_t *a, const char *name);

#endif
