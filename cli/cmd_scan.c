/*
 * `mcsqueal scan FILE...`: decodes binlog files offline and prints one JSON
 * line per committed transaction (also those without keys). On damaged
 * input it first prints every transaction fully read before the damage,
 * then exits 1 with a message naming the file and byte offset.
 */
#include "bus/bus_message.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/strbuf.h"
#include "mcsqueal/error.h"
#include "mcsqueal/scan.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_AT (256 * 1024)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mcsqueal scan [options] FILE...\n\n"
            "Decodes MySQL/MariaDB binlog files offline, read in order as one stream, and\n"
            "prints one JSON line per committed transaction: gtid, pos, commit_us, read_us,\n"
            "keys, markers (when any), file, end_pos.\n\n"
            "Options:\n"
            "  -c, --config FILE       take the region from this configuration file\n"
            "  -r, --region NAME       region whose @marker directives fill \"markers\"\n"
            "      --no-verify-checksum  do not verify CRC32 event checksums\n"
            "  -e, --events            list every event instead of transactions: one JSON\n"
            "                          line each with file, pos, end_pos, type, inner, and\n"
            "                          the gtid or statement text where the event has one\n"
            "  -s, --stats             print event/transaction/key counts to stderr at the end\n"
            "  -h, --help              show this help\n\n"
            "Exit codes: 0 all files read, 1 damaged or unreadable input, 2 usage error.\n");
}

static int flush(strbuf *sb)
{
    if (sb->len > 0 && fwrite(sb->buf, 1, sb->len, stdout) != sb->len)
        return -1;
    sb->len = 0;
    return 0;
}

static void print_stats(const mcsq_scan *scan)
{
    mcsq_scan_stats st;
    mcsq_scan_get_stats(scan, &st);
    fprintf(stderr,
            "events=%" PRIu64 " unknown_events=%" PRIu64 " transactions=%" PRIu64 " keys=%" PRIu64
            " keys_rejected=%" PRIu64 " incidents=%" PRIu64 "\n",
            st.events, st.events_unknown, st.transactions, st.keys, st.keys_rejected, st.incidents);
}

typedef struct event_listing {
    strbuf *out;
} event_listing;

static void list_event(void *ctx, const mcsq_event *ev)
{
    strbuf *out = ((event_listing *)ctx)->out;
    strbuf_lit(out, "{\"file\":");
    strbuf_append_json_string(out, ev->file, strlen(ev->file));
    strbuf_lit(out, ",\"pos\":");
    strbuf_append_u64(out, ev->pos);
    strbuf_lit(out, ",\"end_pos\":");
    strbuf_append_u64(out, ev->end_pos);
    strbuf_lit(out, ",\"type\":");
    strbuf_append_json_string(out, ev->type_name, strlen(ev->type_name));
    strbuf_lit(out, ",\"type_code\":");
    strbuf_append_u64(out, ev->type);
    if (ev->inner)
        strbuf_lit(out, ",\"inner\":true");
    if (ev->gtid != NULL) {
        strbuf_lit(out, ",\"gtid\":");
        strbuf_append_json_string(out, ev->gtid, strlen(ev->gtid));
    }
    if (ev->text != NULL) {
        strbuf_lit(out, ",\"text\":");
        strbuf_append_json_text(out, ev->text, ev->text_len);
    }
    strbuf_lit(out, "}\n");
    if (out->len >= FLUSH_AT)
        (void)flush(out);
}

static int scan_files(char **paths, size_t n, mcsq_scan_options *opt, int want_stats,
                      int list_events)
{
    char err[1024];
    strbuf out;
    strbuf_init(&out);
    event_listing listing = {&out};
    if (list_events) {
        opt->on_event = list_event;
        opt->event_ctx = &listing;
    }
    mcsq_scan *scan;
    if (mcsq_scan_new(&scan, (const char *const *)paths, n, opt, err, sizeof(err)) != MCSQ_OK) {
        fprintf(stderr, "mcsqueal scan: %s\n", err);
        strbuf_deinit(&out);
        return EXIT_RUNTIME;
    }
    const mcsq_txn *txn;
    int rc;
    while ((rc = mcsq_scan_next(scan, &txn, err, sizeof(err))) == MCSQ_OK) {
        if (!list_events) {
            bus_message_write_txn(&out, txn, strlen(txn->gtid), strlen(txn->file), true);
            strbuf_putc(&out, '\n');
        }
        if (out.len >= FLUSH_AT && flush(&out) != 0)
            break;
    }
    int write_failed = flush(&out) != 0 || fflush(stdout) != 0 || out.nomem;
    if (want_stats)
        print_stats(scan);
    mcsq_scan_destroy(scan);
    strbuf_deinit(&out);
    if (write_failed) {
        fprintf(stderr, "mcsqueal scan: cannot write the output\n");
        return EXIT_RUNTIME;
    }
    if (rc != MCSQ_ERR_EOF) {
        fprintf(stderr, "mcsqueal scan: %s\n", err);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* Regular files are mapped: one that shrinks while it is read (truncated
 * under the scan) raises SIGBUS. Say so plainly instead of crashing. */
static void on_sigbus(int sig)
{
    static const char msg[] = "mcsqueal scan: a binlog file shrank while it was being read "
                              "(truncated by another process?); output may be incomplete\n";
    (void)sig;
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    _exit(EXIT_RUNTIME);
}

static void guard_truncation(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static int region_from_config(const char *path, char *region, size_t size)
{
    mcsq_config cfg;
    if (command_load_config(&cfg, path) != EXIT_OK)
        return -1;
    snprintf(region, size, "%s", cfg.mcsqueal.region);
    mcsq_config_deinit(&cfg);
    return 0;
}

int cmd_scan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"region", required_argument, NULL, 'r'},
        {"no-verify-checksum", no_argument, NULL, 'n'},
        {"stats", no_argument, NULL, 's'},
        {"events", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mcsq_scan_options opt = {NULL, 1, NULL, NULL};
    const char *config = NULL;
    int want_stats = 0, list_events = 0, c;
    char region[128] = "";
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:seh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            snprintf(region, sizeof(region), "%s", optarg);
            break;
        case 'n':
            opt.verify_checksums = 0;
            break;
        case 's':
            want_stats = 1;
            break;
        case 'e':
            list_events = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "mcsqueal scan: no binlog file given\n\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (config != NULL && region[0] == '\0' &&
        region_from_config(config, region, sizeof(region)) != 0)
        return EXIT_USAGE;
    opt.region = region[0] ? region : NULL;
    guard_truncation();
    return scan_files(argv + optind, (size_t)(argc - optind), &opt, want_stats, list_events);
}
