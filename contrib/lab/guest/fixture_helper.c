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
 *   fixhold TARGET PAYLOAD -
 *               as fixcrash without waiting: writes `hold` to /proc/crashme at once (crashme keeps its mutex
 *               there, sleeping), for the hung-task scenario.
 *   fixactor    what the task commands (files, vm, sig, ps, ipcs, net) must show: a pipe, unix, TCP and UDP
 *               sockets on lo, an eventfd, a shared file mapping and a private anonymous one, a SIGUSR1
 *               handler, SIGUSR2 ignored, SIGTERM blocked, a pending real-time signal, a second thread, a
 *               zombie child (fixzombie) and a stopped one (fixstopped), SysV shm/sem/msg objects; it reports
 *               all of it (fds from /proc/self/fd, maps from /proc/self/maps, masks from /proc/self/status),
 *               then sleeps forever.
 *   fixbusy GOFILE SPINFILE CPU
 *               SCHED_FIFO on CPU, reports, waits for GOFILE, creates SPINFILE and spins in user space (the
 *               task busy on that CPU when the kernel crashes).
 * FIXTURE_CPU=N in the environment pins an actor to CPU N (/init pins fixcrash to CPU 0).
 * Facts are single lines "FIXTURE-FACT <kind> key=value ..." written with one write() each to $FIXTURE_FACTS
 * (default /dev/ttyS2).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
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
	emit(facts_path(), "FIXTURE-FACT %s pid=%d target=%s payload=%s cpu=%d comm=%s",
	     strcmp(name, "fixhold") ? "trigger" : "holder", getpid(), target, payload, sched_getcpu(), name);
	ready(name);
	/* Wait at most 10 minutes for the go signal ("-": none). */
	for (i = 0; strcmp(gofile, "-") && i < 12000 && stat(gofile, &st) != 0; i++)
		usleep(50000);
	if (strcmp(gofile, "-") && stat(gofile, &st) != 0) {
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

/* ---------------------------------------------------------------- fixactor: state for the task commands */

#define ACTOR_TCP_PORT 7701
#define ACTOR_UDP_PORT 7702
#define ACTOR_SHM_KEY 0x46580001
#define ACTOR_SEM_KEY 0x46580002
#define ACTOR_MSG_KEY 0x46580003
#define ACTOR_SHM_SIZE 65536
#define ACTOR_ANON_PAGES 3
#define ACTOR_FILE_PAGES 2
#define ACTOR_FILE "/tmp/fixactor.data"
#define ACTOR_SOCK "/tmp/fixactor.sock"

struct actor_fd {
	int fd;
	const char *kind;
};

static struct actor_fd actor_fds[32];
static int actor_nfds;
static volatile sig_atomic_t actor_usr1;
static volatile pid_t actor_thread_tid;

static void actor_keep(int fd, const char *kind)
{
	if (fd >= 0 && actor_nfds < (int)(sizeof(actor_fds) / sizeof(actor_fds[0]))) {
		actor_fds[actor_nfds].fd = fd;
		actor_fds[actor_nfds].kind = kind;
		actor_nfds++;
	}
}

static void actor_on_usr1(int sig)
{
	(void)sig;
	actor_usr1++;
}

static void *actor_thread(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "fixactor_thr", 0, 0, 0);
	actor_thread_tid = (pid_t)syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

/* A child that ends at once (left unreaped: a zombie) or stops itself (state T). */
static pid_t actor_child(const char *comm, int stop)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_NAME, comm, 0, 0, 0);
		if (stop)
			raise(SIGSTOP);
		_exit(7);
	}
	return pid;
}

/* The state letter of /proc/PID/stat, waiting (bounded) until it is `want`. */
static char actor_wait_state(pid_t pid, char want)
{
	char path[64], buf[512], *p;
	char st = '?';
	int i, fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 500; i++) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			break;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			p = strrchr(buf, ')');
			if (p && p[1] == ' ')
				st = p[2];
		}
		if (st == want)
			break;
		usleep(10000);
	}
	return st;
}

