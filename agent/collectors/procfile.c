/* SPDX-License-Identifier: MIT */
#include "procfile.h"

#include "util.h"

int procfile_read_line(FILE *f, char *buf, size_t bufsz)
{
        size_t len;

        if (!fgets(buf, (int)bufsz, f))
                return ferror(f) ? -EIO : 0;
        len = strlen(buf);
        if (len > 0 && buf[len - 1] == '\n') {
                buf[len - 1] = '\0';
                return 1;
        }
        if (ferror(f))
                return -EIO;
        if (len == bufsz - 1)
                return -E2BIG;
        /* The kernel ends every line with a newline: without one, the read
         * stopped in the middle of a line (or the line holds a NUL byte), and
         * its last number may be cut short — better no data than a wrong
         * counter, which would show up as a bogus rate. */
        return -EBADMSG;
}

char *procfile_next_field(char **p)
{
        char *s = *p, *start;

        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s) {
                *p = s;
                return NULL;
        }
        start = s;
        while (*s && *s != ' ' && *s != '\t')
                s++;
        if (*s)
                *s++ = '\0';
        *p = s;
        return start;
}

int procfile_pread_all(int fd, char **buf, size_t *cap, size_t max, size_t *ret_len)
{
        size_t len = 0;

        for (;;) {
                ssize_t n;

                if (len > max)
                        return -E2BIG;
                if (len == *cap)
                        *buf = fl_grow(*buf, cap, len + 4096, 1);
                n = pread(fd, *buf + len, *cap - len, (off_t)len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max)
                return -E2BIG;
        *ret_len = len;
        return 0;
}

void procfile_trim(char *s)
{
        size_t len = strlen(s), start = 0;

        while (len > 0 && strchr(" \t\r\n", s[len - 1]))
                len--;
        while (start < len && strchr(" \t\r\n", s[start]))
                start++;
        memmove(s, s + start, len - start);
        s[len - start] = '\0';
}

int procfile_hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
