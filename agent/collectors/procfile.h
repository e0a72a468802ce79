/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Reading the kernel's text files, shared by the collectors that parse
 * procfs and sysfs, so that all of them reject a cut-short line or an
 * over-long file the same way and with the same error codes.
 */

#include <stddef.h>
#include <stdio.h>

/*
 * Reads one line into buf (the line, its newline and a NUL: max length + 2
 * bytes) and strips the newline. Returns 1 for a line, 0 at the end of the
 * stream, -EIO on a read error, -E2BIG for a line longer than buf and
 * -EBADMSG for a last line without its newline (a truncated read).
 */
int procfile_read_line(FILE *f, char *buf, size_t bufsz);

/* Splits off the next field separated by blanks (spaces and tabs) from *p,
 * in place, or returns NULL at the end. */
char *procfile_next_field(char **p);

/*
 * Reads the whole file behind fd from offset 0 into *buf, growing it (and
 * *cap) up to max bytes. Returns 0 with the length in *ret_len, -E2BIG when
 * the file is larger than max, or -errno of pread.
 */
int procfile_pread_all(int fd, char **buf, size_t *cap, size_t max, size_t *ret_len);

/* Strips blanks (spaces, tabs, newlines, carriage returns) at both ends of
 * s, in place: what is left starts at s. */
void procfile_trim(char *s);

/* The value of a hexadecimal digit, or -1 for any other character. */
int procfile_hex_digit(char c);