static int actor_tcp(int *client, int *server)
{
	struct sockaddr_in a;
	int lfd, one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(ACTOR_TCP_PORT);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return -1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0) {
		close(lfd);
		return -1;
	}
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client >= 0 && connect(*client, (struct sockaddr *)&a, sizeof(a)) == 0)
		*server = accept(lfd, NULL, NULL);
	return lfd;
}

static void actor_report_fds(pid_t pid)
{
	char path[64], link[256];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int i, fd, dfd = d ? dirfd(d) : -1;
	ssize_t n;

	while (d && (e = readdir(d)) != NULL) {
		const char *kind = "inherited";

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dfd)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		for (i = 0; i < actor_nfds; i++)
			if (actor_fds[i].fd == fd)
				kind = actor_fds[i].kind;
		emit(facts_path(), "FIXTURE-FACT fd pid=%d fd=%d kind=%s link=%s", pid, fd, kind, link);
	}
	if (d)
		closedir(d);
}

/* Every line of /proc/self/maps: start-end perms offset dev inode [path]. */
static void actor_report_maps(pid_t pid)
{
	char line[512], start[32], end[32], perms[8], off[32], dev[16], path[256];
	unsigned long inode;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		path[0] = '\0';
		if (sscanf(line, "%31[0-9a-f]-%31[0-9a-f] %7s %31s %15s %lu %255[^\n]", start, end, perms, off, dev,
			   &inode, path) < 6)
			continue;
		emit(facts_path(),
		     "FIXTURE-FACT map pid=%d start=0x%s end=0x%s perms=%s offset=0x%s dev=%s inode=%lu path=%s", pid,
		     start, end, perms, off, dev, inode, path);
	}
	if (f)
		fclose(f);
}

static void actor_report_status(pid_t pid)
{
	static const char *keys[] = { "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "Threads" };
	char line[256], out[512];
	size_t len = 0, i;
	FILE *f = fopen("/proc/self/status", "r");

	len += snprintf(out, sizeof(out), "FIXTURE-FACT sigstatus pid=%d", pid);
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *v;

		if (!colon)
			continue;
		*colon = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(line, keys[i]))
				continue;
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			v[strcspn(v, "\n")] = '\0';
			len += snprintf(out + len, sizeof(out) - len, " %s=%s", line, v);
		}
	}
	if (f)
		fclose(f);
	emit(facts_path(), "%s", out);
}

