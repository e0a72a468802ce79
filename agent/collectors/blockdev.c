/* SPDX-License-Identifier: MIT */
#include "blockdev.h"

#include <limits.h>
#include <sys/stat.h>

#include "util.h"

const char *blockdev_kind_to_string(enum blockdev_kind k)
{
        switch (k) {
        case BLOCKDEV_DISK:
                return "disk";
        case BLOCKDEV_PARTITION:
                return "partition";
        case BLOCKDEV_RAID:
                return "raid";
        case BLOCKDEV_DM:
                return "dm";
        case BLOCKDEV_VIRTUAL:
                return "virtual";
        }
        return "virtual";
}

static bool exists(const char *dir, const char *entry)
{
        _cleanup_free_ char *p = fl_asprintf("%s/%s", dir, entry);
        struct stat st;
        return stat(p, &st) == 0;
}

static bool is_virtual_name(const char *n)
{
        static const char *const prefixes[] = { "loop", "ram", "zram", "nbd", "fd", "sr", "zd" };
        for (size_t i = 0; i < FL_ARRAY_SIZE(prefixes); i++)
                if (fl_startswith(n, prefixes[i]))
                        return true;
        return false;
}

static void trim(char *s)
{
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t'))
                s[--n] = '\0';
}

/* dir is the device's directory in sysfs (through the class/dev symlink). */
static int identify_dir(const char *dir, const char *kname, struct blockdev_id *ret)
{
        struct blockdev_id id = { 0 };
        char buf[256];
        _cleanup_free_ char *p = NULL;
        uint32_t maj, min;

        if (strlen(kname) >= sizeof(id.kname))
                return -ENAMETOOLONG;
        snprintf(id.kname, sizeof(id.kname), "%s", kname);
        snprintf(id.name, sizeof(id.name), "%s", kname);

        p = fl_asprintf("%s/dev", dir);
        if (fl_read_line(p, buf, sizeof(buf)) < 0)
                return -ENOENT;
        char *colon = strchr(buf, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        if (fl_safe_atou32(buf, &maj) < 0 || fl_safe_atou32(colon + 1, &min) < 0)
                return -EBADMSG;
        id.major = maj;
        id.minor = min;

        if (exists(dir, "partition")) {
                /* The parent disk is the directory above: its name is the
                 * last component of the resolved path's dirname. */
                char real[PATH_MAX];
                if (!realpath(dir, real))
                        return -errno;
                char *slash = strrchr(real, '/');
                if (!slash)
                        return -EINVAL;
                *slash = '\0';
                slash = strrchr(real, '/');
                const char *parent = slash ? slash + 1 : real;
                if (strlen(parent) >= sizeof(id.parent))
                        return -ENAMETOOLONG;
                memcpy(id.parent, parent, strlen(parent) + 1);
                /* loop0p1 is as virtual as loop0 */
                id.kind = is_virtual_name(parent) ? BLOCKDEV_VIRTUAL : BLOCKDEV_PARTITION;
        } else if (exists(dir, "md"))
                id.kind = BLOCKDEV_RAID;
        else if (exists(dir, "dm")) {
                id.kind = BLOCKDEV_DM;
                free(p);
                p = fl_asprintf("%s/dm/name", dir);
                if (fl_read_line(p, buf, sizeof(buf)) >= 0) {
                        trim(buf);
                        size_t n = strlen(buf);
                        if (n > 0 && n < sizeof(id.name) && !strchr(buf, '/'))
                                memcpy(id.name, buf, n + 1);
                }
        } else if (is_virtual_name(kname))
                id.kind = BLOCKDEV_VIRTUAL;
        else
                id.kind = BLOCKDEV_DISK;
        *ret = id;
        return 0;
}

static bool valid_kname(const char *k)
{
        return *k && !strchr(k, '/') && strcmp(k, ".") != 0 && strcmp(k, "..") != 0;
}

int blockdev_identify(const char *sysfs, const char *kname, struct blockdev_id *ret)
{
        if (!valid_kname(kname))
                return -EINVAL;
        _cleanup_free_ char *dir = fl_asprintf("%s/class/block/%s", sysfs, kname);
        return identify_dir(dir, kname, ret);
}

int blockdev_identify_devnum(const char *sysfs, unsigned major, unsigned minor, struct blockdev_id *ret)
{
        _cleanup_free_ char *dir = fl_asprintf("%s/dev/block/%u:%u", sysfs, major, minor);
        char real[PATH_MAX];

        if (!realpath(dir, real))
                return -errno;
        const char *slash = strrchr(real, '/');
        return identify_dir(dir, slash ? slash + 1 : real, ret);
}

char *blockdev_key(const struct blockdev_id *id, const char *host)
{
        return fl_asprintf("%s:%s/%s", blockdev_kind_to_string(id->kind), host, id->name);
}
