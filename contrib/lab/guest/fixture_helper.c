/*
 * fixture_helper: the crash lab's user-space actors. One static binary, installed under several names; what it
 * does depends on the name it runs as (so that its comm is that name):
 *   fixsleep_*  map NPAGES anonymous pages, write "CRASHCOMPAT-USER-MAGIC page=N name=<comm>" at the start of
 *               each, report pid and the address on the facts port, then sleep forever;
 *   fixcrash TARGET PAYLOAD GOFILE
 *   fixkgdb  TARGET PAYLOAD GOFILE
 *               report pid, wait (bounded) until GOFILE exists, then write PAYLOAD to TARGET
 *               (/proc/sysrq-trigger or /proc/crashme): that crashes the kernel (or enters KGDB).
 *   fixspawn N  fork N children named fixidle that sleep forever (the `scale` scenario's task count), report
 *               once all of them run under that name, then sleep forever.
 * Facts are single lines "FIXTURE-FACT <kind> key=value ..." written with one write() each to $FIXTURE_FACTS
 * (default /dev/ttyS2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 4
#define PAGE 4096

static void emit(const char *path, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fd = open(path, O_WRONLY | O_NOCTTY | O_APPEND);
	if (fd < 0)
		return;
	if (write(fd, buf, n) < 0)
		perror("write");
	close(fd);
}

static const char *facts_path(void)
{
	const char *p = getenv("FIXTURE_FACTS");

	return p && *p ? p : "/dev/ttyS2";
}

/* A "FIXTURE: ..." line in the kernel log, also reported as a marker fact. */
static void marker(const char *text)
{
	emit("/dev/kmsg", "FIXTURE: %s", text);
	emit(facts_path(), "FIXTURE-FACT marker text=FIXTURE: %s", text);
}

/* Tell /init that this actor has reported its facts. */
static void ready(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/tmp/ready.%s", name);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
}

static int sleeper(const char *name)
{
	char *mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i;

	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < NPAGES; i++)
		snprintf(mem + i * PAGE, PAGE, "CRASHCOMPAT-USER-MAGIC page=%d name=%s", i, name);
	char text[256];

	snprintf(text, sizeof(text), "sleeper %s pid=%d marker=%p pages=%d", name, getpid(), (void *)mem, NPAGES);
	marker(text);
	emit(facts_path(), "FIXTURE-FACT sleeper pid=%d marker_address=%p pages=%d comm=%s",
	     getpid(), (void *)mem, NPAGES, name);
	ready(name);
	for (;;)
		pause();
	return 0;
}

static int trigger(const char *name, int argc, char **argv)
{
	const char *target, *payload, *gofile;
	struct stat st;
	char text[256];
	int i, fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s TARGET PAYLOAD GOFILE\n", name);
		return 2;
	}
	target = argv[1];
	payload = argv[2];
	gofile = argv[3];
	emit(facts_path(), "FIXTURE-FACT trigger pid=%d target=%s payload=%s comm=%s", getpid(), target, payload,
	     name);
	ready(name);
	/* Wait at most 10 minutes for the go signal. */
	for (i = 0; i < 12000 && stat(gofile, &st) != 0; i++)
		usleep(50000);
	if (stat(gofile, &st) != 0) {
		emit(facts_path(), "FIXTURE-FACT error text=%s never got the go signal", name);
		return 1;
	}
	snprintf(text, sizeof(text), "%s pid=%d writes '%s' to %s", name, getpid(), payload, target);
	marker(text);
	fd = open(target, O_WRONLY);
	if (fd < 0) {
		emit(facts_path(), "FIXTURE-FACT error text=%s cannot open %s: %s", name, target, strerror(errno));
		return 1;
	}
	if (write(fd, payload, strlen(payload)) < 0 && strcmp(name, "fixkgdb") != 0)
		emit(facts_path(), "FIXTURE-FACT error text=%s write to %s failed: %s", name, target, strerror(errno));
	close(fd);
	emit(facts_path(), "FIXTURE-FACT trigger_returned pid=%d comm=%s", getpid(), name);
	return 0;
}

static int spawner(const char *name, int argc, char **argv)
{
	int fds[2], i, n, got = 0;
	char c;

	if (argc < 2 || (n = atoi(argv[1])) <= 0) {
		fprintf(stderr, "usage: %s N\n", name);
		return 2;
	}
	if (pipe(fds) < 0) {
		perror("pipe");
		return 1;
	}
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			emit(facts_path(), "FIXTURE-FACT error text=%s: fork %d of %d failed: %s", name, i, n,
			     strerror(errno));
			return 1;
		}
		if (pid == 0) {
			/* Renamed before the parent reports: /init's task listing sees every child as fixidle. */
			prctl(PR_SET_NAME, "fixidle", 0, 0, 0);
			close(fds[0]);
			if (write(fds[1], "x", 1) < 0)
				_exit(1);
			close(fds[1]);
			for (;;)
				pause();
		}
	}
	close(fds[1]);
	while (got < n && read(fds[0], &c, 1) == 1)
		got++;
	close(fds[0]);
	emit(facts_path(), "FIXTURE-FACT spawn pid=%d count=%d child_comm=fixidle comm=%s", getpid(), got, name);
	ready(name);
	for (;;)
		pause();
	return 0;
}

int main(int argc, char **argv)
{
	char *name = basename(argv[0]);

	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (!strncmp(name, "fixsleep", 8))
		return sleeper(name);
	if (!strcmp(name, "fixcrash") || !strcmp(name, "fixkgdb"))
		return trigger(name, argc, argv);
	if (!strcmp(name, "fixspawn"))
		return spawner(name, argc, argv);
	fprintf(stderr, "fixture_helper: unknown personality %s\n", name);
	return 2;
}
