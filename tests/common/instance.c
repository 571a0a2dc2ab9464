#include "common/instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *ipd_test_instance_prefix(void)
{
    const char *p = getenv("IPD_TEST_INSTANCE_PREFIX");
    return p != NULL && p[0] != '\0' ? p : "t";
}

void ipd_test_instance(char *out, size_t cap, const char *tag)
{
    snprintf(out, cap, "%s%d-%s", ipd_test_instance_prefix(), (int)getpid(), tag);
}
