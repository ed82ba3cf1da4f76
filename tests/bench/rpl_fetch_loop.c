/*
 * rpl_fetch_loop: the raw binlog stream limit for the tail benchmark
 * (tests/bench/bench_tail.sh). A bare MariaDB Connector/C replica loop: it
 * connects, sets the session variables a replica sets
 * (@master_binlog_checksum, @mariadb_slave_capability), asks for the binlog
 * from a file and position with mariadb_rpl_open() (annotate rows on,
 * non-blocking dump so that the server ends the stream at the end of its
 * last binlog), and calls mariadb_rpl_fetch() until the stream ends, doing
 * nothing with the events but counting them. Should the server not honour
 * the non-blocking flag, it stops once an event reaches --end-file/--end-pos.
 * Prints key=value counts and the elapsed time on stdout.
 */
#include <mysql.h>

#include <mariadb_rpl.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILE_NAME_MAX 512

typedef struct loop_options {
    const char *host;
    unsigned port;
    const char *socket;
    const char *user;
    const char *password;
    const char *file;     /* binlog file to start in */
    unsigned long start;  /* position to start at */
    unsigned server_id;   /* replica id to register as */
    const char *end_file; /* NULL: rely on the non-blocking dump alone */
    uint64_t end_pos;
    int blocking; /* leave MARIADB_RPL_BINLOG_DUMP_NON_BLOCK off (needs --end-pos) */
} loop_options;

typedef struct loop_stats {
    uint64_t events;
    uint64_t bytes; /* event sizes as in the binlog (header, body, checksum) */
    uint64_t gtids; /* MariaDB GTID events: one per event group (transaction) */
    uint64_t xids;
    uint64_t commits; /* XID events plus COMMIT query events */
    uint64_t heartbeats;
    char file[FILE_NAME_MAX]; /* current file, from Rotate events */
    uint64_t pos;             /* end of the last event read in it */
} loop_stats;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rpl_fetch_loop: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: rpl_fetch_loop [options]\n\n"
            "Reads a server's binlog as a replica with mariadb_rpl_fetch() until its end and\n"
            "counts the events: the raw stream limit.\n\n"
            "  -h, --host HOST         server host (default 127.0.0.1)\n"
            "  -P, --port PORT         server port (default 3306)\n"
            "  -S, --socket PATH       Unix socket (instead of host/port)\n"
            "  -u, --user USER         user (default root; password from env MYSQL_PWD)\n"
            "  -f, --file NAME         binlog file to start in (default binlog.000001)\n"
            "  -p, --start POS         position to start at (default 4)\n"
            "  -i, --server-id N       replica server id (default 4243)\n"
            "  -e, --end-file NAME     with --end-pos: stop once an event of NAME ends at or\n"
            "  -E, --end-pos POS         after POS (if the non-blocking dump is not honoured)\n"
            "      --blocking          blocking dump (stops only at --end-file/--end-pos)\n"
            "      --help              show this help\n\n"
            "Prints events=, bytes=, transactions= (GTID events), commits= (XID events and\n"
            "COMMIT queries), heartbeats=, end=FILE:POS, seconds= (connect to last event),\n"
            "events_per_s=, txns_per_s= and mib_per_s= on stdout.\n"
            "Exit codes: 0 ok, 1 server or stream error, 2 usage error.\n");
}

static unsigned long long parse_num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "rpl_fetch_loop: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, loop_options *opt)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'P'},
        {"socket", required_argument, NULL, 'S'},
        {"user", required_argument, NULL, 'u'},
        {"file", required_argument, NULL, 'f'},
        {"start", required_argument, NULL, 'p'},
        {"server-id", required_argument, NULL, 'i'},
        {"end-file", required_argument, NULL, 'e'},
        {"end-pos", required_argument, NULL, 'E'},
        {"blocking", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h:P:S:u:f:p:i:e:E:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            opt->host = optarg;
            break;
        case 'P':
            opt->port = (unsigned)parse_num(optarg, "port");
            break;
        case 'S':
            opt->socket = optarg;
            break;
        case 'u':
            opt->user = optarg;
            break;
        case 'f':
            opt->file = optarg;
            break;
        case 'p':
            opt->start = (unsigned long)parse_num(optarg, "start position");
            break;
        case 'i':
            opt->server_id = (unsigned)parse_num(optarg, "server id");
            break;
        case 'e':
            opt->end_file = optarg;
            break;
        case 'E':
            opt->end_pos = parse_num(optarg, "end position");
            break;
        case 'B':
            opt->blocking = 1;
            break;
        case 'H':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc || opt->start < 4 || opt->server_id == 0 ||
        strlen(opt->file) >= FILE_NAME_MAX || (opt->end_file == NULL) != (opt->end_pos == 0) ||
        (opt->blocking && opt->end_file == NULL)) {
        usage(stderr);
        exit(2);
    }
}

