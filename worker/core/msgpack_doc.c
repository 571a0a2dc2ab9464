#include "worker/core/core.h"

#include <errno.h>
#include <jansson.h>
#include <msgpack.h>
#include <string.h>

#include "proto/error.h"

/* Our documents nest 4 deep (list, jobs, job, tasks/task); anything deeper is not ours. */
#define MAX_DEPTH 16

static int on_write(void *data, const char *buf, size_t len)
{
    return ipd_buf_append(data, buf, len) == 0 ? 0 : -1;
}

static int pack(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH)
        return IPD_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        if (msgpack_pack_map(pk, json_object_size(v)) != 0)
            return -ENOMEM;
        json_object_foreach((json_t *)v, key, val)
        {
            size_t n = strlen(key);
            if (msgpack_pack_str_with_body(pk, key, n) != 0)
                return -ENOMEM;
            int rc = pack(pk, val, depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        if (msgpack_pack_array(pk, json_array_size(v)) != 0)
            return -ENOMEM;
        json_array_foreach(v, i, val)
        {
            int rc = pack(pk, val, depth + 1);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case JSON_STRING:
        return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v)) == 0 ? 0 : -ENOMEM;
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, (int64_t)json_integer_value(v)) == 0 ? 0 : -ENOMEM;
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v)) == 0 ? 0 : -ENOMEM;
    case JSON_TRUE:
        return msgpack_pack_true(pk) == 0 ? 0 : -ENOMEM;
    case JSON_FALSE:
        return msgpack_pack_false(pk) == 0 ? 0 : -ENOMEM;
    case JSON_NULL:
        return msgpack_pack_nil(pk) == 0 ? 0 : -ENOMEM;
    }
    return IPD_EINVAL;
}

int ipd_worker_json_to_msgpack(const char *json, size_t len, ipd_buf_t *out)
{
    json_error_t err;
    msgpack_packer pk;
    size_t start = out->len;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (root == NULL)
        return IPD_EINVAL;
    msgpack_packer_init(&pk, out, on_write);
    int rc = pack(&pk, root, 0);
    json_decref(root);
    if (rc != 0)
        ipd_buf_truncate(out, start);
    return rc;
}
