/*
 * rw_test: the failover test's workload, written for this project from its description
 * (spec: ../shared/spec/ccr-cqt.md §10; spec-notes/interop.md). Built statically by scripts/interop.sh
 * (gcc -static) and run by the rwtest role inside the qemu guest, on the Linux host's multipath device.
 *
 * Each iteration: ten 4096-byte O_DIRECT pwrites to byte offset 0, write i a buffer filled with the byte value i
 * (i = 0..9), each waited for (synchronous); a pause (5 s); one 4096-byte O_DIRECT pread of offset 0, which must
 * hold the value 9 in every byte; another pause (3 s). A stale earlier write applied late leaves a value below 9.
 *
 *   rw_test [-n ITERATIONS] [-w PAUSE_AFTER_WRITES_MS] [-c PAUSE_AFTER_CHECK_MS] [-v] [DEVICE]
 *
 * Defaults: 255 iterations, 5000 ms, 3000 ms, /dev/nvme0n1. Progress on stdout, errors on stderr, with the exact
 * lines of the description; exit 1 on the first failure of any kind, 0 after every iteration validated; 2 for bad
 * arguments. -v adds lines of its own, each starting with "rw_test: ": each write issued and done (with the time it
 * took), the read issued, and the value read back. They go to the kernel log (/dev/kmsg, at level notice) when it can
 * be written, so that they carry the kernel log's time stamps among the kernel's own messages (the recovery steps of
 * the host); else to stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define WRITES 10

static long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* -v: the kernel log (fd >= 0) or stdout (fd < 0). */
static int kmsg = -1;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char line[200];
	int off = snprintf(line, sizeof line, "%srw_test: ", kmsg >= 0 ? "<5>" : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + off, sizeof line - off, fmt, ap);
	va_end(ap);
	if (kmsg < 0 || write(kmsg, line, strlen(line)) < 0)
		printf("%s\n", line + (kmsg >= 0 ? 3 : 0));
}

static void pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A decimal argument in [min, max], or exit 2. */
static long number(const char *what, const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "rw_test: %s must be a number from %ld to %ld, got \"%s\"\n", what, min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long iterations = 255, after_writes = 5000, after_check = 3000;
	int verbose = 0, opt;
	const char *device = "/dev/nvme0n1";

	while ((opt = getopt(argc, argv, "n:w:c:v")) != -1) {
		switch (opt) {
		case 'n': iterations = number("-n", optarg, 1, 1000000); break;
		case 'w': after_writes = number("-w", optarg, 0, 3600000); break;
		case 'c': after_check = number("-c", optarg, 0, 3600000); break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: rw_test [-n ITERATIONS] [-w PAUSE_AFTER_WRITES_MS] "
					"[-c PAUSE_AFTER_CHECK_MS] [-v] [DEVICE]\n");
			return 2;
		}
	}
	if (optind < argc)
		device = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "rw_test: one device only\n");
		return 2;
	}
	/* The console is a file: every line out at once, in order with the kernel's messages. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (verbose)
		kmsg = open("/dev/kmsg", O_WRONLY);

	printf("starting rw_test test program\n");
	int fd = open(device, O_RDWR | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "failed to open device, errno = %d\n", errno);
		return 1;
	}
	unsigned char *buf;
	int ret = posix_memalign((void **)&buf, BLOCK, BLOCK);
	if (ret != 0) {
		fprintf(stderr, "failed to allocate buffer, ret = %d\n", ret);
		return 1;
	}

	for (long it = 0; it < iterations; it++) {
		printf("iteration number %ld, writing data\n", it);
		for (int value = 0; value < WRITES; value++) {
			memset(buf, value, BLOCK);
			if (verbose)
				note("write of value %d issued", value);
			long start = now_us();
			ssize_t n = pwrite(fd, buf, BLOCK, 0);
			if (n != BLOCK) {
				fprintf(stderr, "failed to write buff, ret = %zd, errno = %d\n", n, errno);
				return 1;
			}
			if (verbose)
				note("write of value %d done in %ld us", value, now_us() - start);
		}
		pause_ms(after_writes);
		printf("validating written data\n");
		memset(buf, 0xff, BLOCK);
		if (verbose)
			note("read issued");
		ssize_t n = pread(fd, buf, BLOCK, 0);
		if (n != BLOCK) {
			fprintf(stderr, "failed to read buff, ret = %zd, errno = %d\n", n, errno);
			return 1;
		}
		if (verbose && n == BLOCK)
			note("read returned value %d at byte 0", buf[0]);
		int bad = -1;
		for (int i = 0; i < BLOCK; i++) {
			if (buf[i] != WRITES - 1) {
				bad = i;
				break;
			}
		}
		if (bad >= 0) {
			fprintf(stderr, "validation failed\n");
			if (verbose)
				note("iteration %ld: byte %d read back as %d, expected %d", it, bad, buf[bad], WRITES - 1);
			return 1;
		}
		printf("successfully validated\n");
		pause_ms(after_check);
	}
	free(buf);
	close(fd);
	printf("finished rw_test test program\n");
	return 0;
}
