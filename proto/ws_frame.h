/*
 * WebSocket framing (RFC 6455), server side: decoding the client's frames into messages and
 * control events, and the header of the frames the server sends. Pure: no I/O, no loop.
 *
 * The worker's job-watch connections use this instead of h2o's WebSocket layer, whose wslay
 * context costs about 9 KB per connection (two fixed frame buffers) for as long as the
 * connection lives. Here a connection holds a reader of a few words; a message is assembled on
 * the heap only while it arrives in fragments, and an unfragmented frame (the usual case) is
 * unmasked and handed over where it lies in the input buffer.
 */
#ifndef IPD_PROTO_WS_FRAME_H
#define IPD_PROTO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/utf8.h"

/** Opcodes. */
enum {
    IPD_WS_OP_CONT = 0x0,
    IPD_WS_OP_TEXT = 0x1,
    IPD_WS_OP_BINARY = 0x2,
    IPD_WS_OP_CLOSE = 0x8,
    IPD_WS_OP_PING = 0x9,
    IPD_WS_OP_PONG = 0xa,
};

/** Close codes the reader fails a connection with. */
enum {
    IPD_WS_CLOSE_NORMAL = 1000,
    IPD_WS_CLOSE_PROTOCOL = 1002,
    IPD_WS_CLOSE_NO_STATUS = 1005, /**< reported for a close frame without a code; never sent */
    IPD_WS_CLOSE_BAD_DATA = 1007,
    IPD_WS_CLOSE_TOO_BIG = 1009,
};

/** Largest server frame header: 2 bytes and a 64-bit length. */
#define IPD_WS_HEADER_MAX 10
/** Largest control frame payload. */
#define IPD_WS_CONTROL_MAX 125

/** What one call of ipd_ws_reader_next() found. */
typedef struct ipd_ws_event {
    uint8_t opcode;      /**< TEXT or BINARY (a whole message), CLOSE, PING or PONG; CONT: nothing yet */
    const uint8_t *data; /**< the payload, unmasked: in the caller's buffer or the reader's */
    size_t len;
    uint16_t close_code; /**< CLOSE: the client's code, or IPD_WS_CLOSE_NO_STATUS */
} ipd_ws_event_t;

/**
 * A connection's decoder state. Zero-initialise, set `max_message`, and dispose with
 * ipd_ws_reader_dispose(). Holds heap memory only while a fragmented message is incomplete.
 */
typedef struct ipd_ws_reader {
    uint64_t max_message; /**< largest message (the sum of its fragments) */
    uint8_t *msg;         /**< fragments so far (owned), NULL when none */
    uint32_t msg_len, msg_cap;
    uint8_t msg_opcode; /**< TEXT or BINARY while a fragmented message is open, else 0 */
} ipd_ws_reader_t;

/**
 * Decodes the next frame from `buf` (`len` bytes of client input; masked payloads are unmasked
 * in place). Returns the bytes the frame took (> 0) with `*ev` filled; ev->opcode is CONT when
 * the frame was a fragment absorbed into an incomplete message. Returns 0 when `buf` does not
 * hold a whole frame yet, or a negative close code: -1002 (an unmasked frame, reserved bits or
 * opcodes, a fragmented or oversized control frame, a continuation out of place, a bad close
 * payload), -1007 (a text message or close reason that is not UTF-8) or -1009 (a message over
 * max_message, known from the frame header before its payload arrives). After a negative
 * return the reader must not be fed again. Pointers in `*ev` stay valid until the next call or
 * until `buf` changes.
 */
ssize_t ipd_ws_reader_next(ipd_ws_reader_t *r, uint8_t *buf, size_t len, ipd_ws_event_t *ev);

/** Frees what the reader holds; it may be used again afterwards. */
void ipd_ws_reader_dispose(ipd_ws_reader_t *r);

/** Writes the header of an unmasked final frame of `opcode` and `len` bytes; returns its length (2, 4 or 10). */
size_t ipd_ws_frame_header(uint8_t out[IPD_WS_HEADER_MAX], uint8_t opcode, uint64_t len);

/** Whether `code` may appear in a close frame sent by a peer (RFC 6455 section 7.4). */
int ipd_ws_close_code_valid(uint16_t code);

#endif
