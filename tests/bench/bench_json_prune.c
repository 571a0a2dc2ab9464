/*
 * Decoding one pod watch line: jansson's whole document against the pruned decoder with the
 * shape the master reads, for each file given (the fuzz seeds are a simulator line and a
 * kubelet pod with managedFields).
 *
 *   bench_json_prune FILE...
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "proto/json_prune.h"
#include "proto/kube_pod.h"

static const ipd_json_field_t event_fields[] = {{"type", NULL}, {"object", &ipd_kube_pod_shape}};
static const ipd_json_shape_t event_shape = IPD_JSON_OBJECT_SHAPE(event_fields);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_json_prune FILE...\n");
        return 2;
    }
    for (int f = 1; f < argc; f++) {
        FILE *in = fopen(argv[f], "rb");
        static char text[1 << 16];
        size_t len = in != NULL ? fread(text, 1, sizeof(text), in) : 0;
        if (in != NULL)
            fclose(in);
        if (len == 0) {
            fprintf(stderr, "%s: cannot read\n", argv[f]);
            return 1;
        }
        const int rounds = 20000;
        double t0 = now_s();
        for (int i = 0; i < rounds; i++) {
            json_t *doc = json_loadb(text, len, 0, NULL);
            if (doc == NULL)
                return 1;
            json_decref(doc);
        }
        double t1 = now_s();
        for (int i = 0; i < rounds; i++) {
            json_t *doc = NULL;
            if (ipd_json_prune_load(text, len, &event_shape, &doc) != 0)
                return 1;
            json_decref(doc);
        }
        double t2 = now_s();
        printf("%s: %zu bytes: jansson %.2f us, pruned %.2f us per line (%.1fx)\n", argv[f], len,
               (t1 - t0) / rounds * 1e6, (t2 - t1) / rounds * 1e6, (t1 - t0) / (t2 - t1));
    }
    return 0;
}
