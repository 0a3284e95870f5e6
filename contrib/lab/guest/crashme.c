// SPDX-License-Identifier: GPL-2.0
/*
 * crashme: the crash lab's test module. It leaves known facts in kernel memory for the dump tests
 * (a magic value, a string, a list of CRASHME_NOBJ objects in their own slab cache, a kthread) and crashes
 * the kernel on request: `echo null|panic|bug|warn|softlockup|rcu|hung|oom|kfence > /proc/crashme` (the
 * triage scenarios: each needs the sysctls /init sets for it; `hold` takes crashme_mutex and sleeps holding it,
 * so that a later `hung` blocks in D state).
 * The parameter extra_objects=N (default 0; the lab's `scale` scenario) allocates N more objects from the same
 * cache, on their own list crashme_extra_list, so that slab walkers have many objects to count.
 * Reading /proc/crashme prints the facts as "key=value" lines.
 */
#include <linux/module.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/list.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/rcupdate.h>
#include <linux/bug.h>
#include <linux/io.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/xarray.h>
#include <linux/mutex.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#ifdef CONFIG_KFENCE
#include <linux/kfence.h>
#endif

#define CRASHME_NOBJ 17

/*
 * The same source builds against every kernel of the lab (Debian 11's 5.10 to unstable's 7.x), with the
 * compiler of the kernel's own suite; nothing here depends on an API that changed in between. The functions
 * below are global on purpose (the tests look their symbols up); the declarations keep -Wmissing-prototypes
 * (on by default since Linux 6.8) quiet.
 */
int crashme_deref(int *p);
void crashme_do_panic(const char *who);
void crashme_do_bug(void);
void crashme_do_warn(void);
void crashme_do_softlockup(void);
void crashme_do_rcu_stall(void);
void crashme_hold_mutex(void);
void crashme_do_hung(void);
void crashme_do_oom(void);
int crashme_do_kfence(void);

struct crashme_obj {
	int index;
	char tag[16];
	unsigned long cookie;
	struct list_head node;
};

unsigned long crashme_magic = 0xc0ffee11deadbeefUL;
char crashme_banner[] = "crashme fixture module v1";
LIST_HEAD(crashme_list);
int crashme_nobj;
LIST_HEAD(crashme_extra_list);
int crashme_nextra;
static int extra_objects;
module_param(extra_objects, int, 0444);
MODULE_PARM_DESC(extra_objects, "objects allocated from crashme_obj besides the 17 of crashme_list");
int *crashme_nullptr;
struct kmem_cache *crashme_cache;
struct task_struct *crashme_task;
static struct proc_dir_entry *crashme_proc;
/* The triage scenarios: the mutex `hold` keeps and `hung` waits for, its holder, the RCU callback that makes
 * RCU start the grace period `rcu` stalls, and the pages `oom` takes. */
DEFINE_MUTEX(crashme_mutex);
int crashme_mutex_holder;
static struct rcu_head crashme_rcu_head;
unsigned long crashme_oom_pages;

/* A constructor keeps SLUB from merging this cache into another one of the same size. */
static void crashme_ctor(void *p)
{
	memset(p, 0, sizeof(struct crashme_obj));
}

noinline int crashme_deref(int *p)
{
	return READ_ONCE(*p);
}

noinline void crashme_do_panic(const char *who)
{
	panic("crashme: panic requested by %s", who);
}

noinline void crashme_do_bug(void)
{
	BUG();
}

/* WARN with panic_on_warn=1: __warn() panics in this task. */
noinline void crashme_do_warn(void)
{
	WARN(1, "crashme: warning requested by %s\n", current->comm);
}

/* Spin with preemption off and interrupts on: the watchdog's hrtimer on this CPU sees that its per-CPU
 * stopper never ran (softlockup_panic=1 panics there). */
noinline void crashme_do_softlockup(void)
{
	preempt_disable();
	for (;;)
		cpu_relax();
}

static void crashme_rcu_cb(struct rcu_head *head)
{
}

/* Spin inside an RCU read-side section with preemption off, after queueing a callback so that RCU starts a
 * grace period this CPU never lets end: the stall detector (rcu_cpu_stall_timeout, panic_on_rcu_stall=1)
 * reports it from this CPU's tick. */
noinline void crashme_do_rcu_stall(void)
{
	rcu_read_lock();
	preempt_disable();
	call_rcu(&crashme_rcu_head, crashme_rcu_cb);
	for (;;)
		cpu_relax();
}

