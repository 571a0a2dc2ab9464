/* proto/ws_frame: decoding client frames, the limits and errors of RFC 6455, server headers, UTF-8. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws_frame.h"

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Builds a masked client frame into `out`; returns its length. `b0` is the first byte as sent. */
static size_t frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    size_t h = 0;
    out[h++] = b0;
    if (len <= 125) {
        out[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(out + h, key, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
    return h + len;
}

static ipd_ws_reader_t reader(uint64_t max)
{
    ipd_ws_reader_t r;
    memset(&r, 0, sizeof(r));
    r.max_message = max;
    return r;
}

Test(ws_frame, a_masked_text_frame_is_unmasked_in_place)
{
    uint8_t buf[64];
    const char *text = "{\"op\":\"subscribe_all\"}";
    size_t n = frame(buf, 0x81, text, strlen(text));
    ipd_ws_reader_t r = reader(1024);
    ipd_ws_event_t ev;
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), (ssize_t)n);
    cr_assert_eq(ev.opcode, IPD_WS_OP_TEXT);
    cr_assert_eq(ev.len, strlen(text));
    cr_assert_eq(memcmp(ev.data, text, ev.len), 0);
    cr_assert(ev.data >= buf && ev.data < buf + n, "an unfragmented frame is not copied");
    ipd_ws_reader_dispose(&r);
}

Test(ws_frame, every_prefix_of_a_frame_asks_for_more)
{
    uint8_t buf[70000], copy[70000];
    static uint8_t payload[66000];
    memset(payload, 'a', sizeof(payload));
    const size_t sizes[] = {0, 5, 125, 126, 300, 65535, 65536};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = frame(buf, 0x82, payload, sizes[s]);
        ipd_ws_reader_t r = reader(1 << 20);
        ipd_ws_event_t ev;
        for (size_t cut = 0; cut < n; cut += (cut < 20 ? 1 : 997)) {
            memcpy(copy, buf, cut);
            cr_assert_eq(ipd_ws_reader_next(&r, copy, cut, &ev), 0, "size %zu cut at %zu", sizes[s], cut);
        }
        memcpy(copy, buf, n);
        cr_assert_eq(ipd_ws_reader_next(&r, copy, n, &ev), (ssize_t)n, "size %zu", sizes[s]);
        cr_assert_eq(ev.opcode, IPD_WS_OP_BINARY);
        cr_assert_eq(ev.len, sizes[s]);
        ipd_ws_reader_dispose(&r);
    }
}

Test(ws_frame, fragments_are_assembled_with_control_frames_between_them)
{
    uint8_t buf[256];
    size_t n = 0;
    n += frame(buf + n, 0x01, "{\"op\":", 6);   /* text, not final */
    n += frame(buf + n, 0x89, "hb", 2);         /* ping in the middle */
    n += frame(buf + n, 0x00, "\"subscr", 7);   /* continuation */
    n += frame(buf + n, 0x80, "ibe_all\"}", 9); /* final continuation */
    ipd_ws_reader_t r = reader(1024);
    ipd_ws_event_t ev;
    size_t off = 0;
    ssize_t k = ipd_ws_reader_next(&r, buf + off, n - off, &ev);
    cr_assert_gt(k, 0);
    cr_assert_eq(ev.opcode, IPD_WS_OP_CONT, "a fragment is absorbed");
    off += (size_t)k;
    k = ipd_ws_reader_next(&r, buf + off, n - off, &ev);
    cr_assert_eq(ev.opcode, IPD_WS_OP_PING);
    cr_assert_eq(ev.len, 2);
    cr_assert_eq(memcmp(ev.data, "hb", 2), 0);
    off += (size_t)k;
    k = ipd_ws_reader_next(&r, buf + off, n - off, &ev);
    cr_assert_eq(ev.opcode, IPD_WS_OP_CONT);
    off += (size_t)k;
    k = ipd_ws_reader_next(&r, buf + off, n - off, &ev);
    off += (size_t)k;
    cr_assert_eq(off, n);
    cr_assert_eq(ev.opcode, IPD_WS_OP_TEXT);
    cr_assert_eq(ev.len, 22);
    cr_assert_eq(memcmp(ev.data, "{\"op\":\"subscribe_all\"}", 22), 0);
    /* The assembled message is released by the next call. */
    cr_assert_eq(ipd_ws_reader_next(&r, buf, 0, &ev), 0);
    cr_assert_null(r.msg);
    ipd_ws_reader_dispose(&r);
}

