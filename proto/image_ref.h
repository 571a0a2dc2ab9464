/*
 * Validation of container image references, following the distribution reference grammar:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ registry "/" ] path            (at most 255 characters)
 *   registry   := host [ ":" port ]                host: DNS name, "localhost", IPv4, or [IPv6]
 *   path       := component ( "/" component )*    component: [a-z0-9]+ ( sep [a-z0-9]+ )*
 *   sep        := "." | "_" | "__" | "-"+
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ":" hex                sha256: 64 lowercase hex, sha512: 128;
 *                                                  other algorithms: [A-Za-z][A-Za-z0-9]* joined
 *                                                  by [+._-], then at least 32 hex digits
 *
 * The first path element is the registry when it contains "." or ":", is "localhost", or has
 * an uppercase letter (as container runtimes decide); otherwise it is part of the path. The
 * whole reference must also fit the model's image field (IPD_IMAGE_SIZE - 1 bytes).
 */
#ifndef IPD_PROTO_IMAGE_REF_H
#define IPD_PROTO_IMAGE_REF_H

#include <stddef.h>

/** Where the parts of a valid reference lie, as byte offsets into the input. */
typedef struct ipd_image_ref {
    size_t registry_len; /**< the registry starts at 0; 0 = none given */
    size_t path_off, path_len;
    size_t tag_off, tag_len;       /**< tag_len 0 = no tag */
    size_t digest_off, digest_len; /**< "algorithm:hex" after the "@"; digest_len 0 = none */
} ipd_image_ref_t;

/**
 * Parses `len` bytes at `ref` (borrowed, need not be NUL-terminated). Returns 0 and fills `out`
 * (may be NULL), or IPD_EINVAL and writes a one-line human message saying what is wrong
 * ("tag must ...", "digest must be sha256:<64 lowercase hex digits>", ...) to `why` (`cap`
 * bytes, truncated; `why` may be NULL when `cap` is 0). On success `why` gets "".
 */
int ipd_image_ref_parse(const char *ref, size_t len, ipd_image_ref_t *out, char *why, size_t cap);

/** ipd_image_ref_parse() of a NUL-terminated string, without the parts. Returns 0 or IPD_EINVAL. */
int ipd_image_ref_validate(const char *ref, char *why, size_t cap);

#endif
