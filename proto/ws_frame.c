#include "proto/ws_frame.h"

#include <stdlib.h>
#include <string.h>

int ipd_ws_close_code_valid(uint16_t code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
        return 1;
    default:
        return 0;
    }
}

size_t ipd_ws_frame_header(uint8_t out[IPD_WS_HEADER_MAX], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len <= 125) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void ipd_ws_reader_dispose(ipd_ws_reader_t *r)
{
    free(r->msg);
    r->msg = NULL;
    r->msg_len = r->msg_cap = 0;
    r->msg_opcode = 0;
}

static void unmask(uint8_t *p, size_t len, const uint8_t key[4])
{
    for (size_t i = 0; i < len; i++)
        p[i] ^= key[i & 3];
}

/* Appends a fragment to the message being assembled. 0, or -1009 when it cannot be held. */
static int append(ipd_ws_reader_t *r, const uint8_t *p, size_t len)
{
    if (len > UINT32_MAX - r->msg_len)
        return -IPD_WS_CLOSE_TOO_BIG;
    size_t need = r->msg_len + len;
    if (need > r->msg_cap) {
        size_t cap = r->msg_cap != 0 ? r->msg_cap : 256;
        while (cap < need)
            cap *= 2;
        if (cap > r->max_message)
            cap = need; /* never more than the limit allows */
        uint8_t *m = realloc(r->msg, cap);
        if (m == NULL)
            return -IPD_WS_CLOSE_TOO_BIG; /* nothing better to tell the client */
        r->msg = m;
        r->msg_cap = (uint32_t)cap;
    }
    if (len != 0)
        memcpy(r->msg + r->msg_len, p, len);
    r->msg_len = (uint32_t)need;
    return 0;
}

/* A close payload: a code (2 bytes, big-endian) and a UTF-8 reason, or nothing. */
static int parse_close(const uint8_t *p, size_t len, uint16_t *code)
{
    if (len == 0) {
        *code = IPD_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1)
        return -IPD_WS_CLOSE_PROTOCOL;
    *code = (uint16_t)(p[0] << 8 | p[1]);
    if (!ipd_ws_close_code_valid(*code))
        return -IPD_WS_CLOSE_PROTOCOL;
    if (!ipd_utf8_valid(p + 2, len - 2))
        return -IPD_WS_CLOSE_BAD_DATA;
    return 0;
}

ssize_t ipd_ws_reader_next(ipd_ws_reader_t *r, uint8_t *buf, size_t len, ipd_ws_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (r->msg != NULL && r->msg_opcode == 0)
        ipd_ws_reader_dispose(r); /* the message delivered last time is no longer needed */
    if (len < 2)
        return 0;
    uint8_t fin = buf[0] & 0x80, opcode = buf[0] & 0x0f;
    if ((buf[0] & 0x70) != 0 || (buf[1] & 0x80) == 0)
        return -IPD_WS_CLOSE_PROTOCOL; /* reserved bits (no extension was agreed), or an unmasked client frame */
    int control = (opcode & 0x08) != 0;
    if (control ? opcode > IPD_WS_OP_PONG : opcode > IPD_WS_OP_BINARY)
        return -IPD_WS_CLOSE_PROTOCOL;
    uint64_t plen = buf[1] & 0x7f;
    size_t hlen = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        if (buf[2] & 0x80)
            return -IPD_WS_CLOSE_PROTOCOL; /* the most significant bit must be 0 */
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        hlen = 10;
    }
    if (control && (!fin || plen > IPD_WS_CONTROL_MAX))
        return -IPD_WS_CLOSE_PROTOCOL;
    if (!control) {
        /* A continuation needs an open message; a new message must not start inside one. */
        if ((opcode == IPD_WS_OP_CONT) != (r->msg_opcode != 0))
            return -IPD_WS_CLOSE_PROTOCOL;
        /* Known from the header: the limit holds before the payload is buffered. */
        if (plen > r->max_message || plen + r->msg_len > r->max_message)
            return -IPD_WS_CLOSE_TOO_BIG;
    }
    if (len - hlen < 4 || len - hlen - 4 < plen)
        return 0;
    uint8_t *payload = buf + hlen + 4;
    unmask(payload, (size_t)plen, buf + hlen);
    size_t used = hlen + 4 + (size_t)plen;

    if (control) {
        ev->opcode = opcode;
        ev->data = payload;
        ev->len = (size_t)plen;
        if (opcode == IPD_WS_OP_CLOSE) {
            int rc = parse_close(payload, (size_t)plen, &ev->close_code);
            if (rc != 0)
                return rc;
        }
        return (ssize_t)used;
    }
    if (opcode != IPD_WS_OP_CONT && fin) {
        /* A whole message in one frame: handed over where it lies. */
        if (opcode == IPD_WS_OP_TEXT && !ipd_utf8_valid(payload, (size_t)plen))
            return -IPD_WS_CLOSE_BAD_DATA;
        ev->opcode = opcode;
        ev->data = payload;
        ev->len = (size_t)plen;
        return (ssize_t)used;
    }
    if (opcode != IPD_WS_OP_CONT)
        r->msg_opcode = opcode;
    int rc = append(r, payload, (size_t)plen);
    if (rc != 0)
        return rc;
    if (!fin)
        return (ssize_t)used; /* ev->opcode is CONT: absorbed */
    /* The last fragment: the message is the reader's until the next call. */
    if (r->msg_opcode == IPD_WS_OP_TEXT && !ipd_utf8_valid(r->msg, r->msg_len))
        return -IPD_WS_CLOSE_BAD_DATA;
    ev->opcode = r->msg_opcode;
    ev->data = r->msg;
    ev->len = r->msg_len;
    r->msg_opcode = 0; /* the bytes stay readable until the next call, which frees them */
    return (ssize_t)used;
}
