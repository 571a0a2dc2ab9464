#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/instance.h"
#include "proto/error.h"
#include "shared/shm.h"

static char instance[64];

static void new_instance(void)
{
    ipd_test_instance(instance, sizeof(instance), "shm");
}

static void drop_instance(void)
{
    ipd_shm_unlink_all(instance, IPD_SHM_TABLE);
    ipd_shm_unlink_all(instance, IPD_SHM_STATS);
}

TestSuite(shm, .init = new_instance, .fini = drop_instance, .timeout = 30);

/* Plants an object at `name` (a name of the daemon's form), then gives it to `uid` with `mode`. */
static void plant(const char *name, uid_t uid, mode_t mode)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0, "shm_open %s: %s", name, strerror(errno));
    cr_assert_eq(ftruncate(fd, 4096), 0);
    cr_assert_eq(fchown(fd, uid, (gid_t)-1), 0, "fchown: %s", strerror(errno));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

Test(shm, a_created_object_is_found_mapped_and_removed)
{
    ipd_shm_t w, r;
    char names[4][IPD_SHM_NAME_SIZE], prefix[IPD_SHM_NAME_SIZE];
    cr_assert_eq(ipd_shm_find(instance, IPD_SHM_TABLE, names, 4), 0);
    cr_assert_eq(ipd_shm_create(instance, IPD_SHM_TABLE, 8192, (gid_t)-1, &w), 0);
    snprintf(prefix, sizeof(prefix), "/imgpulld.%s@table-", instance);
    cr_expect_eq(strncmp(w.name, prefix, strlen(prefix)), 0, "%s", w.name);
    cr_expect_eq(strlen(w.name), strlen(prefix) + 16);
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_STATS, names, 4), 0, "kinds do not mix");
    cr_assert_eq(ipd_shm_find(instance, IPD_SHM_TABLE, names, 4), 1);
    cr_expect_str_eq(names[0], w.name);
    ((char *)w.base)[100] = 'x';
    cr_assert_eq(ipd_shm_open(names[0], 0, (gid_t)-2, 64, &r), 0);
    cr_expect_eq(r.size, 8192);
    cr_expect_eq(((const char *)r.base)[100], 'x', "both map one object");
    cr_expect_eq(ipd_shm_open(names[0], 0, (gid_t)-2, 16384, &r), IPD_ECORRUPT, "smaller than asked");
    ipd_shm_unmap(&r);
    ipd_shm_unmap(&w);
    cr_expect_null(w.base);
    cr_expect_eq(ipd_shm_unlink_all(instance, IPD_SHM_TABLE), 1);
    char left[1][IPD_SHM_NAME_SIZE];
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_TABLE, left, 1), 0);
    cr_expect_eq(ipd_shm_open(names[0], 0, (gid_t)-2, 0, &r), -ENOENT);
}

Test(shm, two_creations_get_two_names_newest_found_first)
{
    ipd_shm_t a, b;
    char names[4][IPD_SHM_NAME_SIZE];
    cr_assert_eq(ipd_shm_create(instance, IPD_SHM_STATS, 4096, (gid_t)-1, &a), 0);
    usleep(20000);
    cr_assert_eq(ipd_shm_create(instance, IPD_SHM_STATS, 4096, (gid_t)-1, &b), 0);
    cr_expect_str_neq(a.name, b.name);
    cr_assert_eq(ipd_shm_find(instance, IPD_SHM_STATS, names, 4), 2);
    cr_expect_str_eq(names[0], b.name);
    cr_expect_str_eq(names[1], a.name);
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_STATS, names, 1), 2, "the count says when there are more");
    ipd_shm_unmap(&a);
    ipd_shm_unmap(&b);
    cr_expect_eq(ipd_shm_unlink_all(instance, IPD_SHM_STATS), 2);
}

Test(shm, objects_of_another_user_or_open_to_others_are_neither_used_nor_removed)
{
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() != 0 || nobody == NULL)
        cr_skip_test("needs root to give an object to the user nobody");
    char other[IPD_SHM_NAME_SIZE], open_to_all[IPD_SHM_NAME_SIZE], names[4][IPD_SHM_NAME_SIZE];
    cr_assert_eq(ipd_shm_name(instance, IPD_SHM_TABLE, 1, other, sizeof(other)), 0);
    cr_assert_eq(ipd_shm_name(instance, IPD_SHM_TABLE, 2, open_to_all, sizeof(open_to_all)), 0);
    plant(other, nobody->pw_uid, 0644);
    plant(open_to_all, geteuid(), 0666);
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_TABLE, names, 4), 0);
    ipd_shm_t m;
    cr_expect_eq(ipd_shm_open(other, 0, (gid_t)-2, 0, &m), -EPERM);
    cr_expect_eq(ipd_shm_open(open_to_all, 0, (gid_t)-2, 0, &m), -EPERM);
    cr_assert_eq(ipd_shm_create(instance, IPD_SHM_TABLE, 4096, (gid_t)-1, &m), 0, "creation is not blocked");
    ipd_shm_unmap(&m);
    cr_expect_eq(ipd_shm_unlink_all(instance, IPD_SHM_TABLE), 1, "only this user's own object goes");
    struct stat st;
    char path[IPD_SHM_NAME_SIZE + 16];
    snprintf(path, sizeof(path), "/dev/shm%s", other);
    cr_expect_eq(stat(path, &st), 0, "another user's object stays");
    snprintf(path, sizeof(path), "/dev/shm%s", open_to_all);
    cr_expect_eq(stat(path, &st), 0, "an object open to all stays");
    shm_unlink(other);
    shm_unlink(open_to_all);
}

Test(shm, a_link_at_a_name_is_not_followed)
{
    char name[IPD_SHM_NAME_SIZE], path[IPD_SHM_NAME_SIZE + 16], target[IPD_SHM_NAME_SIZE + 16],
        names[2][IPD_SHM_NAME_SIZE];
    ipd_shm_t m;
    cr_assert_eq(ipd_shm_create(instance, IPD_SHM_STATS, 4096, (gid_t)-1, &m), 0);
    snprintf(target, sizeof(target), "/dev/shm%s", m.name);
    cr_assert_eq(ipd_shm_name(instance, IPD_SHM_TABLE, 3, name, sizeof(name)), 0);
    snprintf(path, sizeof(path), "/dev/shm%s", name);
    cr_assert_eq(symlink(target, path), 0);
    cr_expect_eq(ipd_shm_find(instance, IPD_SHM_TABLE, names, 2), 0);
    ipd_shm_t r;
    cr_expect_neq(ipd_shm_open(name, 0, (gid_t)-2, 0, &r), 0);
    unlink(path);
    ipd_shm_unmap(&m);
}

Test(shm, names_are_checked)
{
    char name[IPD_SHM_NAME_SIZE];
    ipd_shm_t m;
    cr_expect_eq(ipd_shm_name("a/b", IPD_SHM_TABLE, 1, name, sizeof(name)), IPD_EINVAL);
    cr_expect_eq(ipd_shm_name("a@b", IPD_SHM_TABLE, 1, name, sizeof(name)), IPD_EINVAL);
    cr_expect_eq(ipd_shm_name("a", "", 1, name, sizeof(name)), IPD_EINVAL);
    cr_expect_eq(ipd_shm_create("..", IPD_SHM_TABLE, 4096, (gid_t)-1, &m), IPD_EINVAL);
    cr_expect_eq(ipd_shm_create(instance, IPD_SHM_TABLE, 0, (gid_t)-1, &m), IPD_EINVAL);
}
