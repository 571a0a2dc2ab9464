/* Image reference validation: never crashes, and the parts of a valid reference lie inside it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/image_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[128];
    ipd_image_ref_t r;
    const char *s = (const char *)data;
    if (ipd_image_ref_parse(s, size, &r, why, sizeof(why)) != 0) {
        if (why[0] == '\0' || memchr(why, '\0', sizeof(why)) == NULL)
            abort();
        return 0;
    }
    if (r.path_len == 0 || r.path_off + r.path_len > size || r.tag_off + r.tag_len > size ||
        r.digest_off + r.digest_len > size || r.path_len > 255)
        abort();
    for (size_t i = 0; i < size; i++)
        if (data[i] <= ' ' || data[i] >= 0x7f)
            abort();
    return 0;
}
