#include "worker/ws.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"

/* Room for the largest header of an unmasked server frame: 2 bytes plus a 64-bit length. */
#define FRAME_HEADER_MAX 10

ipd_ws_msg_t *ipd_ws_msg_frame(const char *payload, size_t len)
{
    uint8_t hdr[FRAME_HEADER_MAX];
    size_t hlen;
    hdr[0] = 0x81; /* FIN, text */
    if (len <= 125) {
        hdr[1] = (uint8_t)len;
        hlen = 2;
    } else if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        hlen = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hlen = 10;
    }
    if (len > UINT32_MAX - FRAME_HEADER_MAX)
        return NULL;
    ipd_ws_msg_t *m = malloc(sizeof(*m) + hlen + len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)(hlen + len);
    m->next = NULL;
    memcpy(m->data, hdr, hlen);
    memcpy(m->data + hlen, payload, len);
    return m;
}

void ipd_ws_msg_release(ipd_ws_msg_t *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

/* Frames what `buf` holds unless building it failed; disposes the buffer. */
static ipd_ws_msg_t *frame_buf(ipd_buf_t *buf, int rc)
{
    ipd_ws_msg_t *m = rc == 0 ? ipd_ws_msg_frame(buf->data, buf->len) : NULL;
    ipd_buf_dispose(buf);
    return m;
}

ipd_ws_msg_t *ipd_ws_msg_ack(const char *op, uint64_t n)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"ack\",\"op\":");
    if (rc == 0)
        rc = ipd_json_append_string(&b, op, strlen(op));
    if (rc == 0)
        rc = ipd_buf_appendf(&b, ",\"subscriptions\":%" PRIu64 "}", n);
    return frame_buf(&b, rc);
}

ipd_ws_msg_t *ipd_ws_msg_error(const char *code, const char *message)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"error\",\"code\":");
    if (rc == 0)
        rc = ipd_json_append_string(&b, code, strlen(code));
    if (rc == 0)
        rc = ipd_buf_append_str(&b, ",\"message\":");
    if (rc == 0)
        rc = ipd_json_append_string(&b, message, strlen(message));
    if (rc == 0)
        rc = ipd_buf_append_char(&b, '}');
    return frame_buf(&b, rc);
}

ipd_ws_msg_t *ipd_ws_msg_resync(void)
{
    static const char text[] = "{\"type\":\"resync\"}";
    return ipd_ws_msg_frame(text, sizeof(text) - 1);
}

ipd_ws_msg_t *ipd_ws_msg_deleted(const char *id, const char *epoch, uint64_t seq)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_append_str(&b, "{\"type\":\"deleted\",\"id\":");
    if (rc == 0)
        rc = ipd_json_append_string(&b, id, strnlen(id, IPD_JOB_ID_SIZE));
    if (rc == 0)
        rc = ipd_buf_appendf(&b, ",\"epoch\":\"%s\",\"seq\":%" PRIu64 "}", epoch, seq);
    return frame_buf(&b, rc);
}

ipd_ws_msg_t *ipd_ws_msg_job(const char *type, const char *epoch, uint64_t seq, const char *job, size_t len,
                             uint32_t *job_off)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_reserve(&b, len + 96);
    if (rc == 0)
        rc = ipd_buf_appendf(&b, "{\"type\":\"%s\",\"epoch\":\"%s\",\"seq\":%" PRIu64 ",\"job\":", type, epoch, seq);
    if (rc == 0)
        rc = ipd_buf_append(&b, job, len);
    if (rc == 0)
        rc = ipd_buf_append_char(&b, '}');
    ipd_ws_msg_t *m = frame_buf(&b, rc);
    /* The Job is followed by the closing brace only. */
    if (m != NULL)
        *job_off = m->len - (uint32_t)len - 1;
    return m;
}
