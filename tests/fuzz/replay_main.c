/*
 * Replay driver for the fuzz targets when libFuzzer is not available: feeds
 * each file named on the command line, or each regular file of each
 * directory named (in name order), once to LLVMFuzzerTestOneInput(). A
 * crash or an abort() in the target fails the run as it would under
 * libFuzzer; arguments starting with '-' (libFuzzer flags) are ignored.
 * Exits 0 after the last input; 1 when an input cannot be read or there was
 * none (an emptied corpus must not pass unnoticed).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs one file; returns 0 or -1 (reported) when it cannot be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        perror(path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, so that an over-read is caught by ASan. */
    uint8_t *data = malloc(len ? len : 1);
    if (data == NULL) {
        free(buf);
        return -1;
    }
    memcpy(data, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir in name order; returns the files run, or
 * -1 on a read error. */
static long run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, NULL);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    char **paths = calloc((size_t)n + 1, sizeof(char *));
    size_t np = 0;
    for (int i = 0; i < n; i++) {
        if (paths != NULL && names[i]->d_name[0] != '.' &&
            asprintf(&paths[np], "%s/%s", dir, names[i]->d_name) >= 0)
            np++;
        free(names[i]);
    }
    free(names);
    if (paths == NULL)
        return -1;
    qsort(paths, np, sizeof(char *), name_cmp);
    long run = 0;
    for (size_t i = 0; i < np; i++) {
        struct stat st;
        if (run >= 0 && stat(paths[i], &st) == 0 && S_ISREG(st.st_mode))
            run = run_file(paths[i]) == 0 ? run + 1 : -1;
        free(paths[i]);
    }
    free(paths);
    return run;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (argv[i][0] == '-')
            continue;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    return total > 0 ? 0 : 1;
}