Test(ws_frame, utf8_split_between_fragments_is_valid)
{
    uint8_t buf[64];
    const uint8_t e_acute[] = {0xc3, 0xa9};
    size_t n = frame(buf, 0x01, e_acute, 1);
    n += frame(buf + n, 0x80, e_acute + 1, 1);
    ipd_ws_reader_t r = reader(64);
    ipd_ws_event_t ev;
    ssize_t k = ipd_ws_reader_next(&r, buf, n, &ev);
    cr_assert_gt(k, 0);
    cr_assert_eq(ipd_ws_reader_next(&r, buf + k, n - (size_t)k, &ev), (ssize_t)(n - (size_t)k));
    cr_assert_eq(ev.opcode, IPD_WS_OP_TEXT);
    cr_assert_eq(ev.len, 2);
    ipd_ws_reader_dispose(&r);
}

Test(ws_frame, close_frames)
{
    uint8_t buf[160], p[130];
    ipd_ws_event_t ev;
    ipd_ws_reader_t r = reader(64);
    /* A code and a reason. */
    p[0] = 0x03;
    p[1] = 0xe8; /* 1000 */
    memcpy(p + 2, "bye", 3);
    size_t n = frame(buf, 0x88, p, 5);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), (ssize_t)n);
    cr_assert_eq(ev.opcode, IPD_WS_OP_CLOSE);
    cr_assert_eq(ev.close_code, 1000);
    /* No payload: no status. */
    n = frame(buf, 0x88, p, 0);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), (ssize_t)n);
    cr_assert_eq(ev.close_code, IPD_WS_CLOSE_NO_STATUS);
    /* One byte, codes that may not be sent, a reason that is not UTF-8. */
    n = frame(buf, 0x88, p, 1);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1002);
    const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p[0] = (uint8_t)(bad[i] >> 8);
        p[1] = (uint8_t)bad[i];
        n = frame(buf, 0x88, p, 2);
        cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1002, "code %u", bad[i]);
    }
    p[0] = 0x0f;
    p[1] = 0xa0; /* 4000 */
    p[2] = 0xff;
    n = frame(buf, 0x88, p, 3);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1007);
    ipd_ws_reader_dispose(&r);
}

Test(ws_frame, protocol_errors_fail_with_1002)
{
    uint8_t buf[300], big[200];
    memset(big, 'x', sizeof(big));
    ipd_ws_event_t ev;
    struct {
        const char *what;
        uint8_t b0;
        size_t len;
    } cases[] = {
        {"a reserved bit", 0x81 | 0x40, 2},
        {"another reserved bit", 0x81 | 0x10, 2},
        {"opcode 3", 0x83, 2},
        {"opcode 0xb", 0x8b, 2},
        {"a fragmented ping", 0x09, 2},
        {"a ping over 125 bytes", 0x89, 126},
        {"a continuation first", 0x80, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ipd_ws_reader_t r = reader(1024);
        size_t n = frame(buf, cases[i].b0, big, cases[i].len);
        cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1002, "%s", cases[i].what);
        ipd_ws_reader_dispose(&r);
    }
    /* An unmasked frame. */
    ipd_ws_reader_t r = reader(1024);
    uint8_t unmasked[] = {0x81, 0x02, '{', '}'};
    cr_assert_eq(ipd_ws_reader_next(&r, unmasked, sizeof(unmasked), &ev), -1002);
    /* A new message inside a fragmented one. */
    size_t n = frame(buf, 0x01, "a", 1);
    cr_assert_gt(ipd_ws_reader_next(&r, buf, n, &ev), 0);
    n = frame(buf, 0x81, "b", 1);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1002);
    ipd_ws_reader_dispose(&r);
    /* A 64-bit length with its top bit set. */
    uint8_t huge[14] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    r = reader(1024);
    cr_assert_eq(ipd_ws_reader_next(&r, huge, sizeof(huge), &ev), -1002);
}

