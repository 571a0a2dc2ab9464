/*
 * Unpadded base64url (proto/base64url.h): never crashes or reads past `len`; what decodes
 * re-encodes to exactly the input (the decoder accepts only the encoder's outputs) and fits in
 * 3 * len / 4 bytes; any bytes encode to 4 * ceil(len / 3) characters or fewer, which decode
 * back to them.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/base64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cap = size + 4;
    unsigned char *dec = malloc(cap);
    char *enc = malloc(2 * size + 8);
    if (dec == NULL || enc == NULL)
        abort();
    int n = ipd_base64url_decode((const char *)data, size, dec, cap);
    if (n >= 0) {
        if ((size_t)n > 3 * size / 4)
            abort();
        int m = ipd_base64url_encode(dec, (size_t)n, enc, 2 * size + 8);
        if (m < 0 || (size_t)m != size || memcmp(enc, data, size) != 0)
            abort();
        if (n > 0 && ipd_base64url_decode((const char *)data, size, dec, (size_t)n - 1) != -1)
            abort(); /* one byte short of room */
    }
    int m = ipd_base64url_encode(data, size, enc, 2 * size + 8);
    if (m < 0 || (size_t)m > (size + 2) / 3 * 4 || (size_t)m != strlen(enc))
        abort();
    if (ipd_base64url_decode(enc, (size_t)m, dec, cap) != (int)size || memcmp(dec, data, size) != 0)
        abort();
    free(dec);
    free(enc);
    return 0;
}
