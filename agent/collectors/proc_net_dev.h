/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Parser for /proc/net/dev, kept apart from the collector's I/O so that it
 * can be unit-tested and fuzzed on plain streams. It neither logs nor keeps
 * global state.
 *
 * The stream starts with the kernel's two header lines, whose column names
 * are checked so that a kernel that ever changed the layout is reported
 * instead of having its counters silently mis-assigned. Each following line
 * is "iface: 16 counters". The counters are split from the name at the last
 * ':' on the line (counters never contain one), which copes with both alias
 * names ("eth0:1") and the old format where a large counter was glued to the
 * colon ("eth0:123456").
 */

#include <stdint.h>
#include <stdio.h>

#define PROC_NET_DEV_MAX_LINES 4096 /* interface lines, headers excluded */
#define PROC_NET_DEV_MAX_LINE_LEN 1024 /* characters, newline excluded */
#define PROC_NET_DEV_NAME_MAX 15 /* IFNAMSIZ - 1 */

struct proc_net_dev_line {
        char name[PROC_NET_DEV_NAME_MAX + 1];

        uint64_t rx_bytes;
        uint64_t rx_packets;
        uint64_t rx_errs;
        uint64_t rx_drop;
        uint64_t rx_fifo;
        uint64_t rx_frame;
        uint64_t rx_compressed;
        uint64_t rx_multicast;

        uint64_t tx_bytes;
        uint64_t tx_packets;
        uint64_t tx_errs;
        uint64_t tx_drop;
        uint64_t tx_fifo;
        uint64_t tx_colls;
        uint64_t tx_carrier;
        uint64_t tx_compressed;
};

/*
 * Parses a whole /proc/net/dev stream into a newly allocated array (NULL and
 * 0 when there are no interfaces). Returns 0, or:
 *   -EBADMSG  missing or unexpected header lines, a line without ':', an
 *             empty or invalid name, not exactly 16 counters, a non-numeric
 *             counter, a NUL byte, or a last line without its newline (a
 *             truncated read),
 *   -E2BIG    more than PROC_NET_DEV_MAX_LINES interfaces, a line longer than
 *             PROC_NET_DEV_MAX_LINE_LEN, a name longer than
 *             PROC_NET_DEV_NAME_MAX,
 *   -EIO      a read error on the stream.
 * ret and ret_n are written only on success; free the array with
 * proc_net_dev_free().
 */
int proc_net_dev_parse(FILE *f, struct proc_net_dev_line **ret, size_t *ret_n);
void proc_net_dev_free(struct proc_net_dev_line *lines);
