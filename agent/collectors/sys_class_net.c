/* SPDX-License-Identifier: MIT */
/*
 * Network interface topology and link state from <sysfs>/class/net: one
 * nic:HOST/IF node per interface (loopback excluded) with its type and link
 * attributes, the edges between stacked interfaces (bond → slaves, bridge →
 * ports, VLAN → lower device), and the link detector.
 *
 * The topology changes rarely, so the tree is only walked again (a
 * "rescan") when the entries of <sysfs>/class/net change, when a link
 * changed its operstate (speed and active slave follow the link), when a
 * kept descriptor reports its interface gone, and every RESCAN_EVERY
 * cycles. Between rescans a cycle costs one readdir plus a pread of the few
 * files the detector needs, on descriptors kept open.
 */
#include "sys_class_net.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "collector.h"
#include "procfile.h"

#define IFF_UP_FLAG 0x1u /* IFF_UP, without pulling in <net/if.h> */
#define RESCAN_EVERY 60 /* cycles */
#define MAX_ENTRIES 4096 /* entries of <sysfs>/class/net */
#define MAX_KEPT_FDS 256 /* descriptors kept open across cycles, all interfaces together */
#define VALUE_MAX 64 /* longest per-cycle value read (operstate, flags, an interface name), plus NUL */

/* Pure helpers */

const char *sys_class_net_type_to_string(enum sys_class_net_type t)
{
        switch (t) {
        case SYS_CLASS_NET_TYPE_PHYSICAL:
                return "physical";
        case SYS_CLASS_NET_TYPE_BOND:
                return "bond";
        case SYS_CLASS_NET_TYPE_BRIDGE:
                return "bridge";
        case SYS_CLASS_NET_TYPE_VLAN:
                return "vlan";
        case SYS_CLASS_NET_TYPE_VIRTUAL:
                return "virtual";
        }
        return "virtual";
}