static int actor(const char *name)
{
	pid_t pid = getpid(), zombie, stopped;
	int pfd[2], upair[2], lsock, tcp_client = -1, tcp_server = -1, tcp_listen, udp, efd, ffd;
	int shmid, semid, msgid, rtsig = SIGRTMIN + 1, i;
	struct sigaction sa;
	struct sockaddr_un un;
	struct sockaddr_in ua;
	sigset_t block;
	pthread_t thr;
	char *anon, *shared, *shm;
	struct {
		long mtype;
		char text[32];
	} msg = { 1, "CRASHCOMPAT-MSG" };

	/* Signals: a SIGUSR1 handler, SIGUSR2 ignored, SIGTERM and SIGRTMIN+1 blocked (in both threads). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = actor_on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, rtsig);
	sigprocmask(SIG_BLOCK, &block, NULL);

	/* Files: a pipe, a unix socket pair and a listening unix socket, TCP (listener, client, accepted) and
	 * UDP sockets on 127.0.0.1, an eventfd, and a file mapped shared. */
	if (pipe(pfd) == 0) {
		actor_keep(pfd[0], "pipe-read");
		actor_keep(pfd[1], "pipe-write");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, upair) == 0) {
		actor_keep(upair[0], "unix-stream-pair");
		actor_keep(upair[1], "unix-stream-pair");
	}
	lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", ACTOR_SOCK);
	unlink(ACTOR_SOCK);
	if (lsock >= 0 && bind(lsock, (struct sockaddr *)&un, sizeof(un)) == 0 && listen(lsock, 4) == 0)
		actor_keep(lsock, "unix-listen");
	tcp_listen = actor_tcp(&tcp_client, &tcp_server);
	actor_keep(tcp_listen, "tcp-listen");
	actor_keep(tcp_server >= 0 ? tcp_client : -1, "tcp-client");
	actor_keep(tcp_server, "tcp-accepted");
	if (tcp_server < 0)
		emit(facts_path(), "FIXTURE-FACT error text=fixactor: no TCP connection on 127.0.0.1 (lo down?)");
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ua, 0, sizeof(ua));
	ua.sin_family = AF_INET;
	ua.sin_port = htons(ACTOR_UDP_PORT);
	ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (udp >= 0 && bind(udp, (struct sockaddr *)&ua, sizeof(ua)) == 0)
		actor_keep(udp, "udp");
	efd = eventfd(7, 0);
	actor_keep(efd, "eventfd");
	ffd = open(ACTOR_FILE, O_RDWR | O_CREAT | O_TRUNC, 0644);
	actor_keep(ffd, "file");
	shared = MAP_FAILED;
	if (ffd >= 0 && ftruncate(ffd, ACTOR_FILE_PAGES * PAGE) == 0)
		shared = mmap(NULL, ACTOR_FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	if (shared != MAP_FAILED)
		snprintf(shared, PAGE, "CRASHCOMPAT-SHARED-FILE name=%s", name);
	anon = mmap(NULL, ACTOR_ANON_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon != MAP_FAILED)
		for (i = 0; i < ACTOR_ANON_PAGES; i++)
			snprintf(anon + i * PAGE, PAGE, "CRASHCOMPAT-ANON page=%d name=%s", i, name);

	/* SysV IPC: a shared memory segment (attached), a set of 3 semaphores, a queue with one message. */
	shmid = shmget(ACTOR_SHM_KEY, ACTOR_SHM_SIZE, IPC_CREAT | 0600);
	shm = shmid >= 0 ? shmat(shmid, NULL, 0) : (void *)-1;
	if (shm != (void *)-1)
		snprintf(shm, PAGE, "CRASHCOMPAT-SHM name=%s", name);
	semid = semget(ACTOR_SEM_KEY, 3, IPC_CREAT | 0600);
	if (semid >= 0)
		semctl(semid, 0, SETVAL, 5);
	msgid = msgget(ACTOR_MSG_KEY, IPC_CREAT | 0600);
	if (msgid >= 0)
		msgsnd(msgid, &msg, strlen(msg.text) + 1, IPC_NOWAIT);

	/* A second thread, a zombie and a stopped child, then the pending real-time signal. */
	if (pthread_create(&thr, NULL, actor_thread, NULL) == 0)
		for (i = 0; i < 500 && !actor_thread_tid; i++)
			usleep(10000);
	zombie = actor_child("fixzombie", 0);
	stopped = actor_child("fixstopped", 1);
	kill(pid, rtsig);

	emit(facts_path(), "FIXTURE-FACT actor pid=%d thread=%d zombie=%d stopped=%d comm=%s", pid,
	     (int)actor_thread_tid, zombie, stopped, name);
	emit(facts_path(), "FIXTURE-FACT actor_thread pid=%d tid=%d comm=fixactor_thr", pid, (int)actor_thread_tid);
	emit(facts_path(), "FIXTURE-FACT actor_child pid=%d ppid=%d kind=zombie state=%c comm=fixzombie", zombie,
	     pid, zombie > 0 ? actor_wait_state(zombie, 'Z') : '?');
	emit(facts_path(), "FIXTURE-FACT actor_child pid=%d ppid=%d kind=stopped state=%c comm=fixstopped", stopped,
	     pid, stopped > 0 ? actor_wait_state(stopped, 'T') : '?');
	emit(facts_path(), "FIXTURE-FACT actor_signal pid=%d num=%d name=SIGUSR1 disposition=handler handler=%p",
	     pid, SIGUSR1, (void *)actor_on_usr1);
	emit(facts_path(), "FIXTURE-FACT actor_signal pid=%d num=%d name=SIGUSR2 disposition=ignore", pid, SIGUSR2);
	emit(facts_path(), "FIXTURE-FACT actor_signal pid=%d num=%d name=SIGTERM disposition=default blocked=1", pid,
	     SIGTERM);
	emit(facts_path(),
	     "FIXTURE-FACT actor_signal pid=%d num=%d name=SIGRTMIN+1 disposition=default blocked=1 pending=shared",
	     pid, rtsig);
	if (shared != MAP_FAILED)
		emit(facts_path(), "FIXTURE-FACT actor_mapping pid=%d what=shared_file start=%p size=%d path=%s", pid,
		     (void *)shared, ACTOR_FILE_PAGES * PAGE, ACTOR_FILE);
	if (anon != MAP_FAILED)
		emit(facts_path(), "FIXTURE-FACT actor_mapping pid=%d what=private_anon start=%p size=%d", pid,
		     (void *)anon, ACTOR_ANON_PAGES * PAGE);
	if (shm != (void *)-1)
		emit(facts_path(), "FIXTURE-FACT actor_mapping pid=%d what=sysv_shm start=%p size=%d", pid, (void *)shm,
		     ACTOR_SHM_SIZE);
	emit(facts_path(), "FIXTURE-FACT ipc kind=shm key=0x%x id=%d size=%d nattch=1 cpid=%d", ACTOR_SHM_KEY, shmid,
	     ACTOR_SHM_SIZE, pid);
	emit(facts_path(), "FIXTURE-FACT ipc kind=sem key=0x%x id=%d nsems=3 cpid=%d", ACTOR_SEM_KEY, semid, pid);
	emit(facts_path(), "FIXTURE-FACT ipc kind=msg key=0x%x id=%d messages=1 bytes=%d cpid=%d", ACTOR_MSG_KEY,
	     msgid, (int)strlen(msg.text) + 1, pid);
	if (tcp_server >= 0)
		emit(facts_path(), "FIXTURE-FACT actor_net pid=%d tcp_port=%d udp_port=%d unix_path=%s", pid,
		     ACTOR_TCP_PORT, ACTOR_UDP_PORT, ACTOR_SOCK);
	else
		emit(facts_path(), "FIXTURE-FACT actor_net pid=%d tcp_port=0 udp_port=%d unix_path=%s", pid,
		     ACTOR_UDP_PORT, ACTOR_SOCK);
	actor_report_fds(pid);
	actor_report_maps(pid);
	actor_report_status(pid);
	ready(name);
	for (;;)
		pause();
	return 0;
}

