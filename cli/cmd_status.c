/*
 * `mcsqueal status`: a human summary of a running daemon, read from its
 * metrics endpoint ([metrics] listen of --config, or --url). Two scrapes
 * --interval seconds apart give rates and the latency of that interval.
 * A daemon that does not answer is reported as such, with exit code 1.
 */
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/status_report.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/http_get.h"
#include "core/prom_text.h"
#include "mcsqueal/error.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONFIG "/etc/mcsqueal/mcsqueal.ini"
#define TIMEOUT_MS 5000
#define MAX_BODY (64u << 20)
#define URL_MAX 600

static const char usage[] =
    "Usage: mcsqueal status [--config FILE | --url URL] [--interval SECONDS] [--ready]\n\n"
    "Prints a summary of a running mcsqueal daemon (run, tail or route) from its\n"
    "Prometheus endpoint: readiness, checkpoint position, binlog lag, invalidation lag\n"
    "and pipeline latency quantiles, rates, spool depth and errors.\n\n"
    "Options:\n"
    "  -c, --config FILE      read the endpoint from [metrics] listen of FILE\n"
    "                         (default /etc/mcsqueal/mcsqueal.ini)\n"
    "  -u, --url URL          the endpoint, e.g. http://127.0.0.1:9187/metrics\n"
    "  -i, --interval SECONDS time between the two scrapes that give rates\n"
    "                         (default 1; 0: one scrape, no rates)\n"
    "  -r, --ready            only ask whether the daemon is ready (GET /ready beside\n"
    "                         the metrics): prints \"ready\" or why not, for health checks\n"
    "  -h, --help             show this help\n\n"
    "Exit codes: 0 the daemon answered (--ready: it is ready), 1 it does not answer\n"
    "(not running, or no metrics endpoint; --ready: or it is not ready), 2 usage or\n"
    "configuration error.\n";

typedef struct status_opts {
    const char *config;
    const char *url;
    double interval;
    bool ready_only;
} status_opts;

static int parse_args(int argc, char **argv, status_opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"url", required_argument, NULL, 'u'},
        {"interval", required_argument, NULL, 'i'}, {"ready", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    *o = (status_opts){DEFAULT_CONFIG, NULL, 1.0, false};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:u:i:rh", longopts, NULL)) != -1) {
        if (ch == 'r')
            o->ready_only = true;
        else if (ch == 'c')
            o->config = optarg;
        else if (ch == 'u')
            o->url = optarg;
        else if (ch == 'i' && ((o->interval = strtod(optarg, &end)),
                               *end != '\0' || !(o->interval >= 0 && o->interval <= 3600)))
            return fprintf(stderr, "mcsqueal status: --interval takes 0 to 3600 seconds\n"),
                   EXIT_USAGE;
        else if (ch == 'h')
            return fputs(usage, stdout), EXIT_OK;
        else if (ch != 'i')
            return fputs(usage, stderr), EXIT_USAGE;
    }
    if (optind < argc)
        return fprintf(stderr, "mcsqueal status: unexpected argument '%s'\n\n%s", argv[optind],
                       usage),
               EXIT_USAGE;
    return -1;
}

/* The URL of [metrics] listen in the configuration; a wildcard listen
 * address is reached on loopback. */
static int url_from_config(const char *path, char *url, size_t size)
{
    mcsq_config cfg;
    if (command_load_config(&cfg, path) != EXIT_OK)
        return EXIT_USAGE;
    const mcsq_hostport *hp = &cfg.metrics.listen;
    int rc = -1;
    if (hp->host == NULL) {
        fprintf(stderr,
                "mcsqueal status: %s has no metrics endpoint ([metrics] listen is "
                "empty); use --url\n",
                path);
        rc = EXIT_USAGE;
    } else {
        const char *host = strcmp(hp->host, "0.0.0.0") == 0 ? "127.0.0.1"
                           : strcmp(hp->host, "::") == 0    ? "::1"
                                                            : hp->host;
        snprintf(url, size, strchr(host, ':') ? "http://[%s]:%d/metrics" : "http://%s:%d/metrics",
                 host, (int)hp->port);
    }
    mcsq_config_deinit(&cfg);
    return rc;
}

