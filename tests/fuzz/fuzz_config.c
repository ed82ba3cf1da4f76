/*
 * libFuzzer target for the configuration loader (core/config*.c): the input
 * is an INI file, written to <tmp>/fuzz.ini (tmpfs when /dev/shm exists) and
 * loaded with mcsq_config_load(): defaults, the INI reader, values,
 * validation. Checks: the result is 0, MCSQ_ERR_CONFIG with at least one
 * error naming the file, or MCSQ_ERR_NOMEM; a configuration that loaded is
 * written back with mcsq_config_write() (what `check-config` prints), and
 * that output loads again and writes out the same (the header line, which
 * names the file, aside).
 */
#include "core/config.h"

#include "core/log.h"
#include "mcsqueal/error.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char in_path[96];
static char out_path[96];

static void cleanup(void)
{
    unlink(in_path);
    unlink(out_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/mcsq-fuzz-config-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror(dir);
        exit(1);
    }
    snprintf(in_path, sizeof(in_path), "%s/fuzz.ini", dir);
    snprintf(out_path, sizeof(out_path), "%s/written.ini", dir);
    atexit(cleanup);
    unsetenv(MCSQ_CONFIG_PASSWORD_ENV);
    log_open("/dev/null");
    return 0;
}

/* Loads path; aborts on a result the contract does not allow. */
static int load(mcsq_config *cfg, const char *path)
{
    mcsq_config_errors errs;
    mcsq_config_errors_init(&errs);
    int rc = mcsq_config_load(cfg, path, &errs);
    if (rc == MCSQ_ERR_CONFIG) {
        if (errs.n == 0 && errs.dropped == 0)
            abort();
        for (size_t i = 0; i < errs.n; i++) {
            if (errs.v[i].line < 0 || strncmp(errs.v[i].text, path, strlen(path)) != 0)
                abort();
        }
    } else if (rc != MCSQ_OK && rc != MCSQ_ERR_NOMEM) {
        abort();
    }
    mcsq_config_errors_deinit(&errs);
    return rc;
}

/* Writes cfg to out_path; returns the output without its first line (the
 * caller frees it). */
static char *write_body(const mcsq_config *cfg)
{
    FILE *f = fopen(out_path, "w");
    if (f == NULL || mcsq_config_write(cfg, f) != MCSQ_OK)
        abort();
    long len = ftell(f);
    fclose(f);
    char *text = malloc((size_t)len + 1);
    f = fopen(out_path, "r");
    if (text == NULL || f == NULL || fread(text, 1, (size_t)len, f) != (size_t)len)
        abort();
    fclose(f);
    text[len] = '\0';
    char *nl = strchr(text, '\n');
    if (nl == NULL)
        abort();
    memmove(text, nl + 1, strlen(nl + 1) + 1);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
        abort(); /* the harness, not the code under test */
    mcsq_config cfg;
    if (load(&cfg, in_path) != MCSQ_OK)
        return 0;
    char *first = write_body(&cfg);
    mcsq_config_deinit(&cfg);
    mcsq_config again;
    if (load(&again, out_path) != MCSQ_OK)
        abort(); /* what check-config prints must load */
    char *second = write_body(&again);
    mcsq_config_deinit(&again);
    if (strcmp(first, second) != 0)
        abort();
    free(first);
    free(second);
    return 0;
}
