#include "proto/http_parse.h"

#include <stddef.h>

/*
 * Every HTTP status the daemon answers with, once: its reason phrase (HTTP/1), the code of the
 * API error body (docs/api.md), and whether /metrics counts it under its own `code` label per
 * route (the others count as "other"). Counted statuses keep their order: a status's place
 * among them is its slot in the stats segment's route counters.
 */
static const struct status_row {
    int status;
    const char *reason;
    const char *code; /* NULL: not an error */
    int counted;
} rows[] = {
    {200, "OK", NULL, 1},
    {202, "Accepted", NULL, 1},
    {304, "Not Modified", NULL, 1},
    {400, "Bad Request", "invalid_argument", 1},
    {401, "Unauthorized", "unauthenticated", 1},
    {403, "Forbidden", "permission_denied", 1},
    {404, "Not Found", "not_found", 1},
    {405, "Method Not Allowed", "method_not_allowed", 1},
    {409, "Conflict", "conflict", 1},
    {413, "Payload Too Large", "payload_too_large", 1},
    {415, "Unsupported Media Type", "unsupported_media_type", 1},
    {421, "Misdirected Request", "misdirected_request", 0},
    {429, "Too Many Requests", "too_many_requests", 1},
    {431, "Request Header Fields Too Large", "header_too_large", 0},
    {500, "Internal Server Error", "internal", 1},
    {503, "Service Unavailable", "unavailable", 1},
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const struct status_row *row_of(int status)
{
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].status == status)
            return &rows[i];
    return NULL;
}

const char *ipd_http_error_code(int status)
{
    const struct status_row *r = row_of(status);
    if (r != NULL && r->code != NULL)
        return r->code;
    return status >= 500 ? "internal" : "invalid_argument";
}

const char *ipd_http_reason(int status)
{
    const struct status_row *r = row_of(status);
    if (r != NULL)
        return r->reason;
    return status >= 500 ? "Internal Server Error" : "Error";
}

size_t ipd_http_status_kinds(void)
{
    size_t n = 1; /* "other" */
    for (size_t i = 0; i < NROWS; i++)
        n += rows[i].counted != 0;
    return n;
}

size_t ipd_http_status_kind(int status)
{
    size_t k = 0;
    for (size_t i = 0; i < NROWS; i++) {
        if (!rows[i].counted)
            continue;
        if (rows[i].status == status)
            return k;
        k++;
    }
    return k; /* "other", the last kind */
}

int ipd_http_status_kind_code(size_t kind)
{
    size_t k = 0;
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].counted && k++ == kind)
            return rows[i].status;
    return 0;
}
