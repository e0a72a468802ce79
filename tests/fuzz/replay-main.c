/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs without libFuzzer: calls LLVMFuzzerTestOneInput on
 * every file of the directories (or on the files) named on the command
 * line, in name order. It is built with every compiler, so the corpora,
 * and with them every input that once crashed a decoder, run in every
 * build; a crash or a failed check aborts the replay and fails the test.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util.h"

#define MAX_INPUT_BYTES (64u << 20)

/* Each input in a buffer of exactly its size, so that a sanitizer build
 * sees a read past the end. */
static int replay_file(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t len = 0;

        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "could not open \"%s\": %m\n", path);
                return -errno;
        }
        if ((uint64_t)st.st_size > MAX_INPUT_BYTES) {
                fprintf(stderr, "\"%s\" is larger than %u bytes\n", path, MAX_INPUT_BYTES);
                return -EFBIG;
        }
        data = fl_malloc((size_t)st.st_size);
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        fprintf(stderr, "could not read \"%s\": %s\n", path, n < 0 ? strerror(errno) : "short read");
                        return n < 0 ? -errno : -EIO;
                }
                len += (size_t)n;
        }
        /* Name the input first: if it crashes, the log says which one. */
        printf("%s (%zu bytes)\n", path, len);
        fflush(stdout);
        LLVMFuzzerTestOneInput(data, len);
        return 0;
}

static int skip_hidden(const struct dirent *de)
{
        return de->d_name[0] != '.';
}

/* Returns the number of inputs replayed, or -errno. */
static int replay_dir(const char *dir)
{
        struct dirent **list = NULL;
        int n, count = 0, r = 0;

        n = scandir(dir, &list, skip_hidden, alphasort);
        if (n < 0) {
                fprintf(stderr, "could not read directory \"%s\": %m\n", dir);
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = fl_asprintf("%s/%s", dir, list[i]->d_name);
                struct stat st;

                if (r >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        r = replay_file(path);
                        count++;
                }
                free(list[i]);
        }
        free(list);
        return r < 0 ? r : count;
}

int main(int argc, char **argv)
{
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "could not access \"%s\": %m\n", argv[i]);
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        r = replay_dir(argv[i]);
                        /* An empty corpus would make the test pass on nothing. */
                        if (r == 0) {
                                fprintf(stderr, "no inputs in \"%s\"\n", argv[i]);
                                return 1;
                        }
                } else
                        r = replay_file(argv[i]) < 0 ? -1 : 1;
                if (r < 0)
                        return 1;
                total += r;
        }
        printf("replayed %d inputs\n", total);
        return 0;
}
