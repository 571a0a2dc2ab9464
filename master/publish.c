#include "master/publish.h"

ipd_publish_state_t ipd_publish_turn(ipd_model_t *m, ipd_redis_link_t *l, uint64_t window_ms, int64_t now_ms,
                                     int64_t now, size_t *written, int64_t *again_ms)
{
    *written = 0;
    int64_t since = ipd_model_remote_dirty_since(m);
    int64_t hold = ipd_redis_link_publish_delay(l, since, now_ms, (int64_t)window_ms);
    if (hold > 0) {
        *again_ms = hold;
        return IPD_PUBLISH_HELD;
    }
    /* Only records of other nodes wait: in parts, the link paused until the last one. Held
     * back or not, a reply's worth of them fits a part or a few. */
    size_t part = since > 0 && window_ms > 0 ? IPD_PUBLISH_PART : SIZE_MAX;
    *written = ipd_model_flush_some(m, now, part);
    int more = ipd_model_remote_dirty_since(m) > 0;
    ipd_redis_link_pause(l, more);
    *again_ms = more ? 0 : -1;
    return more ? IPD_PUBLISH_PART_LEFT : IPD_PUBLISH_DONE;
}