/* ---------------------------------------------------------------- fixbusy: a SCHED_FIFO task spinning on a CPU */

static int busy(const char *name, int argc, char **argv)
{
	struct sched_param sp = { .sched_priority = 10 };
	const char *gofile, *spinfile;
	volatile unsigned long spins = 0;
	struct stat st;
	cpu_set_t set;
	int cpu, i, fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s GOFILE SPINFILE CPU\n", name);
		return 2;
	}
	gofile = argv[1];
	spinfile = argv[2];
	cpu = atoi(argv[3]);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0 || sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
		emit(facts_path(), "FIXTURE-FACT error text=%s cannot run SCHED_FIFO on CPU %d: %s", name, cpu,
		     strerror(errno));
		return 1;
	}
	emit(facts_path(), "FIXTURE-FACT busy pid=%d cpu=%d policy=SCHED_FIFO priority=%d comm=%s", getpid(), cpu,
	     sp.sched_priority, name);
	ready(name);
	for (i = 0; i < 60000 && stat(gofile, &st) != 0; i++)
		usleep(10000);
	fd = open(spinfile, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	for (;;)
		spins++;
	return 0;
}

int main(int argc, char **argv)
{
	char *name = basename(argv[0]);
	const char *cpu = getenv("FIXTURE_CPU");

	prctl(PR_SET_NAME, name, 0, 0, 0);
	if (cpu && *cpu) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(atoi(cpu), &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			emit(facts_path(), "FIXTURE-FACT error text=%s cannot pin itself to CPU %s", name, cpu);
	}
	if (!strncmp(name, "fixsleep", 8))
		return sleeper(name);
	if (!strcmp(name, "fixcrash") || !strcmp(name, "fixkgdb") || !strcmp(name, "fixhold"))
		return trigger(name, argc, argv);
	if (!strcmp(name, "fixactor"))
		return actor(name);
	if (!strcmp(name, "fixbusy"))
		return busy(name, argc, argv);
	if (!strcmp(name, "fixspawn"))
		return spawner(name, argc, argv);
	fprintf(stderr, "fixture_helper: unknown personality %s\n", name);
	return 2;
}
