/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The pure parts of the sys_class_net collector (network interface topology
 * and link state from <sysfs>/class/net), kept apart from its I/O so that
 * they can be unit-tested and fuzzed: parsers take strings or a FILE *, the
 * classification and the detector take the evidence already read. Nothing
 * here logs or keeps global state.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "emit.h"

#define SYS_CLASS_NET_NAME_MAX 15 /* IFNAMSIZ - 1 */
#define SYS_CLASS_NET_MAX_VLANS 16384 /* lines of /proc/net/vlan/config, headers excluded */
#define SYS_CLASS_NET_MAX_LINE_LEN 256 /* characters, newline excluded */

enum sys_class_net_type {
        SYS_CLASS_NET_TYPE_PHYSICAL,
        SYS_CLASS_NET_TYPE_BOND,
        SYS_CLASS_NET_TYPE_BRIDGE,
        SYS_CLASS_NET_TYPE_VLAN,
        SYS_CLASS_NET_TYPE_VIRTUAL,
};

/* "physical", "bond", "bridge", "vlan", "virtual": the "type" attribute. */
const char *sys_class_net_type_to_string(enum sys_class_net_type t);

/* What sysfs (and /proc/net/vlan/config) say about one interface. */
struct sys_class_net_evidence {
        bool has_bonding_dir; /* <if>/bonding/ */
        bool has_bridge_dir; /* <if>/bridge/ */
        bool has_device_link; /* <if>/device */
        bool in_vlan_config; /* listed in /proc/net/vlan/config */
        const char *devtype; /* DEVTYPE= of <if>/uevent, NULL when absent */
};

/*
 * The type of an interface, first match wins:
 *   bond      bonding/ exists, or DEVTYPE=bond
 *   bridge    bridge/ exists, or DEVTYPE=bridge
 *   vlan      DEVTYPE=vlan, or listed in /proc/net/vlan/config
 *   physical  a "device" link (hardware or a paravirtual bus: PCI, USB,
 *             virtio, Xen netfront), whatever its DEVTYPE (wlan, wwan)
 *   virtual   anything else: veth, tun/tap, dummy, macvlan, vxlan, team...
 * Bonds, bridges and VLANs never have a device link, so the order only
 * matters for evidence that contradicts itself.
 */
enum sys_class_net_type sys_class_net_classify(const struct sys_class_net_evidence *e);

/*
 * Parses <if>/flags, printed by the kernel with "%#x": "0x1003", and "0"
 * (no prefix) for no flag at all. Surrounding blanks and a trailing newline
 * are accepted. Returns 0, or -EINVAL for anything else (empty, no digits,
 * a sign, a non-hex digit), -ERANGE above 32 bits.
 */
int sys_class_net_parse_flags(const char *s, uint32_t *ret_flags);

/*
 * How many slaves a bond needs to carry traffic, from bonding/mode as the
 * kernel prints it ("active-backup 1"; the bare name is accepted too) and
 * bonding/min_links:
 *   active-backup, balance-rr, balance-xor, broadcast, balance-tlb,
 *   balance-alb → 1 (any one slave carries the traffic),
 *   802.3ad → min_links when > 0 (the bond goes down below it), else 1.
 * Returns 0, or -EINVAL for an unknown mode or a number that does not match
 * the name.
 */
int sys_class_net_bond_min_ok(const char *mode, uint64_t min_links, int *ret_min_ok);

/*
 * min_ok of a bridge with n ports: 1 when it has several (traffic usually
 * reaches the network through any of them: an uplink plus the ports of
 * local guests, or two uplinks under STP), -1 (every port required) with
 * one port or none, where both mean the same.
 */
int sys_class_net_bridge_min_ok(size_t n_ports);

struct sys_class_net_vlan {
        char name[SYS_CLASS_NET_NAME_MAX + 1];
        uint16_t id;
        char lower[SYS_CLASS_NET_NAME_MAX + 1];
};

/*
 * Parses /proc/net/vlan/config:
 *   VLAN Dev name	 | VLAN ID
 *   Name-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD
 *   bond0.100      | 100  | bond0
 * into a newly allocated array (NULL and 0 when there is no VLAN; free()
 * it). Returns 0, or -EBADMSG (missing headers, a line without three
 * '|'-separated fields, an invalid name, an id that is not 0-4095, a last
 * line without its newline), -E2BIG (more than SYS_CLASS_NET_MAX_VLANS
 * lines, a line longer than SYS_CLASS_NET_MAX_LINE_LEN, a name longer than
 * SYS_CLASS_NET_NAME_MAX), -EIO (a read error). Outputs are written only on
 * success.
 */
int sys_class_net_parse_vlan_config(FILE *f, struct sys_class_net_vlan **ret, size_t *ret_n);

/* One interface as the link detector sees it in one cycle. */
struct sys_class_net_link_status {
        enum sys_class_net_type type;
        const char *operstate; /* NULL: could not be read */
        int operstate_error; /* -errno of that read */
        int carrier; /* 1, 0, or -1 when it cannot be read */
        int admin_up; /* IFF_UP of flags: 1, 0, or -1 when flags cannot be read */
        const char *master; /* a bond slave's bond, else NULL */
        const char *mii_status; /* a bond slave's bonding_slave/mii_status, NULL if unreadable */
        size_t n_lowers; /* bond slaves, bridge ports */
        size_t n_lowers_down; /* bonds: slaves whose mii_status is "down" */
        const char *lowers_down; /* their names, ", "-separated */
};

/*
 * The own state of an interface, with the reason in *ret_reason (newly
 * allocated, NULL when there is nothing to say):
 *   - administratively down (IFF_UP clear): ok, "administratively down" —
 *     an operator's decision, not a fault;
 *   - operstate unreadable: unknown, "could not read operstate: ...";
 *   - operstate down, lowerlayerdown or notpresent while administratively
 *     up: critical, "link down (no carrier) while administratively up", for
 *     the interfaces whose link is expected — physical NICs, bond slaves,
 *     bonds, VLANs, and bridges that have ports (an empty bridge, such as
 *     libvirt's virbr0 without guests, has no carrier by design). Other
 *     virtual interfaces (tun/tap, veth, dummy) follow a process or a peer
 *     and are left to whoever watches those;
 *   - a bond slave whose mii_status is "down": critical, naming the bond;
 *   - a bond all of whose slaves are down: critical, naming them. With only
 *     some down the bond gets no state of its own: min_ok makes it warning
 *     in the graph, with the slave as the cause.
 * Several findings of the worst state are joined with "; ".
 */
enum fl_state sys_class_net_judge(const struct sys_class_net_link_status *l, char **ret_reason);
