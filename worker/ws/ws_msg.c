#include "worker/ws/ws.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"

/* A final unmasked frame of `opcode`: header and `len` bytes of payload, one reference. */
static ipd_ws_msg_t *frame(uint8_t opcode, const void *head, size_t headlen, const void *payload, size_t len)
{
    uint8_t hdr[IPD_WS_HEADER_MAX];
    if (len > UINT32_MAX - IPD_WS_HEADER_MAX - headlen)
        return NULL;
    size_t hlen = ipd_ws_frame_header(hdr, opcode, headlen + len);
    ipd_ws_msg_t *m = malloc(sizeof(*m) + hlen + headlen + len);
    if (m == NULL)
        return NULL;
    m->refs = 1;
    m->len = (uint32_t)(hlen + headlen + len);
    m->next = NULL;
    memcpy(m->data, hdr, hlen);
    if (headlen != 0)
        memcpy(m->data + hlen, head, headlen);
    if (len != 0)
        memcpy(m->data + hlen + headlen, payload, len);
    return m;
}

ipd_ws_msg_t *ipd_ws_msg_frame(const char *payload, size_t len)
{
    return frame(IPD_WS_OP_TEXT, NULL, 0, payload, len);
}

ipd_ws_msg_t *ipd_ws_msg_control(uint8_t opcode, const void *payload, size_t len)
{
    return frame(opcode, NULL, 0, payload, len < IPD_WS_CONTROL_MAX ? len : IPD_WS_CONTROL_MAX);
}

ipd_ws_msg_t *ipd_ws_msg_close(uint16_t code, const char *reason)
{
    const uint8_t be[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t rlen = strlen(reason);
    return frame(IPD_WS_OP_CLOSE, be, 2, reason, rlen < IPD_WS_CONTROL_MAX - 2 ? rlen : IPD_WS_CONTROL_MAX - 2);
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

ipd_ws_msg_t *ipd_ws_msg_tasks(const char *epoch, uint64_t seq, uint64_t from, const ipd_job_t *job,
                               const ipd_task_t *tasks, size_t ntasks, const uint32_t *changed, size_t nchanged)
{
    ipd_buf_t b;
    ipd_buf_init(&b);
    int rc = ipd_buf_appendf(&b,
                             "{\"type\":\"tasks\",\"epoch\":\"%s\",\"seq\":%" PRIu64 ",\"from_version\":%" PRIu64
                             ",\"version\":%" PRIu64 ",\"ntasks\":%zu,\"summary\":",
                             epoch, seq, from, job->version, ntasks);
    if (rc == 0)
        rc = ipd_json_encode_job_summary(&b, job);
    if (rc == 0)
        rc = ipd_buf_append_str(&b, ",\"changed\":[");
    for (size_t i = 0; rc == 0 && i < nchanged; i++) {
        rc = ipd_buf_appendf(&b, "%s{\"index\":%" PRIu32 ",\"task\":", i > 0 ? "," : "", changed[i]);
        if (rc == 0)
            rc = ipd_json_encode_task(&b, &tasks[changed[i]]);
        if (rc == 0)
            rc = ipd_buf_append_char(&b, '}');
    }
    if (rc == 0)
        rc = ipd_buf_append_str(&b, "]}");
    return frame_buf(&b, rc);
}
