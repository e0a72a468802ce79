/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Naming of block devices, shared by the collectors that see them
 * (sys_block for topology, proc_diskstats for I/O, proc_mountinfo for
 * filesystems, dev_kmsg for kernel errors), so that all of them agree on a
 * device's node key: disk:HOST/sda, partition:HOST/sda1, raid:HOST/md0,
 * dm:HOST/vg0-root (device-mapper devices by their dm name).
 */

#include <stdbool.h>

enum blockdev_kind {
        BLOCKDEV_DISK, /* a whole disk: SCSI/SATA, NVMe namespace, virtio, ... */
        BLOCKDEV_PARTITION, /* has a "partition" attribute */
        BLOCKDEV_RAID, /* md array (has an "md" directory) */
        BLOCKDEV_DM, /* device-mapper (has a "dm" directory) */
        BLOCKDEV_VIRTUAL, /* loop, ram, zram, nbd, ...: no node unless it backs a mount */
};

#define BLOCKDEV_NAME_MAX 128

struct blockdev_id {
        char kname[BLOCKDEV_NAME_MAX]; /* kernel name: sda1, dm-0, nvme0n1p2 */
        char name[BLOCKDEV_NAME_MAX]; /* name in the node key: sda1, vg0-root */
        char parent[BLOCKDEV_NAME_MAX]; /* a partition's disk (kernel name), else "" */
        enum blockdev_kind kind;
        unsigned major, minor;
};

const char *blockdev_kind_to_string(enum blockdev_kind k); /* "disk", "partition", "raid", "dm", "virtual" */

/* Identifies a device by kernel name through <sysfs>/class/block/<kname>.
 * -ENOENT when there is no such device, -EINVAL for a name that could not
 * be one (contains '/', is "." or ".."). */
int blockdev_identify(const char *sysfs, const char *kname, struct blockdev_id *ret);
/* The same through <sysfs>/dev/block/MAJ:MIN, for mountinfo. */
int blockdev_identify_devnum(const char *sysfs, unsigned major, unsigned minor, struct blockdev_id *ret);

/* "KIND:HOST/NAME"; caller frees. */
char *blockdev_key(const struct blockdev_id *id, const char *host);
