#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("imgpulld %s\n", IPD_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: imgpulld -c FILE [--check-config] | --version\n");
    return 2;
}
