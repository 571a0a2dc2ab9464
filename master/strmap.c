#include "master/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t ipd_strmap_hash(const char *s)
{
    size_t h = 0xcbf29ce484222325ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

void ipd_strmap_init(ipd_strmap_t *m)
{
    memset(m, 0, sizeof(*m));
}

void ipd_strmap_clear(ipd_strmap_t *m)
{
    for (size_t b = 0; b < m->nbuckets && m->count > 0; b++) {
        ipd_strmap_entry_t *e = m->buckets[b];
        while (e != NULL) {
            ipd_strmap_entry_t *next = e->next;
            free(e);
            m->count--;
            e = next;
        }
        m->buckets[b] = NULL;
    }
}

void ipd_strmap_dispose(ipd_strmap_t *m)
{
    ipd_strmap_clear(m);
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static ipd_strmap_entry_t **find(const ipd_strmap_t *m, const char *key, size_t h)
{
    if (m->nbuckets == 0)
        return NULL;
    ipd_strmap_entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp != NULL && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

void *ipd_strmap_get_hashed(const ipd_strmap_t *m, const char *key, size_t hash)
{
    ipd_strmap_entry_t **pp = find(m, key, hash);
    return pp != NULL && *pp != NULL ? (*pp)->value : NULL;
}

void *ipd_strmap_get(const ipd_strmap_t *m, const char *key)
{
    return ipd_strmap_get_hashed(m, key, ipd_strmap_hash(key));
}

static int grow(ipd_strmap_t *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    ipd_strmap_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        ipd_strmap_entry_t *e = m->buckets[i];
        while (e != NULL) {
            ipd_strmap_entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

int ipd_strmap_put(ipd_strmap_t *m, const char *key, void *value)
{
    return ipd_strmap_put_hashed(m, key, ipd_strmap_hash(key), value);
}

int ipd_strmap_put_hashed(ipd_strmap_t *m, const char *key, size_t h, void *value)
{
    ipd_strmap_entry_t **pp = find(m, key, h);
    if (pp != NULL && *pp != NULL) {
        (*pp)->value = value;
        return 0;
    }
    if (m->count >= m->nbuckets && grow(m) != 0)
        return -ENOMEM;
    size_t len = strlen(key);
    ipd_strmap_entry_t *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return -ENOMEM;
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->value = value;
    pp = &m->buckets[h & (m->nbuckets - 1)];
    e->next = *pp;
    *pp = e;
    m->count++;
    return 0;
}

void *ipd_strmap_del(ipd_strmap_t *m, const char *key)
{
    ipd_strmap_entry_t **pp = find(m, key, ipd_strmap_hash(key));
    if (pp == NULL || *pp == NULL)
        return NULL;
    ipd_strmap_entry_t *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

ipd_strmap_entry_t *ipd_strmap_next(const ipd_strmap_t *m, size_t *bucket, ipd_strmap_entry_t *prev)
{
    if (prev != NULL && prev->next != NULL)
        return prev->next;
    for (size_t b = prev != NULL ? *bucket + 1 : *bucket; b < m->nbuckets; b++) {
        if (m->buckets[b] != NULL) {
            *bucket = b;
            return m->buckets[b];
        }
    }
    *bucket = m->nbuckets;
    return NULL;
}
