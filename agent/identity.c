/* SPDX-License-Identifier: MIT */
#include "identity.h"

#include <ctype.h>

static char *read_trimmed(const char *path)
{
        char buf[256];

        if (fl_read_line(path, buf, sizeof(buf)) < 0)
                return NULL;
        size_t n = strlen(buf);
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
                buf[--n] = '\0';
        return n > 0 ? fl_strdup(buf) : NULL;
}

static char *os_pretty_name(const char *rootfs)
{
        _cleanup_free_ char *path = fl_asprintf("%s/etc/os-release", rootfs);
        _cleanup_free_ char *text = NULL;

        if (fl_read_file(path, 64 * 1024, &text, NULL) < 0)
                return NULL;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (!fl_startswith(line, "PRETTY_NAME="))
                        continue;
                char *v = line + strlen("PRETTY_NAME=");
                size_t n = strlen(v);
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                        v[n - 1] = '\0';
                        v++;
                }
                return fl_strdup(v);
        }
        return NULL;
}

/* Node keys use the host name as scope; refuse characters that would make
 * a key ambiguous. */
static bool valid_hostname(const char *h)
{
        if (!h || !*h || strlen(h) > 253)
                return false;
        for (; *h; h++)
                if (!(isalnum((unsigned char)*h) || *h == '-' || *h == '.' || *h == '_'))
                        return false;
        return true;
}

int fl_identity_read(const char *hostname_override, const char *rootfs, const char *procfs, const char *sysfs,
                     struct fl_identity *ret)
{
        struct fl_identity id = { 0 };
        _cleanup_free_ char *p = NULL;

        if (hostname_override)
                id.hostname = fl_strdup(hostname_override);
        else {
                p = fl_asprintf("%s/sys/kernel/hostname", procfs);
                id.hostname = read_trimmed(p);
                if (!id.hostname) {
                        char buf[256] = "";
                        if (gethostname(buf, sizeof(buf) - 1) == 0)
                                id.hostname = fl_strdup(buf);
                }
        }
        if (!valid_hostname(id.hostname)) {
                fl_identity_free(&id);
                return -EINVAL;
        }
        free(p);
        p = fl_asprintf("%s/etc/machine-id", rootfs);
        id.machine_id = read_trimmed(p);
        free(p);
        p = fl_asprintf("%s/class/dmi/id/product_uuid", sysfs);
        id.product_uuid = read_trimmed(p);
        if (id.product_uuid)
                for (char *c = id.product_uuid; *c; c++)
                        *c = (char)tolower((unsigned char)*c);
        free(p);
        p = fl_asprintf("%s/sys/kernel/osrelease", procfs);
        id.kernel = read_trimmed(p);
        id.os = os_pretty_name(rootfs);
        *ret = id;
        return 0;
}

void fl_identity_emit(const struct fl_identity *id, struct fl_emit *e)
{
        _cleanup_free_ char *key = fl_asprintf("host:%s", id->hostname);
        struct fl_enode *n = fl_emit_node(e, key, "host");

        fl_emit_attr(n, "hostname", id->hostname);
        if (id->machine_id)
                fl_emit_attr(n, "machine_id", id->machine_id);
        if (id->product_uuid)
                fl_emit_attr(n, "product_uuid", id->product_uuid);
        if (id->kernel)
                fl_emit_attr(n, "kernel", id->kernel);
        if (id->os)
                fl_emit_attr(n, "os", id->os);
        fl_emit_attr(n, "agent_version", FL_VERSION);
}

void fl_identity_free(struct fl_identity *id)
{
        free(id->hostname);
        free(id->machine_id);
        free(id->product_uuid);
        free(id->kernel);
        free(id->os);
        *id = (struct fl_identity){ 0 };
}