static MYSQL *connect_server(const loop_options *opt)
{
    MYSQL *conn = mysql_init(NULL);
    if (conn == NULL)
        die("out of memory");
    if (mysql_real_connect(conn, opt->socket ? "localhost" : opt->host, opt->user, opt->password,
                           NULL, opt->port, opt->socket, 0) == NULL)
        die("cannot connect: %s", mysql_error(conn));
    /* What a replica sets: the dump thread then sends events with their
     * checksums, and a MariaDB server sends GTID and annotate events. */
    if (mysql_query(conn, "SET @master_binlog_checksum = @@global.binlog_checksum") != 0 ||
        mysql_query(conn, "SET @mariadb_slave_capability = 4") != 0)
        die("setting up the dump: %s", mysql_error(conn));
    return conn;
}

/* True when the event just read ends at or after --end-file/--end-pos. */
static int at_end(const loop_options *opt, const loop_stats *st)
{
    if (opt->end_file == NULL)
        return 0;
    int cmp = strcmp(st->file, opt->end_file);
    return cmp > 0 || (cmp == 0 && st->pos >= opt->end_pos);
}

static void count_event(loop_stats *st, const MARIADB_RPL_EVENT *ev)
{
    /* Fake events (Rotate at the start, the Format_description the server
     * resends) carry no position of their own; heartbeats are not binlog
     * content. Neither is counted as data. */
    if (ev->event_type == ROTATE_EVENT) {
        size_t n = ev->event.rotate.filename.length;
        if (n >= sizeof(st->file))
            n = sizeof(st->file) - 1;
        memcpy(st->file, ev->event.rotate.filename.str, n);
        st->file[n] = '\0';
        st->pos = ev->event.rotate.position;
    }
    if (ev->event_type == HEARTBEAT_LOG_EVENT) {
        st->heartbeats++;
        return;
    }
    st->events++;
    st->bytes += ev->event_length;
    if (ev->next_event_pos != 0)
        st->pos = ev->next_event_pos;
    switch (ev->event_type) {
    case GTID_EVENT:
        st->gtids++;
        break;
    case XID_EVENT:
        st->xids++;
        st->commits++;
        break;
    case QUERY_EVENT:
        if (ev->event.query.statement.length == 6 &&
            memcmp(ev->event.query.statement.str, "COMMIT", 6) == 0)
            st->commits++;
        break;
    default:
        break;
    }
}

int main(int argc, char **argv)
{
    loop_options opt = {
        .host = "127.0.0.1",
        .port = 3306,
        .user = "root",
        .file = "binlog.000001",
        .start = 4,
        .server_id = 4243,
    };
    opt.password = getenv("MYSQL_PWD");
    parse_args(argc, argv, &opt);

    static loop_stats st;
    snprintf(st.file, sizeof(st.file), "%s", opt.file);
    st.pos = opt.start;

    double t0 = now_seconds();
    MYSQL *conn = connect_server(&opt);
    MARIADB_RPL *rpl = mariadb_rpl_init(conn);
    if (rpl == NULL)
        die("mariadb_rpl_init: %s", mysql_error(conn));
    unsigned flags = MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS;
    if (!opt.blocking)
        flags |= MARIADB_RPL_BINLOG_DUMP_NON_BLOCK;
    if (mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, opt.server_id) != 0 ||
        mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, opt.file, strlen(opt.file)) != 0 ||
        mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, opt.start) != 0 ||
        mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, flags) != 0)
        die("mariadb_rpl_optionsv: %s", mariadb_rpl_error(rpl));
    if (mariadb_rpl_open(rpl) != 0)
        die("mariadb_rpl_open: %s", mysql_error(conn));

    /* mariadb_rpl_fetch() reuses the event passed in (its memory root is
     * reset, not freed), as a replica loop would; when it returns NULL (end
     * of stream or error) it has freed that event itself. */
    MARIADB_RPL_EVENT *ev = NULL;
    int reached_end = 0;
    for (;;) {
        ev = mariadb_rpl_fetch(rpl, ev);
        if (ev == NULL)
            break;
        count_event(&st, ev);
        if (at_end(&opt, &st)) {
            reached_end = 1;
            break;
        }
    }
    double secs = now_seconds() - t0;
    if (!reached_end && (mysql_errno(conn) != 0 || mariadb_rpl_errno(rpl) != 0))
        die("stream ended with an error after %" PRIu64 " events at %s:%" PRIu64 ": %s", st.events,
            st.file, st.pos, mysql_errno(conn) != 0 ? mysql_error(conn) : mariadb_rpl_error(rpl));
    if (!reached_end && opt.end_file != NULL)
        die("the stream ended at %s:%" PRIu64 ", before %s:%" PRIu64, st.file, st.pos, opt.end_file,
            opt.end_pos);
    if (secs <= 0)
        secs = 1e-9;
    printf("events=%" PRIu64 " bytes=%" PRIu64 " transactions=%" PRIu64 " commits=%" PRIu64
           " heartbeats=%" PRIu64 " end=%s:%" PRIu64 " seconds=%.6f events_per_s=%.0f"
           " txns_per_s=%.0f mib_per_s=%.1f\n",
           st.events, st.bytes, st.gtids, st.commits, st.heartbeats, st.file, st.pos, secs,
           (double)st.events / secs, (double)st.gtids / secs, (double)st.bytes / 1048576.0 / secs);
    if (ev != NULL)
        mariadb_free_rpl_event(ev);
    mariadb_rpl_close(rpl);
    mysql_close(conn);
    return 0;
}
