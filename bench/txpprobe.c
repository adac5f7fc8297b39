/* txpprobe.c: what this machine charges for the kernel work a daemon does: a system call, a page fault, a wake-up. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * run-bench.sh prints these with the machine, because they decide how a
 * machine's figures compare with another's more than the CPU model does: a
 * virtual machine whose page tables or interrupts go through its hypervisor
 * charges many times more for them (one such VM: a fault 10 to 23 us, a
 * system call 1.0 us, bench/README), and txpiped makes several a
 * transaction (its sockets, its journal's writes, its threads' hand-offs, a
 * new key's first page).
 *
 * Each figure is the median of ROUNDS rounds, so one preemption does not
 * decide it:
 *   syscall   getppid(2) through syscall(2) (the vDSO cannot answer it), a
 *             kernel entry and exit with no work in between;
 *   fault     the first write to each 4 KiB page of a fresh anonymous
 *             mapping (huge pages refused), the kernel's zeroing included;
 *   wake-up   one way of an eventfd ping-pong between two threads, each
 *             blocked in read(2) until the other writes: a wake-up and a
 *             context switch, what a hand-off to a sleeping thread costs.
 */
#define ROUNDS 5
#define SYSCALLS 100000
#define FAULT_PAGES 4096 /* 16 MiB a round */
#define PINGS 5000

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double v[ROUNDS])
{
	qsort(v, ROUNDS, sizeof(v[0]), cmp_double);
	return v[ROUNDS / 2];
}

static double syscall_us(void)
{
	double t0 = now_us();

	for (int i = 0; i < SYSCALLS; i++)
		(void)syscall(SYS_getppid);
	return (now_us() - t0) / SYSCALLS;
}

static double fault_us(void)
{
	const size_t page = 4096, len = FAULT_PAGES * page;
	volatile unsigned char *p;
	double t0, t;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
#ifdef MADV_NOHUGEPAGE
	(void)madvise((void *)p, len, MADV_NOHUGEPAGE);
#endif
	t0 = now_us();
	for (size_t i = 0; i < len; i += page)
		p[i] = 1;
	t = (now_us() - t0) / FAULT_PAGES;
	munmap((void *)p, len);
	return t;
}

struct pong {
	int ping, pong; /* eventfds: main to the thread, the thread to main */
};

static int take(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : -1;
}

static int give(int fd)
{
	uint64_t v = 1;

	return write(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : -1;
}

static void *ponger(void *arg)
{
	struct pong *pp = arg;

	for (int i = 0; i < PINGS; i++)
		if (take(pp->ping) != 0 || give(pp->pong) != 0)
			break;
	return NULL;
}

static double wakeup_us(void)
{
	struct pong pp;
	pthread_t th;
	double t0, t = -1;
	int i;

	pp.ping = eventfd(0, EFD_CLOEXEC);
	pp.pong = eventfd(0, EFD_CLOEXEC);
	if (pp.ping < 0 || pp.pong < 0 || pthread_create(&th, NULL, ponger, &pp) != 0)
		goto out;
	t0 = now_us();
	for (i = 0; i < PINGS; i++) {
		if (give(pp.ping) != 0 || take(pp.pong) != 0)
			break;
	}
	if (i == PINGS)
		t = (now_us() - t0) / PINGS / 2;
	else
		pthread_cancel(th); /* blocked in read(2), a cancellation point */
	pthread_join(th, NULL);
out:
	if (pp.ping >= 0)
		close(pp.ping);
	if (pp.pong >= 0)
		close(pp.pong);
	return t;
}

int main(void)
{
	double s[ROUNDS], f[ROUNDS], w[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		s[r] = syscall_us();
		f[r] = fault_us();
		w[r] = wakeup_us();
	}
	printf("syscall %.2f us, page fault %.2f us, thread wake-up %.2f us\n", median(s), median(f), median(w));
	return 0;
}