/* Take crashme_mutex and keep it, sleeping interruptibly (state S), until a signal comes. */
noinline void crashme_hold_mutex(void)
{
	mutex_lock(&crashme_mutex);
	WRITE_ONCE(crashme_mutex_holder, task_pid_nr(current));
	pr_info("crashme: %s[%d] holds crashme_mutex\n", current->comm, task_pid_nr(current));
	while (!signal_pending(current))
		msleep_interruptible(3600 * 1000);
	WRITE_ONCE(crashme_mutex_holder, 0);
	mutex_unlock(&crashme_mutex);
}

/* Wait for crashme_mutex in state D: khungtaskd reports (and with hung_task_panic=1 panics) after
 * hung_task_timeout_secs. */
noinline void crashme_do_hung(void)
{
	mutex_lock(&crashme_mutex);
	mutex_unlock(&crashme_mutex);
}

/* Take every page the allocator gives (and never give them back): with vm.panic_on_oom=1 the OOM killer's
 * first call panics in this task. */
noinline void crashme_do_oom(void)
{
	for (;;) {
		struct page *page = alloc_page(GFP_KERNEL);

		if (!page)
			break;
		crashme_oom_pages++;
	}
	pr_err("crashme: the allocator failed after %lu pages without an OOM panic\n", crashme_oom_pages);
}

#ifdef CONFIG_KFENCE
/* A use-after-free read of a KFENCE object: kmalloc until KFENCE hands out an object (kfence.sample_interval
 * must be set at boot), free it and read it. KFENCE reports the fault; panic_on_warn=1 panics. */
noinline int crashme_do_kfence(void)
{
	int i;

	for (i = 0; i < 20000; i++) {
		int *p = kmalloc(32, GFP_KERNEL);

		if (!p)
			return -ENOMEM;
		if (is_kfence_address(p)) {
			pr_info("crashme: KFENCE object at %px after %d allocations\n", p, i + 1);
			kfree(p);
			return READ_ONCE(*p);
		}
		kfree(p);
		usleep_range(200, 400);
	}
	pr_err("crashme: KFENCE gave no object in %d allocations (kfence.sample_interval=0?)\n", i);
	return -EAGAIN;
}
#else
noinline int crashme_do_kfence(void)
{
	pr_err("crashme: this kernel has no KFENCE\n");
	return -EOPNOTSUPP;
}
#endif

static int crashme_kthread_fn(void *unused)
{
	while (!kthread_should_stop())
		msleep_interruptible(1000);
	return 0;
}

static int crashme_show(struct seq_file *m, void *v)
{
	struct crashme_obj *obj;
	struct task_struct *task;
	int ntasks = 0;
	void *head;

	seq_printf(m, "magic=0x%lx\n", crashme_magic);
	seq_printf(m, "banner=%s\n", crashme_banner);
	seq_printf(m, "objects=%d\n", crashme_nobj);
	seq_printf(m, "cache=%s\n", "crashme_obj");
	seq_printf(m, "objsize=%zu\n", sizeof(struct crashme_obj));
	seq_printf(m, "kthread_pid=%d\n", crashme_task ? task_pid_nr(crashme_task) : -1);
	if (crashme_nextra)
		seq_printf(m, "extra_objects=%d\n", crashme_nextra);
	if (READ_ONCE(crashme_mutex_holder))
		seq_printf(m, "mutex_holder=%d\n", READ_ONCE(crashme_mutex_holder));
	/*
	 * Kernel objects in slab pages, with their physical addresses: the lab checks that a filtered dump still
	 * holds these pages (the task_struct of every process, at most 200; the reader's struct pid; the top
	 * node of the pid IDR).
	 */
	rcu_read_lock();
	for_each_process(task) {
		if (++ntasks > 200)
			break;
		seq_printf(m, "kobj name=task_struct pid=%d address=0x%px phys=0x%llx\n", task_pid_nr(task), task,
			   (unsigned long long)virt_to_phys(task));
	}
	rcu_read_unlock();
	seq_printf(m, "kobj name=pid address=0x%px phys=0x%llx\n", task_pid(current),
		   (unsigned long long)virt_to_phys(task_pid(current)));
	head = rcu_dereference_raw(init_pid_ns.idr.idr_rt.xa_head);
	if (xa_is_node(head))
		seq_printf(m, "kobj name=pid_idr_node address=0x%px phys=0x%llx\n", xa_to_node(head),
			   (unsigned long long)virt_to_phys(xa_to_node(head)));

	list_for_each_entry(obj, &crashme_list, node)
		seq_printf(m, "obj index=%d tag=%s address=0x%px phys=0x%llx\n", obj->index, obj->tag, obj,
			   (unsigned long long)virt_to_phys(obj));
	return 0;
}

