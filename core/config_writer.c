/*
 * The two writers that walk the configuration table: the Markdown reference
 * (docs/CONFIGURATION.md, `mcsqueal check-config --reference`) and the
 * effective configuration as a loadable INI file (`check-config --print`),
 * which never shows the password or kafka.* values that look secret.
 */
#include "core/config_private.h"
#include "mcsqueal/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define LINE_MAX_TEXT STRINGIFY(CONFIG_LINE_MAX)

static int finish_output(FILE *out)
{
    return fflush(out) == 0 && !ferror(out) ? MCSQ_OK : MCSQ_ERR_IO;
}

/* Writes text for a Markdown table cell ('|' escaped). */
static void md_cell(FILE *out, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '|')
            fputc('\\', out);
        fputc(*p == '\n' ? ' ' : *p, out);
    }
}

static void write_range(FILE *out, const mcsq_config_row *row)
{
    char lo[32], hi[32];
    if (row->type == MCSQ_CONF_SIZE) {
        config_value_size_format(row->min, lo, sizeof(lo));
        config_value_size_format(row->max, hi, sizeof(hi));
        fprintf(out, "%s..%s", lo, hi);
    } else {
        fprintf(out, "%lld..%lld%s", (long long)row->min, (long long)row->max,
                row->type == MCSQ_CONF_DURATION ? " ms" : "");
    }
}

static void write_string_limits(FILE *out, const mcsq_config_row *row)
{
    const char *sep = row->allowed_doc ? "; " : "";
    if (row->min > 0 && row->max > 0)
        fprintf(out, "%s%lld..%lld bytes", sep, (long long)row->min, (long long)row->max);
    else if (row->max > 0)
        fprintf(out, "%sat most %lld bytes", sep, (long long)row->max);
    else if (row->min > 0)
        fprintf(out, "%snot empty", sep);
}

static void write_allowed(FILE *out, const mcsq_config_row *row)
{
    if (row->allowed_doc != NULL)
        md_cell(out, row->allowed_doc);
    switch (row->type) {
    case MCSQ_CONF_INT:
    case MCSQ_CONF_DURATION:
    case MCSQ_CONF_SIZE:
        write_range(out, row);
        break;
    case MCSQ_CONF_STRING:
        write_string_limits(out, row);
        break;
    case MCSQ_CONF_ENUM:
        for (size_t i = 0; row->words[i] != NULL; i++)
            fprintf(out, "%s`%s`", i ? ", " : "", row->words[i]);
        break;
    case MCSQ_CONF_BOOL:
        fputs("`true`, `false`", out);
        break;
    case MCSQ_CONF_HOSTPORT:
        fputs(row->min > 0 ? "`host:port`" : "`host:port` or empty", out);
        break;
    case MCSQ_CONF_HOSTPORT_LIST:
        fprintf(out, "%lld..%lld entries", (long long)row->min, (long long)row->max);
        break;
    default:
        break;
    }
}

static void write_default(FILE *out, const mcsq_config_row *row)
{
    if (row->def == NULL)
        md_cell(out, row->def_doc ? row->def_doc : "none");
    else if (row->def[0] == '\0')
        fputs("empty", out);
    else
        fprintf(out, "`%s`", row->def);
}

static void write_reference_row(FILE *out, const mcsq_config_row *row)
{
    fprintf(out, "| `%s` | %s | ", row->name, config_value_type_name(row->type));
    write_default(out, row);
    fputs(" | ", out);
    write_allowed(out, row);
    fputs(" | ", out);
    md_cell(out, row->desc);
    fputs(" |\n", out);
}

static void write_reference_section(FILE *out, const mcsq_config_section *sec)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    fprintf(out, "\n## [%s%s]\n\n%s\n\n", sec->name, sec->named ? " NAME" : "", sec->desc);
    fputs("| Key | Type | Default | Allowed | Description |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, sec->name) == 0)
            write_reference_row(out, &rows[i]);
    }
}

static void write_reference_intro(FILE *out)
{
    fputs("# Configuration reference\n\n"
          "<!-- Generated from core/config_table.c by `mcsqueal check-config --reference`; "
          "do not edit. -->\n\n"
          "Every mcsqueal command reads one INI file, named with `--config FILE`. "
          "`mcsqueal check-config --config FILE` validates a file: it prints `FILE: ok`, or "
          "every problem as `FILE:LINE: message` and exits 2. Add `--print` to see the "
          "effective configuration, defaults filled in.\n\n"
          "- `[section]` headers and `key = value` lines; every key has a default unless it "
          "says otherwise.\n"
          "- Comments: lines starting with `;` or `#`, and the rest of a line from a `;` "
          "that follows whitespace.\n"
          "- Unknown sections and keys are errors, and so are a key or a section given "
          "twice.\n"
          "- Values are not quoted; whitespace around them is removed.\n"
          "- A line holds at most " LINE_MAX_TEXT
          " bytes. A list value continues on the following lines "
          "when they are indented, so do not indent keys.\n"
          "- `examples/mcsqueal.ini` is a sample with every key, commented out at its "
          "default.\n\n"
          "| Type | Syntax |\n| --- | --- |\n",
          out);
    for (int t = 0; t < MCSQ_CONF_NTYPES; t++)
        fprintf(out, "| %s | %s |\n", config_value_type_name(t), config_value_type_syntax(t));
}