Test(ws_frame, messages_over_the_limit_fail_with_1009_before_their_payload)
{
    uint8_t buf[64];
    ipd_ws_event_t ev;
    ipd_ws_reader_t r = reader(100);
    /* Only the header of a 101-byte frame has arrived. */
    uint8_t hdr[] = {0x81, 0x80 | 101, 1, 2, 3, 4};
    cr_assert_eq(ipd_ws_reader_next(&r, hdr, sizeof(hdr), &ev), -1009);
    uint8_t hdr64[] = {0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0};
    r = reader(100);
    cr_assert_eq(ipd_ws_reader_next(&r, hdr64, sizeof(hdr64), &ev), -1009);
    /* The limit applies to the sum of the fragments. */
    static uint8_t part[60];
    memset(part, 'x', sizeof(part));
    static uint8_t fb[200];
    r = reader(100);
    size_t n = frame(fb, 0x01, part, 60);
    cr_assert_eq(ipd_ws_reader_next(&r, fb, n, &ev), (ssize_t)n);
    n = frame(fb, 0x80, part, 41);
    cr_assert_eq(ipd_ws_reader_next(&r, fb, n, &ev), -1009);
    ipd_ws_reader_dispose(&r);
    /* Exactly the limit is fine. */
    r = reader(100);
    n = frame(fb, 0x01, part, 60);
    cr_assert_eq(ipd_ws_reader_next(&r, fb, n, &ev), (ssize_t)n);
    n = frame(fb, 0x80, part, 40);
    cr_assert_eq(ipd_ws_reader_next(&r, fb, n, &ev), (ssize_t)n);
    cr_assert_eq(ev.len, 100);
    ipd_ws_reader_dispose(&r);
    (void)buf;
}

Test(ws_frame, text_that_is_not_utf8_fails_with_1007)
{
    uint8_t buf[64];
    ipd_ws_event_t ev;
    const uint8_t bad[] = {'{', 0xff, '}'};
    ipd_ws_reader_t r = reader(64);
    size_t n = frame(buf, 0x81, bad, sizeof(bad));
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1007);
    /* Binary payloads are not checked. */
    n = frame(buf, 0x82, bad, sizeof(bad));
    r = reader(64);
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), (ssize_t)n);
    /* Fragments whose whole is invalid. */
    r = reader(64);
    n = frame(buf, 0x01, "ok", 2);
    cr_assert_gt(ipd_ws_reader_next(&r, buf, n, &ev), 0);
    n = frame(buf, 0x80, bad, sizeof(bad));
    cr_assert_eq(ipd_ws_reader_next(&r, buf, n, &ev), -1007);
    ipd_ws_reader_dispose(&r);
}

Test(ws_frame, utf8_validation)
{
    struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain ascii", 1},
        {"\xc3\xa9t\xc3\xa9", 1},
        {"\xe2\x82\xac", 1},         /* U+20AC */
        {"\xf0\x9f\x98\x80", 1},     /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 1},     /* U+10FFFF */
        {"\xc0\xaf", 0},             /* overlong '/' */
        {"\xe0\x80\xaf", 0},         /* overlong */
        {"\xf0\x80\x80\xaf", 0},     /* overlong */
        {"\xed\xa0\x80", 0},         /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 0},     /* past U+10FFFF */
        {"\x80", 0},                 /* a lone continuation */
        {"\xc3", 0},                 /* truncated */
        {"\xe2\x82", 0},             /* truncated */
        {"\xc3\x28", 0},             /* a bad continuation */
        {"\xf8\x88\x80\x80\x80", 0}, /* five bytes */
        {"\xff", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(ipd_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s)), cases[i].ok, "case %zu", i);
}

Test(ws_frame, server_headers)
{
    uint8_t h[IPD_WS_HEADER_MAX];
    cr_assert_eq(ipd_ws_frame_header(h, IPD_WS_OP_TEXT, 0), 2);
    cr_assert(h[0] == 0x81 && h[1] == 0);
    cr_assert_eq(ipd_ws_frame_header(h, IPD_WS_OP_CLOSE, 125), 2);
    cr_assert(h[0] == 0x88 && h[1] == 125);
    cr_assert_eq(ipd_ws_frame_header(h, IPD_WS_OP_TEXT, 126), 4);
    cr_assert(h[1] == 126 && h[2] == 0 && h[3] == 126);
    cr_assert_eq(ipd_ws_frame_header(h, IPD_WS_OP_BINARY, 65535), 4);
    cr_assert(h[0] == 0x82 && h[2] == 0xff && h[3] == 0xff);
    cr_assert_eq(ipd_ws_frame_header(h, IPD_WS_OP_TEXT, 65536), 10);
    cr_assert(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
}
