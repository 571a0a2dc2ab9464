/*
 * Decoding one pod watch line: jansson's whole document against the pruned decoder with the
 * shape the master reads, for each file given (the fuzz seeds are a simulator line and a
 * kubelet pod with managedFields); and the skim the reflector makes of every line before it
 * holds it (type, then metadata name, namespace and resourceVersion).
 *
 *   bench_json_prune FILE...
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "proto/json_prune.h"
#include "proto/json_scan.h"
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
        static const char *const type_path[] = {"type"}, *const meta_path[] = {"object", "metadata"};
        static const char *const names[] = {"name", "namespace", "resourceVersion"};
        for (int i = 0; i < rounds; i++) {
            const char *type;
            size_t tlen;
            ipd_json_span_t m[3];
            if (ipd_json_scan_string(text, len, type_path, 1, &type, &tlen) != 0 ||
                ipd_json_scan_members(text, len, meta_path, 2, names, 3, m) != 0 || m[2].ptr == NULL)
                return 1;
        }
        double t3 = now_s();
        printf("%s: %zu bytes: jansson %.2f us, pruned %.2f us per line (%.1fx); skim %.2f us\n", argv[f], len,
               (t1 - t0) / rounds * 1e6, (t2 - t1) / rounds * 1e6, (t1 - t0) / (t2 - t1), (t3 - t2) / rounds * 1e6);
    }
    return 0;
}