int mcsq_config_write_reference(FILE *out)
{
    size_t n;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    write_reference_intro(out);
    for (size_t i = 0; i < n; i++)
        write_reference_section(out, &secs[i]);
    return finish_output(out);
}

/* kafka.* values whose names look like secrets are not printed. */
static bool prop_is_secret(const char *name)
{
    static const char *const words[] = {"password", "secret", ".pem", "oauthbearer.config",
                                        "ssl_key"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strstr(name, words[i]) != NULL)
            return true;
    }
    return false;
}

const char *mcsq_config_prop_printed_value(const char *prop, const char *value)
{
    return prop_is_secret(prop) ? "<hidden>" : value;
}

static void write_props(FILE *out, const mcsq_config_row *row, const mcsq_config_props *props)
{
    int prefix = (int)strlen(row->name) - 1;
    for (size_t i = 0; i < props->n; i++)
        fprintf(out, "%.*s%s = %s\n", prefix, row->name, props->v[i].name,
                mcsq_config_prop_printed_value(props->v[i].name, props->v[i].value));
}

/* Where a password came from (the password itself is never written). */
static void write_password_note(FILE *out, const char *what, const char *password,
                                const char *file_key, const char *file, const char *env)
{
    if (password == NULL)
        fprintf(out, "; %s: none\n", what);
    else if (file[0] != '\0')
        fprintf(out, "; %s: read from %s (hidden)\n", what, file_key);
    else
        fprintf(out, "; %s: from %s (hidden)\n", what, env);
}

static bool value_is_empty(const mcsq_config_row *row, const void *field)
{
    switch (row->type) {
    case MCSQ_CONF_STRING:
        return **(char *const *)field == '\0';
    case MCSQ_CONF_HOSTPORT:
        return ((const mcsq_hostport *)field)->host == NULL;
    case MCSQ_CONF_HOSTPORT_LIST:
        return ((const mcsq_hostport_list *)field)->n == 0;
    default:
        return false;
    }
}

/* Writes "name = value". A server list that would not fit on one line
 * (CONFIG_LINE_MAX, which the reader enforces) is written one server per
 * indented continuation line, so that what is printed always loads again. */
static void write_value(FILE *out, const mcsq_config_row *row, const void *field)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem != NULL) {
        config_value_format(row, field, mem);
        if (fclose(mem) != 0) {
            free(text);
            text = NULL;
        }
    }
    if (text == NULL) { /* out of memory: write it directly, as before */
        fprintf(out, "%s =%s", row->name, value_is_empty(row, field) ? "" : " ");
        config_value_format(row, field, out);
        fputc('\n', out);
        return;
    }
    bool wrap = row->type == MCSQ_CONF_HOSTPORT_LIST &&
                strlen(row->name) + strlen(" = ") + len > CONFIG_LINE_MAX;
    if (wrap) { /* entries never contain spaces: each goes on its own line */
        fprintf(out, "%s =", row->name);
        for (char *save = NULL, *tok = strtok_r(text, " ", &save); tok != NULL;
             tok = strtok_r(NULL, " ", &save))
            fprintf(out, "\n %s", tok);
        fputc('\n', out);
    } else {
        fprintf(out, "%s =%s%s\n", row->name, value_is_empty(row, field) ? "" : " ", text);
    }
    free(text);
}

static void write_section_values(FILE *out, const char *section, const void *base)
{
    size_t n;
    const mcsq_config_row *rows = mcsq_config_table(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].section, section) != 0)
            continue;
        if (rows[i].type == MCSQ_CONF_PROPS) {
            write_props(out, &rows[i], config_row_cfield(&rows[i], base));
            continue;
        }
        write_value(out, &rows[i], config_row_cfield(&rows[i], base));
    }
}

int mcsq_config_write(const mcsq_config *cfg, FILE *out)
{
    size_t n;
    const mcsq_config_section *secs = mcsq_config_sections(&n);
    fprintf(out, "; effective configuration of %s\n", cfg->path ? cfg->path : "(defaults)");
    for (size_t i = 0; i < n; i++) {
        if (secs[i].named) {
            for (size_t p = 0; p < cfg->npools; p++) {
                fprintf(out, "\n[%s %s]\n", secs[i].name, cfg->pools[p].name);
                write_section_values(out, secs[i].name, &cfg->pools[p]);
            }
            continue;
        }
        fprintf(out, "\n[%s]\n", secs[i].name);
        write_section_values(out, secs[i].name, cfg);
        if (strcmp(secs[i].name, "mysql") == 0)
            write_password_note(out, "password", cfg->mysql.password, "password_file",
                                cfg->mysql.password_file, MCSQ_CONFIG_PASSWORD_ENV);
        if (strcmp(secs[i].name, "bus") == 0)
            write_password_note(out, "sasl password", cfg->bus.sasl_password, "sasl_password_file",
                                cfg->bus.sasl_password_file, MCSQ_CONFIG_KAFKA_PASSWORD_ENV);
    }
    return finish_output(out);
}