enum sys_class_net_type sys_class_net_classify(const struct sys_class_net_evidence *e)
{
        if (e->has_bonding_dir || fl_streq(e->devtype, "bond"))
                return SYS_CLASS_NET_TYPE_BOND;
        if (e->has_bridge_dir || fl_streq(e->devtype, "bridge"))
                return SYS_CLASS_NET_TYPE_BRIDGE;
        if (fl_streq(e->devtype, "vlan") || e->in_vlan_config)
                return SYS_CLASS_NET_TYPE_VLAN;
        if (e->has_device_link)
                return SYS_CLASS_NET_TYPE_PHYSICAL;
        return SYS_CLASS_NET_TYPE_VIRTUAL;
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int sys_class_net_parse_flags(const char *s, uint32_t *ret_flags)
{
        size_t end;
        uint64_t v = 0;

        if (!s)
                return -EINVAL;
        while (is_blank(*s))
                s++;
        end = strlen(s);
        while (end > 0 && is_blank(s[end - 1]))
                end--;
        /* "%#x" prints 0 without its prefix */
        if (end == 1 && s[0] == '0') {
                *ret_flags = 0;
                return 0;
        }
        if (end < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
                return -EINVAL;
        for (size_t i = 2; i < end; i++) {
                int d = procfile_hex_digit(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v * 16 + (uint64_t)d;
                if (v > UINT32_MAX)
                        return -ERANGE;
        }
        *ret_flags = (uint32_t)v;
        return 0;
}

/* The kernel's bond modes (BOND_MODE_*), with the number it prints after the
 * name. */
static const struct {
        const char *name;
        uint32_t number;
} bond_modes[] = {
        { "balance-rr", 0 }, { "active-backup", 1 }, { "balance-xor", 2 }, { "broadcast", 3 },
        { "802.3ad", 4 },    { "balance-tlb", 5 },   { "balance-alb", 6 },
};

int sys_class_net_bond_min_ok(const char *mode, uint64_t min_links, int *ret_min_ok)
{
        char buf[64], *name, *number;
        size_t len;

        if (!mode)
                return -EINVAL;
        len = strlen(mode);
        if (len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, mode, len + 1);
        procfile_trim(buf);
        name = buf;
        number = name;
        while (*number && !is_blank(*number))
                number++;
        if (*number)
                *number++ = '\0';
        procfile_trim(number);

        for (size_t i = 0; i < FL_ARRAY_SIZE(bond_modes); i++) {
                uint32_t n;

                if (!fl_streq(name, bond_modes[i].name))
                        continue;
                if (*number && (fl_safe_atou32(number, &n) < 0 || n != bond_modes[i].number))
                        return -EINVAL;
                /* Every mode forwards while one slave is up; 802.3ad can be
                 * told to need more (the bond goes down below min_links). */
                if (bond_modes[i].number == 4 && min_links > 0)
                        *ret_min_ok = (int)FL_MIN(min_links, (uint64_t)INT_MAX);
                else
                        *ret_min_ok = 1;
                return 0;
        }
        return -EINVAL;
}

int sys_class_net_bridge_min_ok(size_t n_ports)
{
        return n_ports > 1 ? 1 : -1;
}

/* The kernel's dev_valid_name(): what an interface name can be. */
static int check_ifname(const char *name)
{
        size_t len = strlen(name);

        if (len == 0 || fl_streq(name, ".") || fl_streq(name, "..") || strpbrk(name, "/: \t\n\r"))
                return -EBADMSG;
        if (len > SYS_CLASS_NET_NAME_MAX)
                return -E2BIG;
        return 0;
}

/* "bond0.100      | 100  | bond0" */
static int parse_vlan_line(char *line, struct sys_class_net_vlan *ret)
{
        struct sys_class_net_vlan v = { 0 };
        char *fields[3], *p = line;
        uint32_t id;
        int r;

        for (size_t i = 0; i < 3; i++) {
                char *bar = strchr(p, '|');

                if ((i < 2) != (bar != NULL))
                        return -EBADMSG;
                if (bar)
                        *bar = '\0';
                procfile_trim(p);
                fields[i] = p;
                p = bar ? bar + 1 : p + strlen(p);
        }
        r = check_ifname(fields[0]);
        if (r < 0)
                return r;
        r = check_ifname(fields[2]);
        if (r < 0)
                return r;
        if (fl_safe_atou32(fields[1], &id) < 0 || id > 4095)
                return -EBADMSG;
        memcpy(v.name, fields[0], strlen(fields[0]) + 1);
        memcpy(v.lower, fields[2], strlen(fields[2]) + 1);
        v.id = (uint16_t)id;
        *ret = v;
        return 0;
}

int sys_class_net_parse_vlan_config(FILE *f, struct sys_class_net_vlan **ret, size_t *ret_n)
{
        _cleanup_free_ struct sys_class_net_vlan *vlans = NULL;
        char buf[SYS_CLASS_NET_MAX_LINE_LEN + 2];
        size_t n = 0, cap = 0;
        int r;

        r = procfile_read_line(f, buf, sizeof(buf));
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (!fl_startswith(buf, "VLAN Dev name"))
                return -EBADMSG;
        r = procfile_read_line(f, buf, sizeof(buf));
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        if (!fl_startswith(buf, "Name-Type:"))
                return -EBADMSG;

        while ((r = procfile_read_line(f, buf, sizeof(buf))) > 0) {
                if (n >= SYS_CLASS_NET_MAX_VLANS)
                        return -E2BIG;
                vlans = fl_grow(vlans, &cap, n + 1, sizeof(*vlans));
                r = parse_vlan_line(buf, &vlans[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(vlans);
        *ret_n = n;
        return 0;
}

/* The worst finding so far, with the reasons of that state joined. */
struct verdict {
        enum fl_state state;
        char *reason;
};

_printf_(3, 4) static void verdict_add(struct verdict *v, enum fl_state state, const char *fmt, ...)
{
        _cleanup_free_ char *text = NULL;
        va_list ap;

        if (state < v->state)
                return;
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                fl_oom();
        va_end(ap);
        if (state > v->state || !v->reason) {
                free(v->reason);
                v->reason = TAKE_PTR(text);
        } else {
                char *joined = fl_asprintf("%s; %s", v->reason, text);
                free(v->reason);
                v->reason = joined;
        }
        v->state = state;
}

static bool operstate_down(const char *operstate)
{
        return fl_streq(operstate, "down") || fl_streq(operstate, "lowerlayerdown") ||
               fl_streq(operstate, "notpresent");
}

/* Whether a down link of this interface is a fault (see the header). */
static bool link_expected(const struct sys_class_net_link_status *l)
{
        switch (l->type) {
        case SYS_CLASS_NET_TYPE_PHYSICAL:
        case SYS_CLASS_NET_TYPE_BOND:
        case SYS_CLASS_NET_TYPE_VLAN:
                return true;
        case SYS_CLASS_NET_TYPE_BRIDGE:
                return l->n_lowers > 0;
        case SYS_CLASS_NET_TYPE_VIRTUAL:
                return l->master != NULL;
        }
        return true;
}

static const char *why_down(const struct sys_class_net_link_status *l)
{
        /* For a stacked device "lower layer down" says more than its
         * (inherited) missing carrier. */
        if (fl_streq(l->operstate, "lowerlayerdown"))
                return "lower layer down";
        if (fl_streq(l->operstate, "notpresent"))
                return "device not present";
        if (l->carrier == 0)
                return "no carrier";
        return "operstate down";
}

enum fl_state sys_class_net_judge(const struct sys_class_net_link_status *l, char **ret_reason)
{
        struct verdict v = { FL_STATE_OK, NULL };

        if (l->admin_up == 0) {
                *ret_reason = fl_strdup("administratively down");
                return FL_STATE_OK;
        }
        if (!l->operstate)
                verdict_add(&v, FL_STATE_UNKNOWN, "could not read operstate: %s",
                            strerror(l->operstate_error < 0 ? -l->operstate_error : EIO));
        else if (operstate_down(l->operstate) && link_expected(l)) {
                if (l->admin_up < 0)
                        verdict_add(&v, FL_STATE_UNKNOWN,
                                    "link down (%s), administrative state unknown: "
                                    "could not read flags",
                                    why_down(l));
                else
                        verdict_add(&v, FL_STATE_CRITICAL, "link down (%s) while administratively up", why_down(l));
        }
        if (l->master && fl_streq(l->mii_status, "down"))
                verdict_add(&v, FL_STATE_CRITICAL, "slave of %s down (mii_status down)", l->master);
        if (l->type == SYS_CLASS_NET_TYPE_BOND && l->n_lowers > 0 && l->n_lowers_down >= l->n_lowers)
                verdict_add(&v, FL_STATE_CRITICAL, "all slaves down: %s", l->lowers_down ? l->lowers_down : "");
        *ret_reason = v.reason;
        return v.state;
}

/* Collector */

/* Files read every cycle, relative to the interface's directory. */
enum {
        F_OPERSTATE,
        F_CARRIER,
        F_FLAGS,
        F_MII_STATUS, /* bond slaves only */
        F_ACTIVE_SLAVE, /* bonds only */
        N_FILES,
};

static const char *const cycle_files[N_FILES] = {
        [F_OPERSTATE] = "operstate",
        [F_CARRIER] = "carrier",
        [F_FLAGS] = "flags",
        [F_MII_STATUS] = "bonding_slave/mii_status",
        [F_ACTIVE_SLAVE] = "bonding/active_slave",
};

struct link {
        char *name;
        char *key;
        char *dir; /* <sysfs>/class/net/NAME */
        enum sys_class_net_type type;
        int min_ok;
        size_t master; /* index of a slave's bond; SIZE_MAX: none */
        size_t *lowers; /* indexes of slaves, ports or the VLAN's lower device */
        size_t n_lowers;

        /* attributes read at the scan; NULL when unreadable */
        char *mtu, *address, *speed, *driver, *bond_mode, *vlan_id;

        bool wants[N_FILES];
        bool keep_fds; /* within the descriptor budget: keep them open */
        int fd[N_FILES];
        char value[N_FILES][VALUE_MAX]; /* this cycle's reading, trimmed */
        int error[N_FILES]; /* 0, or -errno of this cycle's reading */
        char last_operstate[VALUE_MAX]; /* the previous cycle's, "" before the first */
};

struct net_state {
        struct link *links; /* sorted by name */
        size_t n_links;
        char **entries; /* entries of <sysfs>/class/net at the last scan, sorted */
        size_t n_entries;
        uint64_t cycles_since_scan;
        size_t n_kept; /* descriptors kept open */
};

static void link_done(struct link *l)
{
        for (size_t i = 0; i < N_FILES; i++)
                if (l->fd[i] >= 0)
                        close(l->fd[i]);
        free(l->name);
        free(l->key);
        free(l->dir);
        free(l->lowers);
        free(l->mtu);
        free(l->address);
        free(l->speed);
        free(l->driver);
        free(l->bond_mode);
        free(l->vlan_id);
}

static void links_free(struct net_state *s)
{
        for (size_t i = 0; i < s->n_links; i++)
                link_done(&s->links[i]);
        free(s->links);
        s->links = NULL;
        s->n_links = 0;
        s->n_kept = 0;
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int compare_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of dir ("." and ".." left out). */
static int list_dir(const char *dir, size_t max, char ***ret, size_t *ret_n)
{
        DIR *d = opendir(dir);
        char **v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        if (!d)
                return -errno;
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (fl_streq(de->d_name, ".") || fl_streq(de->d_name, ".."))
                        continue;
                if (n >= max) {
                        r = -E2BIG;
                        break;
                }
                v = fl_grow(v, &cap, n + 1, sizeof(*v));
                v[n++] = fl_strdup(de->d_name);
        }
        closedir(d);
        if (r < 0) {
                strv_free(v, n);
                return r;
        }
        if (n > 0)
                qsort(v, n, sizeof(*v), compare_str);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* One small attribute of the interface, trimmed; NULL when it cannot be
 * read or is empty. */
static char *read_attr(const struct link *l, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", l->dir, rel);
        char buf[256];

        if (fl_read_line(path, buf, sizeof(buf)) < 0)
                return NULL;
        procfile_trim(buf);
        return *buf ? fl_strdup(buf) : NULL;
}

static bool is_dir(const char *dir, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", dir, rel);
        struct stat st;

        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists_nofollow(const char *dir, const char *rel)
{
        _cleanup_free_ char *path = fl_asprintf("%s/%s", dir, rel);
        struct stat st;

        return lstat(path, &st) == 0;
}

/* DEVTYPE= of the interface's uevent, or NULL. */
static char *read_devtype(const struct link *l)
{
        _cleanup_free_ char *path = fl_asprintf("%s/uevent", l->dir);
        _cleanup_free_ char *text = NULL;
        char *line, *save = NULL;

        if (fl_read_file(path, 4096, &text, NULL) < 0)
                return NULL;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (fl_startswith(line, "DEVTYPE="))
                        return fl_strdup(line + strlen("DEVTYPE="));
        return NULL;
}

/* The driver's name: the last component of the device/driver link. */
static char *read_driver(const struct link *l)
{
        _cleanup_free_ char *path = fl_asprintf("%s/device/driver", l->dir);
        char target[PATH_MAX], *slash;
        ssize_t n;

        n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0)
                return NULL;
        target[n] = '\0';
        slash = strrchr(target, '/');
        slash = slash ? slash + 1 : target;
        return *slash ? fl_strdup(slash) : NULL;
}

static const struct sys_class_net_vlan *find_vlan(const struct sys_class_net_vlan *vlans, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (fl_streq(vlans[i].name, name))
                        return &vlans[i];
        return NULL;
}

static int read_vlan_config(const char *procfs, struct sys_class_net_vlan **ret, size_t *ret_n)
{
        _cleanup_free_ char *path = fl_asprintf("%s/net/vlan/config", procfs);
        _cleanup_fclose_ FILE *f = fopen(path, "re");

        if (!f)
                return -errno;
        return sys_class_net_parse_vlan_config(f, ret, ret_n);
}

static size_t find_link(const struct net_state *s, const char *name)
{
        size_t lo = 0, hi = s->n_links;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(s->links[mid].name, name);

                if (c == 0)
                        return mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return SIZE_MAX;
}

static void add_lower(struct link *l, size_t lower)
{
        for (size_t i = 0; i < l->n_lowers; i++)
                if (l->lowers[i] == lower)
                        return;
        l->lowers = fl_realloc(l->lowers, (l->n_lowers + 1) * sizeof(*l->lowers));
        l->lowers[l->n_lowers++] = lower;
}

/* Reads what does not change between rescans: type and static attributes. */
static void scan_link(struct link *l, const struct sys_class_net_vlan *vlans, size_t n_vlans)
{
        _cleanup_free_ char *devtype = read_devtype(l);
        const struct sys_class_net_vlan *vlan = find_vlan(vlans, n_vlans, l->name);
        struct sys_class_net_evidence ev = {
                .has_bonding_dir = is_dir(l->dir, "bonding"),
                .has_bridge_dir = is_dir(l->dir, "bridge"),
                .has_device_link = exists_nofollow(l->dir, "device"),
                .in_vlan_config = vlan != NULL,
                .devtype = devtype,
        };

        l->type = sys_class_net_classify(&ev);
        l->min_ok = -1;
        l->master = SIZE_MAX;
        l->mtu = read_attr(l, "mtu");
        l->address = read_attr(l, "address");
        /* speed fails (EINVAL) or reads -1 while the link is down, and fails
         * (EOPNOTSUPP) on most virtual devices: no attribute then. */
        l->speed = read_attr(l, "speed");
        if (l->speed) {
                uint64_t v;
                if (fl_safe_atou64(l->speed, &v) < 0) {
                        free(l->speed);
                        l->speed = NULL;
                }
        }
        if (ev.has_device_link)
                l->driver = read_driver(l);

        if (l->type == SYS_CLASS_NET_TYPE_BOND) {
                _cleanup_free_ char *mode = read_attr(l, "bonding/mode");
                _cleanup_free_ char *links = read_attr(l, "bonding/min_links");
                uint64_t min_links = 0;
                int min_ok = 1;

                if (links && fl_safe_atou64(links, &min_links) < 0)
                        min_links = 0;
                /* A mode this code does not know: every bonding mode so far
                 * forwards while one slave is up. */
                l->min_ok = mode && sys_class_net_bond_min_ok(mode, min_links, &min_ok) >= 0 ? min_ok : 1;
                if (mode) {
                        mode[strcspn(mode, " \t")] = '\0';
                        l->bond_mode = TAKE_PTR(mode);
                }
        }
        if (l->type == SYS_CLASS_NET_TYPE_VLAN && vlan)
                l->vlan_id = fl_asprintf("%u", (unsigned)vlan->id);
}

/* The edges: a bond's slaves, a bridge's ports, a VLAN's lower device. */
static void scan_lowers(struct net_state *s, size_t idx, const struct sys_class_net_vlan *vlans, size_t n_vlans)
{
        struct link *l = &s->links[idx];

        if (l->type == SYS_CLASS_NET_TYPE_BOND) {
                _cleanup_free_ char *slaves = read_attr(l, "bonding/slaves");
                char *name, *save = NULL;

                for (name = slaves ? strtok_r(slaves, " \t", &save) : NULL; name; name = strtok_r(NULL, " \t", &save)) {
                        size_t j = find_link(s, name);
                        if (j == SIZE_MAX || j == idx)
                                continue;
                        add_lower(l, j);
                        s->links[j].master = idx;
                }
        } else if (l->type == SYS_CLASS_NET_TYPE_BRIDGE) {
                _cleanup_free_ char *brif = fl_asprintf("%s/brif", l->dir);
                char **ports = NULL;
                size_t n_ports = 0;

                /* A bridge without ports has no brif/ entries (or, in a
                 * captured tree, no brif/ at all). */
                if (list_dir(brif, MAX_ENTRIES, &ports, &n_ports) >= 0) {
                        for (size_t i = 0; i < n_ports; i++) {
                                size_t j = find_link(s, ports[i]);
                                if (j != SIZE_MAX && j != idx)
                                        add_lower(l, j);
                        }
                        strv_free(ports, n_ports);
                }
                l->min_ok = sys_class_net_bridge_min_ok(l->n_lowers);
        } else if (l->type == SYS_CLASS_NET_TYPE_VLAN) {
                const struct sys_class_net_vlan *vlan;
                char **entries = NULL;
                size_t n_entries = 0;

                /* lower_<dev> links (since Linux 3.x) name the real device;
                 * /proc/net/vlan/config says the same where they are
                 * missing. */
                if (list_dir(l->dir, MAX_ENTRIES, &entries, &n_entries) >= 0) {
                        for (size_t i = 0; i < n_entries; i++) {
                                size_t j;
                                if (!fl_startswith(entries[i], "lower_"))
                                        continue;
                                j = find_link(s, entries[i] + strlen("lower_"));
                                if (j != SIZE_MAX && j != idx)
                                        add_lower(l, j);
                        }
                        strv_free(entries, n_entries);
                }
                vlan = find_vlan(vlans, n_vlans, l->name);
                if (l->n_lowers == 0 && vlan) {
                        size_t j = find_link(s, vlan->lower);
                        if (j != SIZE_MAX && j != idx)
                                add_lower(l, j);
                }
        }
}

/* Walks the tree again; takes over entries. */
static int rescan(struct net_state *s, const struct fl_agent_ctx *ctx, char **entries, size_t n_entries)
{
        _cleanup_free_ char *classnet = fl_asprintf("%s/class/net", ctx->sysfs);
        _cleanup_free_ struct sys_class_net_vlan *vlans = NULL;
        size_t n_vlans = 0;

        links_free(s);
        strv_free(s->entries, s->n_entries);
        s->entries = entries;
        s->n_entries = n_entries;
        s->cycles_since_scan = 0;

        /* Missing without the 8021q module, i.e. without VLANs; unreadable,
         * only the VLAN ids are lost (lower_* links give the topology). */
        if (read_vlan_config(ctx->procfs, &vlans, &n_vlans) < 0) {
                vlans = NULL;
                n_vlans = 0;
        }

        s->links = fl_new0(struct link, FL_MAX(n_entries, (size_t)1));
        for (size_t i = 0; i < n_entries; i++) {
                struct link *l = &s->links[s->n_links];
                struct stat st;

                if (fl_streq(entries[i], "lo") || check_ifname(entries[i]) < 0)
                        continue;
                l->dir = fl_asprintf("%s/%s", classnet, entries[i]);
                /* Interfaces are directories (symlinks to them in
                 * sysfs); bonding_masters is a file. */
                if (stat(l->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        free(l->dir);
                        l->dir = NULL;
                        continue;
                }
                for (size_t k = 0; k < N_FILES; k++)
                        l->fd[k] = -1;
                l->name = fl_strdup(entries[i]);
                l->key = fl_asprintf("nic:%s/%s", ctx->hostname, entries[i]);
                scan_link(l, vlans, n_vlans);
                s->n_links++;
        }
        for (size_t i = 0; i < s->n_links; i++)
                scan_lowers(s, i, vlans, n_vlans);

        for (size_t i = 0; i < s->n_links; i++) {
                struct link *l = &s->links[i];
                size_t n = 0;

                l->wants[F_OPERSTATE] = l->wants[F_CARRIER] = l->wants[F_FLAGS] = true;
                l->wants[F_MII_STATUS] = l->master != SIZE_MAX;
                l->wants[F_ACTIVE_SLAVE] = l->type == SYS_CLASS_NET_TYPE_BOND;
                for (size_t k = 0; k < N_FILES; k++)
                        n += l->wants[k];
                /* Descriptors are kept for the interfaces the detector
                 * judges, within a budget: a hypervisor's hundreds of taps
                 * would otherwise eat the process's descriptor limit. The
                 * others are opened and closed each cycle. */
                if ((l->type != SYS_CLASS_NET_TYPE_VIRTUAL || l->master != SIZE_MAX) && s->n_kept + n <= MAX_KEPT_FDS) {
                        l->keep_fds = true;
                        s->n_kept += n;
                }
        }
        return 0;
}

/*
 * Reads one per-cycle file into l->value[k], trimmed. Returns 0 or -errno.
 * A kept descriptor that fails is closed, so that the next read opens the
 * file again; one that fails with ENODEV belonged to an interface that is
 * gone, perhaps replaced under the same name: *ret_stale is set and a fresh
 * descriptor is tried at once.
 */
static int read_cycle_file(struct link *l, size_t k, bool *ret_stale)
{
        char *buf = l->value[k];
        ssize_t n = -1;
        int r;

        buf[0] = '\0';
        if (l->fd[k] >= 0) {
                n = pread(l->fd[k], buf, VALUE_MAX - 1, 0);
                if (n < 0) {
                        r = -errno;
                        close(l->fd[k]);
                        l->fd[k] = -1;
                        if (r != -ENODEV)
                                return r;
                        *ret_stale = true;
                }
        }
        if (l->fd[k] < 0) {
                _cleanup_free_ char *path = fl_asprintf("%s/%s", l->dir, cycle_files[k]);

                l->fd[k] = open(path, O_RDONLY | O_CLOEXEC);
                if (l->fd[k] < 0)
                        return -errno;
                n = pread(l->fd[k], buf, VALUE_MAX - 1, 0);
                if (n < 0) {
                        /* the attribute refuses: carrier of a link that is
                         * administratively down gives EINVAL */
                        r = -errno;
                        close(l->fd[k]);
                        l->fd[k] = -1;
                        return r;
                }
        }
        if (!l->keep_fds) {
                close(l->fd[k]);
                l->fd[k] = -1;
        }
        if (n == VALUE_MAX - 1)
                return -E2BIG;
        buf[n] = '\0';
        procfile_trim(buf);
        return 0;
}

/* Reads every interface's per-cycle files. Returns true when the topology
 * may have changed: a kept descriptor's device is gone, or a link changed
 * its operstate (speed, active slave and carrier-dependent attributes
 * follow). */
static bool read_cycle(struct net_state *s)
{
        bool changed = false;

        for (size_t i = 0; i < s->n_links; i++) {
                struct link *l = &s->links[i];

                for (size_t k = 0; k < N_FILES; k++)
                        l->error[k] = l->wants[k] ? read_cycle_file(l, k, &changed) : -ENOENT;
                if (l->error[F_OPERSTATE] == 0) {
                        if (l->last_operstate[0] && !fl_streq(l->last_operstate, l->value[F_OPERSTATE]))
                                changed = true;
                        memcpy(l->last_operstate, l->value[F_OPERSTATE], VALUE_MAX);
                }
        }
        return changed;
}

static bool entries_equal(char **a, size_t na, char **b, size_t nb)
{
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (!fl_streq(a[i], b[i]))
                        return false;
        return true;
}

/* Lists <sysfs>/class/net and rescans when needed. */
static int refresh(struct net_state *s, const struct fl_agent_ctx *ctx, bool force, bool *ret_rescanned)
{
        _cleanup_free_ char *classnet = fl_asprintf("%s/class/net", ctx->sysfs);
        char **entries = NULL;
        size_t n_entries = 0;
        int r;

        r = list_dir(classnet, MAX_ENTRIES, &entries, &n_entries);
        if (r < 0)
                return r;
        if (force || !s->links || s->cycles_since_scan >= RESCAN_EVERY ||
            !entries_equal(entries, n_entries, s->entries, s->n_entries)) {
                *ret_rescanned = true;
                return rescan(s, ctx, entries, n_entries);
        }
        strv_free(entries, n_entries);
        *ret_rescanned = false;
        return 0;
}

static int carrier_of(const struct link *l)
{
        if (l->error[F_CARRIER] < 0)
                return -1;
        if (fl_streq(l->value[F_CARRIER], "1"))
                return 1;
        if (fl_streq(l->value[F_CARRIER], "0"))
                return 0;
        return -1;
}

static int admin_up_of(const struct link *l)
{
        uint32_t flags;

        if (l->error[F_FLAGS] < 0 || sys_class_net_parse_flags(l->value[F_FLAGS], &flags) < 0)
                return -1;
        return (flags & IFF_UP_FLAG) ? 1 : 0;
}

static const char *edge_type(enum sys_class_net_type t)
{
        switch (t) {
        case SYS_CLASS_NET_TYPE_BOND:
                return "bond_member";
        case SYS_CLASS_NET_TYPE_BRIDGE:
                return "bridge_port";
        case SYS_CLASS_NET_TYPE_VLAN:
                return "vlan_of";
        default:
                return NULL;
        }
}

static void emit_link(const struct net_state *s, const struct link *l, const char *host_key, struct fl_emit *emit)
{
        struct fl_enode *node = fl_emit_node(emit, l->key, "nic");
        struct sys_class_net_link_status st = {
                .type = l->type,
                .operstate = l->error[F_OPERSTATE] == 0 ? l->value[F_OPERSTATE] : NULL,
                .operstate_error = l->error[F_OPERSTATE],
                .carrier = carrier_of(l),
                .admin_up = admin_up_of(l),
                .master = l->master != SIZE_MAX ? s->links[l->master].name : NULL,
                .mii_status = l->error[F_MII_STATUS] == 0 ? l->value[F_MII_STATUS] : NULL,
                .n_lowers = l->n_lowers,
        };
        _cleanup_free_ char *down = NULL, *reason = NULL;
        const char *type = edge_type(l->type);
        enum fl_state state;

        node->min_ok = l->min_ok;
        fl_emit_attr(node, "type", sys_class_net_type_to_string(l->type));
        if (st.operstate && *st.operstate)
                fl_emit_attr(node, "operstate", st.operstate);
        if (st.carrier >= 0)
                fl_emit_attr(node, "carrier", st.carrier ? "1" : "0");
        if (st.admin_up >= 0)
                fl_emit_attr(node, "admin_up", st.admin_up ? "true" : "false");
        if (l->mtu)
                fl_emit_attr(node, "mtu", l->mtu);
        if (l->address)
                fl_emit_attr(node, "address", l->address);
        if (l->speed)
                fl_emit_attr(node, "speed_mbps", l->speed);
        if (l->driver)
                fl_emit_attr(node, "driver", l->driver);
        if (l->bond_mode)
                fl_emit_attr(node, "bond_mode", l->bond_mode);
        if (l->error[F_ACTIVE_SLAVE] == 0 && l->value[F_ACTIVE_SLAVE][0])
                fl_emit_attr(node, "active_slave", l->value[F_ACTIVE_SLAVE]);
        if (l->vlan_id)
                fl_emit_attr(node, "vlan_id", l->vlan_id);

        fl_emit_edge(emit, l->key, host_key, "part_of");
        for (size_t i = 0; i < l->n_lowers; i++) {
                const struct link *lower = &s->links[l->lowers[i]];

                fl_emit_edge(emit, l->key, lower->key, type);
                if (l->type == SYS_CLASS_NET_TYPE_BOND && lower->error[F_MII_STATUS] == 0 &&
                    fl_streq(lower->value[F_MII_STATUS], "down")) {
                        char *joined = down ? fl_asprintf("%s, %s", down, lower->name) : fl_strdup(lower->name);
                        free(down);
                        down = joined;
                        st.n_lowers_down++;
                }
        }
        st.lowers_down = down;

        state = sys_class_net_judge(&st, &reason);
        if (reason)
                fl_emit_state(emit, l->key, state, "%s", reason);
        else
                fl_emit_state(emit, l->key, state, NULL);
}

static void fini(void *userdata)
{
        struct net_state *s = userdata;

        links_free(s);
        strv_free(s->entries, s->n_entries);
        s->entries = NULL;
        s->n_entries = 0;
}

static int init(void *userdata, const struct fl_agent_ctx *ctx)
{
        struct net_state *s = userdata;
        bool rescanned;
        int r;

        /* A retried init starts from scratch. */
        fini(s);
        r = refresh(s, ctx, true, &rescanned);
        if (r < 0)
                fini(s);
        return r;
}

static int collect(void *userdata, const struct fl_agent_ctx *ctx, struct fl_emit *emit)
{
        struct net_state *s = userdata;
        _cleanup_free_ char *host_key = fl_asprintf("host:%s", ctx->hostname);
        bool rescanned = false;
        int r;

        r = refresh(s, ctx, false, &rescanned);
        if (r < 0)
                return r;
        if (read_cycle(s) && !rescanned) {
                r = refresh(s, ctx, true, &rescanned);
                if (r < 0)
                        return r;
                (void)read_cycle(s);
        }
        s->cycles_since_scan++;

        for (size_t i = 0; i < s->n_links; i++)
                emit_link(s, &s->links[i], host_key, emit);
        return 0;
}

const struct fl_collector sys_class_net_collector = {
        .name = "sys_class_net",
        .state_size = sizeof(struct net_state),
        .init = init,
        .collect = collect,
        .fini = fini,
};
