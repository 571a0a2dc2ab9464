#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/strmap.h"

#define MANY 20000

/* Values are small integers disguised as pointers, offset so that 0 is never NULL. */
static void *val(size_t i)
{
    return (void *)(uintptr_t)(i + 1);
}

static size_t unval(void *v)
{
    return (size_t)(uintptr_t)v - 1;
}

static void key_of(size_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "key-%zu", i);
}

/* Counts the entries an iteration visits and checks that each value shows up exactly once. */
static size_t visit_all(const ipd_strmap_t *m, unsigned char *seen, size_t nseen)
{
    size_t b = 0, visits = 0;
    ipd_strmap_entry_t *e = NULL;
    memset(seen, 0, nseen);
    while ((e = ipd_strmap_next(m, &b, e)) != NULL) {
        size_t i = unval(e->value);
        cr_assert_lt(i, nseen, "value %zu out of range", i);
        char key[32];
        key_of(i, key, sizeof(key));
        cr_assert_str_eq(e->key, key);
        cr_assert_eq(seen[i], 0, "entry %s visited twice", e->key);
        seen[i] = 1;
        visits++;
    }
    return visits;
}

Test(strmap, empty_map_finds_nothing_and_iterates_nothing)
{
    ipd_strmap_t m;
    ipd_strmap_init(&m);
    cr_assert_null(ipd_strmap_get(&m, "a"));
    cr_assert_null(ipd_strmap_del(&m, "a"));
    size_t b = 0;
    cr_assert_null(ipd_strmap_next(&m, &b, NULL));
    cr_assert_eq(m.count, 0);
    ipd_strmap_dispose(&m);
    ipd_strmap_dispose(&m);
}

Test(strmap, put_get_replace_del)
{
    ipd_strmap_t m;
    int a = 1, b = 2, c = 3;
    ipd_strmap_init(&m);
    cr_assert_eq(ipd_strmap_put(&m, "alpha", &a), 0);
    cr_assert_eq(ipd_strmap_put(&m, "beta", &b), 0);
    cr_assert_eq(ipd_strmap_put(&m, "", &c), 0);
    cr_assert_eq(m.count, 3);
    cr_assert_eq(ipd_strmap_get(&m, "alpha"), &a);
    cr_assert_eq(ipd_strmap_get(&m, "beta"), &b);
    cr_assert_eq(ipd_strmap_get(&m, ""), &c);
    cr_assert_null(ipd_strmap_get(&m, "alph"));
    cr_assert_null(ipd_strmap_get(&m, "alphaa"));

    /* Replacing keeps one entry and changes its value. */
    cr_assert_eq(ipd_strmap_put(&m, "alpha", &c), 0);
    cr_assert_eq(m.count, 3);
    cr_assert_eq(ipd_strmap_get(&m, "alpha"), &c);

    cr_assert_eq(ipd_strmap_del(&m, "alpha"), &c);
    cr_assert_eq(m.count, 2);
    cr_assert_null(ipd_strmap_get(&m, "alpha"));
    cr_assert_null(ipd_strmap_del(&m, "alpha"));
    cr_assert_eq(ipd_strmap_get(&m, "beta"), &b);
    cr_assert_eq(ipd_strmap_del(&m, ""), &c);
    cr_assert_eq(ipd_strmap_del(&m, "beta"), &b);
    cr_assert_eq(m.count, 0);
    cr_assert_eq(ipd_strmap_put(&m, "alpha", &a), 0);
    cr_assert_eq(ipd_strmap_get(&m, "alpha"), &a);
    ipd_strmap_dispose(&m);
    cr_assert_eq(m.count, 0);
    cr_assert_null(m.buckets);
}

Test(strmap, keys_are_copied)
{
    ipd_strmap_t m;
    char key[16] = "volatile";
    int v = 7;
    ipd_strmap_init(&m);
    cr_assert_eq(ipd_strmap_put(&m, key, &v), 0);
    strcpy(key, "changed");
    cr_assert_eq(ipd_strmap_get(&m, "volatile"), &v);
    cr_assert_null(ipd_strmap_get(&m, "changed"));
    ipd_strmap_dispose(&m);
}

Test(strmap, grows_past_many_thousands_of_keys)
{
    ipd_strmap_t m;
    char key[32];
    ipd_strmap_init(&m);
    for (size_t i = 0; i < MANY; i++) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(ipd_strmap_put(&m, key, val(i)), 0);
    }
    cr_assert_eq(m.count, MANY);
    /* Load stays at most 1 and the bucket count a power of two. */
    cr_assert_geq(m.nbuckets, m.count);
    cr_assert_eq(m.nbuckets & (m.nbuckets - 1), 0);
    for (size_t i = 0; i < MANY; i++) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(ipd_strmap_get(&m, key), val(i), "lost %s after growth", key);
    }
    key_of(MANY, key, sizeof(key));
    cr_assert_null(ipd_strmap_get(&m, key));
    /* Delete every other key; the rest stays reachable. */
    for (size_t i = 0; i < MANY; i += 2) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(ipd_strmap_del(&m, key), val(i));
    }
    cr_assert_eq(m.count, MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        key_of(i, key, sizeof(key));
        if (i % 2 == 0)
            cr_assert_null(ipd_strmap_get(&m, key));
        else
            cr_assert_eq(ipd_strmap_get(&m, key), val(i));
    }
    ipd_strmap_dispose(&m);
}

