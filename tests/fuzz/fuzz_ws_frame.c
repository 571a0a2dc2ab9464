/*
 * The WebSocket frame reader: any byte stream, fed in the pieces the fuzzer's first byte picks,
 * is decoded or refused with a close code; events always lie inside the input or the reader's
 * own buffer, messages never exceed the limit, and text is always UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    uint8_t *buf = malloc(size + 1);
    memcpy(buf, data, size);
    ipd_ws_reader_t r;
    memset(&r, 0, sizeof(r));
    r.max_message = 300;
    size_t off = 0, avail = 0;
    for (;;) {
        ipd_ws_event_t ev;
        ssize_t n = ipd_ws_reader_next(&r, buf + off, avail - off, &ev);
        if (n < 0) {
            if (n != -1002 && n != -1007 && n != -1009)
                abort();
            break;
        }
        if (n == 0) {
            if (avail == size)
                break;
            avail = avail + step < size ? avail + step : size; /* more input arrives */
            continue;
        }
        if ((size_t)n > avail - off)
            abort();
        if (ev.opcode != IPD_WS_OP_CONT) {
            int inside = ev.len == 0 || (ev.data >= buf + off && ev.data + ev.len <= buf + off + (size_t)n) ||
                         (r.msg != NULL && ev.data == r.msg && ev.len <= r.msg_cap);
            if (!inside || ev.len > r.max_message)
                abort();
            if (ev.opcode == IPD_WS_OP_TEXT && !ipd_utf8_valid(ev.data, ev.len))
                abort();
            if ((ev.opcode & 0x08) && ev.len > IPD_WS_CONTROL_MAX)
                abort();
            if (ev.opcode == IPD_WS_OP_CLOSE && ev.close_code != IPD_WS_CLOSE_NO_STATUS &&
                !ipd_ws_close_code_valid(ev.close_code))
                abort();
        }
        off += (size_t)n;
    }
    ipd_ws_reader_dispose(&r);
    free(buf);
    return 0;
}