static int crashme_open(struct inode *inode, struct file *file)
{
	return single_open(file, crashme_show, NULL);
}

static ssize_t crashme_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	char cmd[16] = "";
	size_t n = min(count, sizeof(cmd) - 1);

	if (copy_from_user(cmd, ubuf, n))
		return -EFAULT;
	cmd[n] = '\0';
	strim(cmd);
	pr_info("crashme: '%s' requested by %s[%d]\n", cmd, current->comm, task_pid_nr(current));
	if (!strcmp(cmd, "null"))
		return crashme_deref(READ_ONCE(crashme_nullptr));
	if (!strcmp(cmd, "panic"))
		crashme_do_panic(current->comm);
	if (!strcmp(cmd, "bug"))
		crashme_do_bug();
	if (!strcmp(cmd, "warn")) {
		crashme_do_warn();
		return count;
	}
	if (!strcmp(cmd, "softlockup"))
		crashme_do_softlockup();
	if (!strcmp(cmd, "rcu"))
		crashme_do_rcu_stall();
	if (!strcmp(cmd, "hold")) {
		crashme_hold_mutex();
		return count;
	}
	if (!strcmp(cmd, "hung")) {
		crashme_do_hung();
		return count;
	}
	if (!strcmp(cmd, "oom")) {
		crashme_do_oom();
		return -ENOMEM;
	}
	if (!strcmp(cmd, "kfence")) {
		int ret = crashme_do_kfence();

		return ret < 0 ? ret : count;
	}
	return -EINVAL;
}

static const struct proc_ops crashme_proc_ops = {
	.proc_open = crashme_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = crashme_write,
};

static void crashme_free_list(void)
{
	struct crashme_obj *obj, *tmp;

	list_for_each_entry_safe(obj, tmp, &crashme_list, node) {
		list_del(&obj->node);
		kmem_cache_free(crashme_cache, obj);
	}
	crashme_nobj = 0;
	list_for_each_entry_safe(obj, tmp, &crashme_extra_list, node) {
		list_del(&obj->node);
		kmem_cache_free(crashme_cache, obj);
	}
	crashme_nextra = 0;
}

static int __init crashme_init(void)
{
	int i;

	crashme_cache = kmem_cache_create("crashme_obj", sizeof(struct crashme_obj), 0, 0, crashme_ctor);
	if (!crashme_cache)
		return -ENOMEM;
	for (i = 0; i < CRASHME_NOBJ; i++) {
		struct crashme_obj *obj = kmem_cache_alloc(crashme_cache, GFP_KERNEL);

		if (!obj) {
			crashme_free_list();
			kmem_cache_destroy(crashme_cache);
			return -ENOMEM;
		}
		obj->index = i;
		snprintf(obj->tag, sizeof(obj->tag), "obj%02d", i);
		obj->cookie = crashme_magic ^ i;
		list_add_tail(&obj->node, &crashme_list);
		crashme_nobj++;
	}
	for (i = 0; i < extra_objects; i++) {
		struct crashme_obj *obj = kmem_cache_alloc(crashme_cache, GFP_KERNEL);

		if (!obj) {
			crashme_free_list();
			kmem_cache_destroy(crashme_cache);
			return -ENOMEM;
		}
		obj->index = CRASHME_NOBJ + i;
		obj->cookie = crashme_magic ^ obj->index;
		list_add_tail(&obj->node, &crashme_extra_list);
		crashme_nextra++;
		if (!(i & 1023))
			cond_resched();
	}
	crashme_task = kthread_run(crashme_kthread_fn, NULL, "crashme_kthread");
	if (IS_ERR(crashme_task)) {
		crashme_task = NULL;
		crashme_free_list();
		kmem_cache_destroy(crashme_cache);
		return -ENOMEM;
	}
	crashme_proc = proc_create("crashme", 0600, NULL, &crashme_proc_ops);
	pr_info("crashme: %s loaded, magic 0x%lx, %d objects\n", crashme_banner, crashme_magic, crashme_nobj);
	if (crashme_nextra)
		pr_info("crashme: %d extra objects\n", crashme_nextra);
	return 0;
}

static void __exit crashme_exit(void)
{
	proc_remove(crashme_proc);
	if (crashme_task)
		kthread_stop(crashme_task);
	crashme_free_list();
	kmem_cache_destroy(crashme_cache);
}

module_init(crashme_init);
module_exit(crashme_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("crashcompat crash lab test module");