/* GETs and parses one scrape. Returns 0 or EXIT_RUNTIME after saying why. */
static int scrape(const char *url, prom_doc *doc, const char *when)
{
    char err[512];
    strbuf body;
    strbuf_init(&body);
    int rc = http_get(url, TIMEOUT_MS, MAX_BODY, &body, err, sizeof(err));
    if (rc == MCSQ_OK)
        rc = prom_text_parse(doc, body.buf ? body.buf : "", body.len, 0, err, sizeof(err));
    else
        memset(doc, 0, sizeof(*doc));
    strbuf_deinit(&body);
    if (rc == MCSQ_OK)
        return EXIT_OK;
    if (rc == MCSQ_ERR_CONNECT)
        printf("mcsqueal is not running at %s%s: %s\n", url, when, err);
    else
        printf("%s%s does not answer as an mcsqueal metrics endpoint: %s\n", url, when, err);
    return EXIT_RUNTIME;
}

/* The readiness URL beside the metrics URL: its last path segment
 * replaced by "ready" (http://host:port/metrics -> http://host:port/ready). */
static void ready_url(const char *url, char *out, size_t size)
{
    const char *scheme = strstr(url, "://");
    const char *path = strchr(scheme != NULL ? scheme + 3 : url, '/');
    const char *last = path != NULL ? strrchr(path, '/') : NULL;
    int keep = last != NULL ? (int)(last - url) : (int)strlen(url);
    snprintf(out, size, "%.*s/ready", keep, url);
}

/* GETs /ready: 1 ready, 0 not ready (reason filled), -1 no answer (why in
 * reason). */
static int ready_get(const char *url, char *reason, size_t size)
{
    char rurl[URL_MAX + 8];
    int status = 0;
    strbuf body;
    strbuf_init(&body);
    ready_url(url, rurl, sizeof(rurl));
    int rc = http_get_any(rurl, TIMEOUT_MS, 4096, &status, &body, reason, size);
    if (rc == MCSQ_OK) {
        int n = (int)strcspn(body.buf ? body.buf : "", "\r\n");
        snprintf(reason, size, "%.*s", n < (int)body.len ? n : (int)body.len,
                 body.buf ? body.buf : "");
        if (status != 200 && status != 503)
            snprintf(reason, size, "/ready answers HTTP %d (an mcsqueal older than /ready?)",
                     status);
    }
    strbuf_deinit(&body);
    return rc != MCSQ_OK ? -1 : status == 200 ? 1 : 0;
}

/* --ready: one line, exit 0 only when ready. */
static int ready_only(const char *url)
{
    char reason[512];
    int ready = ready_get(url, reason, sizeof(reason));
    if (ready < 0)
        printf("not running at %s: %s\n", url, reason);
    else
        printf("%s%s\n", ready ? "" : "not ready: ", reason);
    return ready > 0 ? EXIT_OK : EXIT_RUNTIME;
}

int cmd_status(int argc, char **argv)
{
    status_opts o;
    char url[URL_MAX];
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.url != NULL)
        snprintf(url, sizeof(url), "%s", o.url);
    else if ((rc = url_from_config(o.config, url, sizeof(url))) >= 0)
        return rc;
    if (o.ready_only)
        return ready_only(url);
    prom_doc before, now;
    if ((rc = scrape(url, o.interval > 0 ? &before : &now, "")) != EXIT_OK)
        return rc;
    double t0 = (double)clock_mono_us() / 1e6; /* the scrapes' ends are the interval of the rates */
    double dt = 0;
    if (o.interval > 0) {
        struct timespec ts = {(time_t)o.interval, (long)((o.interval - (time_t)o.interval) * 1e9)};
        nanosleep(&ts, NULL);
        rc = scrape(url, &now, " (it stopped answering between two scrapes)");
        dt = (double)clock_mono_us() / 1e6 - t0;
    }
    char reason[512];
    int ready = rc == EXIT_OK ? ready_get(url, reason, sizeof(reason)) : -1;
    if (rc == EXIT_OK)
        status_report(stdout, url, ready >= 0 ? reason : NULL, o.interval > 0 ? &before : NULL,
                      &now, dt);
    if (o.interval > 0)
        prom_doc_free(&before);
    prom_doc_free(&now);
    return rc;
}
