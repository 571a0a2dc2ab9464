/*
 * Runs a fuzz target without libFuzzer: every file of the corpus directory argv[1], then
 * IPD_FUZZ_ITERATIONS (default 20000) deterministic mutations of them (fixed seed: byte flips,
 * random bytes, truncations, insertions, duplications, splices). Exits 0 when nothing crashed,
 * printing one summary line; a crash is the target's abort or a sanitizer report.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_FILES 256
#define INPUT_MAX 65536

typedef struct input {
    uint8_t *data;
    size_t size;
} input_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t load_corpus(const char *dir, input_t *files)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (d == NULL) {
        perror(dir);
        exit(2);
    }
    while ((e = readdir(d)) != NULL && n < MAX_FILES) {
        char path[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        uint8_t *buf = malloc(INPUT_MAX);
        size_t len = buf != NULL ? fread(buf, 1, INPUT_MAX, f) : 0;
        fclose(f);
        if (buf == NULL)
            break;
        files[n].data = buf;
        files[n].size = len;
        n++;
    }
    closedir(d);
    return n;
}

/* Applies one random edit to buf[0..*len) (capacity INPUT_MAX). */
static void mutate(uint8_t *buf, size_t *len, const input_t *files, size_t nfiles)
{
    static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xdb,
                                          '"',  '\\', '{',  '}',  '[',  ']',  ':',  ',',  '.',  '/',  '@'};
    size_t pos = *len > 0 ? rnd() % *len : 0;
    switch (rnd() % 7) {
    case 0: /* flip a bit */
        if (*len > 0)
            buf[pos] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: /* set an interesting byte */
        if (*len > 0)
            buf[pos] = interesting[rnd() % sizeof(interesting)];
        break;
    case 2: /* truncate */
        *len = *len > 0 ? rnd() % *len : 0;
        break;
    case 3: /* insert random bytes */
    {
        size_t n = 1 + rnd() % 8;
        if (*len + n > INPUT_MAX)
            break;
        memmove(buf + pos + n, buf + pos, *len - pos);
        for (size_t i = 0; i < n; i++)
            buf[pos + i] = (uint8_t)rnd();
        *len += n;
        break;
    }
    case 4: /* delete a range */
        if (*len > 0) {
            size_t n = 1 + rnd() % (*len - pos);
            memmove(buf + pos, buf + pos + n, *len - pos - n);
            *len -= n;
        }
        break;
    case 5: /* duplicate a range */
        if (*len > 0) {
            size_t n = 1 + rnd() % (*len - pos);
            if (*len + n > INPUT_MAX)
                break;
            memmove(buf + pos + n, buf + pos, *len - pos);
            *len += n;
        }
        break;
    default: /* splice in part of another corpus file */
    {
        const input_t *o = &files[rnd() % nfiles];
        if (o->size == 0)
            break;
        size_t from = rnd() % o->size, n = 1 + rnd() % (o->size - from);
        if (*len + n > INPUT_MAX)
            break;
        memmove(buf + pos + n, buf + pos, *len - pos);
        memcpy(buf + pos, o->data + from, n);
        *len += n;
        break;
    }
    }
}

int main(int argc, char **argv)
{
    static input_t files[MAX_FILES];
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *env = getenv("IPD_FUZZ_ITERATIONS");
    long iterations = env != NULL ? strtol(env, NULL, 10) : 20000;
    size_t nfiles = load_corpus(argv[1], files);
    if (nfiles == 0) {
        fprintf(stderr, "%s: no corpus files\n", argv[1]);
        return 2;
    }
    uint8_t *buf = malloc(INPUT_MAX);
    if (buf == NULL)
        return 2;
    for (size_t i = 0; i < nfiles; i++) {
        /* Copy each input so that a target reading past its end is caught by the sanitizer. */
        uint8_t *copy = malloc(files[i].size > 0 ? files[i].size : 1);
        memcpy(copy, files[i].data, files[i].size);
        LLVMFuzzerTestOneInput(copy, files[i].size);
        free(copy);
    }
    for (long it = 0; it < iterations; it++) {
        const input_t *base = &files[(size_t)it % nfiles];
        size_t len = base->size;
        memcpy(buf, base->data, len);
        for (uint64_t k = 1 + rnd() % 4; k > 0; k--)
            mutate(buf, &len, files, nfiles);
        uint8_t *exact = malloc(len > 0 ? len : 1);
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    printf("%s: %zu corpus files, %ld mutations, no crash\n", argv[0], nfiles, iterations);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i].data);
    free(buf);
    return 0;
}