Test(strmap, iteration_visits_each_entry_exactly_once)
{
    ipd_strmap_t m;
    char key[32];
    unsigned char *seen = malloc(MANY);
    cr_assert_not_null(seen);
    ipd_strmap_init(&m);
    /* Sizes around the growth points, where chains and empty buckets are both common. */
    const size_t sizes[] = {1, 2, 63, 64, 65, 1000, MANY};
    size_t have = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (; have < sizes[s]; have++) {
            key_of(have, key, sizeof(key));
            cr_assert_eq(ipd_strmap_put(&m, key, val(have)), 0);
        }
        cr_assert_eq(visit_all(&m, seen, MANY), sizes[s]);
        for (size_t i = 0; i < sizes[s]; i++)
            cr_assert_eq(seen[i], 1, "entry %zu not visited with %zu entries", i, sizes[s]);
    }
    ipd_strmap_dispose(&m);
    free(seen);
}

Test(strmap, deleting_during_a_collected_pass)
{
    ipd_strmap_t m;
    char key[32];
    const size_t n = 5000;
    unsigned char *seen = malloc(n);
    cr_assert_not_null(seen);
    ipd_strmap_init(&m);
    for (size_t i = 0; i < n; i++) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(ipd_strmap_put(&m, key, val(i)), 0);
    }
    /* The pattern the model uses: collect during the walk, delete afterwards. */
    char **doomed = calloc(n, sizeof(*doomed));
    cr_assert_not_null(doomed);
    size_t ndoomed = 0, b = 0;
    ipd_strmap_entry_t *e = NULL;
    while ((e = ipd_strmap_next(&m, &b, e)) != NULL)
        if (unval(e->value) % 3 != 0)
            doomed[ndoomed++] = strdup(e->key);
    cr_assert_eq(ndoomed, n - (n + 2) / 3);
    for (size_t i = 0; i < ndoomed; i++) {
        cr_assert_not_null(ipd_strmap_del(&m, doomed[i]), "%s vanished before its turn", doomed[i]);
        free(doomed[i]);
    }
    free(doomed);
    cr_assert_eq(m.count, (n + 2) / 3);
    cr_assert_eq(visit_all(&m, seen, n), (n + 2) / 3);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(seen[i], i % 3 == 0, "entry %zu: seen %d", i, seen[i]);
    /* Deleting the entry just returned is also safe when the walk goes on from its bucket. */
    b = 0;
    e = NULL;
    size_t deleted = 0;
    while ((e = ipd_strmap_next(&m, &b, NULL)) != NULL) {
        cr_assert_not_null(ipd_strmap_del(&m, e->key));
        deleted++;
    }
    cr_assert_eq(deleted, (n + 2) / 3);
    cr_assert_eq(m.count, 0);
    ipd_strmap_dispose(&m);
    free(seen);
}

Test(strmap, a_hash_computed_once_finds_and_files_what_the_plain_calls_do)
{
    /* The hashed calls and the plain ones share one map: a key put by either is found by both. */
    ipd_strmap_t m;
    ipd_strmap_init(&m);
    char key[32];
    for (size_t i = 0; i < 1000; i++) {
        key_of(i, key, sizeof(key));
        if (i % 2)
            cr_assert_eq(ipd_strmap_put_hashed(&m, key, ipd_strmap_hash(key), val(i)), 0);
        else
            cr_assert_eq(ipd_strmap_put(&m, key, val(i)), 0);
    }
    for (size_t i = 0; i < 1000; i++) {
        key_of(i, key, sizeof(key));
        cr_assert_eq(ipd_strmap_get(&m, key), val(i), "%s", key);
        cr_assert_eq(ipd_strmap_get_hashed(&m, key, ipd_strmap_hash(key)), val(i), "%s", key);
    }
    key_of(7, key, sizeof(key));
    cr_assert_eq(ipd_strmap_put_hashed(&m, key, ipd_strmap_hash(key), val(70)), 0);
    cr_assert_eq(ipd_strmap_get(&m, key), val(70), "a hashed put replaces the value");
    cr_assert_eq(m.count, 1000);
    cr_assert_null(ipd_strmap_get_hashed(&m, "absent", ipd_strmap_hash("absent")));
    cr_assert_eq(ipd_strmap_del(&m, key), val(70));
    cr_assert_null(ipd_strmap_get_hashed(&m, key, ipd_strmap_hash(key)));
    ipd_strmap_dispose(&m);
}
