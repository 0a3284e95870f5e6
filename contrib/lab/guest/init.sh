#!/bin/sh
# /init of the crash lab guests (busybox sh). One script for every kernel the lab boots:
#   - /proc/vmcore exists           -> capture kernel of a real kdump: save the dump files to /dev/vda
#   - fixture.mode=kdump            -> load the capture kernel with kexec -p, then crash
#   - fixture.mode=qemu             -> crash; the host dumps memory over QMP
#   - fixture.mode=live             -> stay up (gdbstub / drgn --qemu)
#   - fixture.mode=kgdb             -> enter KGDB with sysrq-g from the process `fixkgdb`
# fixture.crash=sysrq|null|panic|bug|warn|softlockup|rcu|hung|oom|kfence picks how the process `fixcrash`
# crashes the kernel (the last six after arming the sysctls that turn their report into a panic, see arm()).
# fixture.busy=1 adds the SCHED_FIFO task `fixbusy` that spins on CPU 1 from the go signal on (the triage
# scenarios warn, softlockup and kfence; not the default dumps, whose CPU 1 stays idle). fixcrash runs on CPU 0.
# fixture.spawn=N (the `scale` scenario) adds N sleeping processes `fixidle`; fixture.extra_objects=N loads
# crashme with extra_objects=N (N more objects in its slab cache). Both default to 0.
# Facts for the host go to the third serial port (ttyS2) as "FIXTURE-FACT <kind> key=value ..." lines, so that
# kernel console output cannot interleave with them.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox mount -t tmpfs tmpfs /run
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
/bin/busybox --install -s

FACTS=/dev/ttyS2
export FIXTURE_FACTS=$FACTS
stty -F $FACTS raw -echo 115200 2>/dev/null

fact() { echo "FIXTURE-FACT $*" > $FACTS; }
say() { echo "crashlab-init: $*" > /dev/console; }
kmsg() { echo "FIXTURE: $*" > /dev/kmsg; fact marker "text=FIXTURE: $*"; }
fail() { fact error "text=$*"; say "ERROR: $*"; sleep 2; echo o > /proc/sysrq-trigger; sleep 100000; }

MODE=qemu
CRASH=sysrq
SCENARIO=unknown
SPAWN=0
EXTRA_OBJECTS=0
BUSY=0
read -r CMDLINE < /proc/cmdline
for w in $CMDLINE; do
    case "$w" in
        fixture.mode=*) MODE=${w#fixture.mode=} ;;
        fixture.crash=*) CRASH=${w#fixture.crash=} ;;
        fixture.scenario=*) SCENARIO=${w#fixture.scenario=} ;;
        fixture.spawn=*) SPAWN=${w#fixture.spawn=} ;;
        fixture.extra_objects=*) EXTRA_OBJECTS=${w#fixture.extra_objects=} ;;
        fixture.busy=*) BUSY=${w#fixture.busy=} ;;
    esac
done

load() {
    for m in "$@"; do
        if [ -e /lib/modules/$m.ko ]; then
            args=
            [ "$m" = crashme ] && [ "$EXTRA_OBJECTS" != 0 ] && args="extra_objects=$EXTRA_OBJECTS"
            insmod /lib/modules/$m.ko $args || fail "insmod $m failed"
        fi
    done
}

# ---------------------------------------------------------------- capture kernel (real kdump)
if [ -e /proc/vmcore ]; then
    fact capture_start release=$(uname -r)
    load virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
    n=0
    while [ ! -b /dev/vda ] && [ $n -lt 120 ]; do sleep 0.5; n=$((n + 1)); done
    [ -b /dev/vda ] || fail "no /dev/vda in the capture kernel"
    mount -t ext4 /dev/vda /mnt || fail "cannot mount /dev/vda"
    # kdump-tools layout: /var/crash/YYYYMMDDHHMM/{dump,dmesg}.YYYYMMDDHHMM
    TS=$(date +%Y%m%d%H%M)
    D=/mnt/var/crash/$TS
    mkdir -p $D
    fact capture_dir ts=$TS path=/var/crash/$TS
    step() {  # step NAME OUTFILE makedumpfile-args...
        name=$1; out=$2; shift 2
        t0=$(date +%s)
        makedumpfile --message-level 22 "$@" /proc/vmcore $D/dump-incomplete > $D/makedumpfile-$name.log 2>&1
        rc=$?
        t1=$(date +%s)
        if [ -e $D/dump-incomplete ]; then mv $D/dump-incomplete $D/$out; fi
        fact capture_step name=$name rc=$rc seconds=$((t1 - t0)) file=$out
    }
    t0=$(date +%s)
    makedumpfile --message-level 22 --dump-dmesg /proc/vmcore $D/dmesg.$TS > $D/makedumpfile-dmesg.log 2>&1
    fact capture_step name=dmesg rc=$? seconds=$(($(date +%s) - t0)) file=dmesg.$TS
    step zlib dump.$TS -c -d 31
    step lzo dump-lzo.$TS -l -d 31
    step elf dump-elf.$TS -E -d 31
    ls -l /proc/vmcore > $D/vmcore-size.txt 2>&1
    sync
    umount /mnt
    fact capture_done ts=$TS
    say "capture done"
    sleep 1
    echo o > /proc/sysrq-trigger
    sleep 100000
fi

# ---------------------------------------------------------------- first kernel
say "mode=$MODE crash=$CRASH scenario=$SCENARIO"
load qemu_fw_cfg virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk crashme
[ -e /proc/crashme ] || fail "crashme.ko did not load"

echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > /proc/sys/kernel/dmesg_restrict 2>/dev/null
echo 1 > /proc/sys/kernel/sysrq
echo 0 > /proc/sys/kernel/panic
echo 1 > /proc/sys/kernel/panic_on_oops
hostname crashfixture
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

TEXT=$(grep -m1 ' _text$' /proc/kallsyms | cut -d' ' -f1)
fact info release=$(uname -r) hostname=$(hostname) machine=$(uname -m) kaslr_text=0x$TEXT mode=$MODE crash=$CRASH scenario=$SCENARIO
kmsg "known line one: the quick brown fox jumps over the lazy dog"
kmsg "known line two: pack my box with five dozen liquor jugs"
kmsg "scenario=$SCENARIO mode=$MODE crash=$CRASH"
kmsg "kaslr _text=0x$TEXT"

grep -E ' (_text|_stext|_etext|panic|sysrq_handle_crash|init_task|jiffies|linux_banner|crashme_deref|crashme_write|crashme_magic|crashme_banner|crashme_list|crashme_kthread_fn|crashme_do_panic|crashme_do_bug|crashme_do_warn|crashme_do_softlockup|crashme_do_rcu_stall|crashme_do_hung|crashme_hold_mutex|crashme_mutex|crashme_do_oom|crashme_do_kfence)( |	|$)' /proc/kallsyms |
while read -r addr type name mod; do
    fact symbol name=$name address=0x$addr type=$type module=${mod:-vmlinux}
done
while read -r name size refc deps state addr rest; do
    fact module name=$name address=$addr size=$size state=$state
done < /proc/modules
while read -r name active num objsize rest; do
    [ "$name" = crashme_obj ] && fact slab name=$name active_objs=$active num_objs=$num objsize=$objsize
done < /proc/slabinfo
while read -r line; do fact crashme $line; done < /proc/crashme
while read -r key value unit; do
    fact meminfo name=${key%:} kb=$value
done < /proc/meminfo

# The actors: two sleepers with markers in user memory, fixactor (files, mappings, signals, threads, SysV IPC
# for the task commands), the SCHED_FIFO spinner fixbusy, and the process that crashes the kernel.
/bin/fixsleep_a &
/bin/fixsleep_b &
ACTORS="fixsleep_a fixsleep_b"
if [ "$MODE" != kgdb ]; then  # (the KGDB kernel is a tinyconfig: no SysV IPC, no network)
    /bin/fixactor &
    ACTORS="$ACTORS fixactor"
fi
case "$CRASH" in
    sysrq) TARGET=/proc/sysrq-trigger; PAYLOAD=c ;;
    null|panic|bug|warn|softlockup|rcu|hung|oom|kfence) TARGET=/proc/crashme; PAYLOAD=$CRASH ;;
    none) TARGET= ;;
    *) fail "unknown fixture.crash=$CRASH" ;;
esac
GO=/tmp/go
if [ "$MODE" = kdump ] || [ "$MODE" = qemu ]; then
    [ "$BUSY" = 1 ] || BUSY=0
else
    BUSY=0
fi
if [ "$BUSY" = 1 ] && [ -n "$TARGET" ]; then
    /bin/fixbusy /tmp/go /tmp/go.busy 1 &
    ACTORS="$ACTORS fixbusy"
    GO=/tmp/go.busy  # fixcrash starts once fixbusy spins
fi
if [ "$CRASH" = hung ]; then
    # fixhold takes crashme_mutex and sleeps holding it; fixcrash's `hung` then waits for it in state D.
    /bin/fixhold /proc/crashme hold - &
    ACTORS="$ACTORS fixhold"
fi
if [ "$SPAWN" != 0 ]; then
    /bin/fixspawn $SPAWN &
    ACTORS="$ACTORS fixspawn"
fi
if [ "$MODE" = kgdb ]; then
    /bin/fixkgdb /proc/sysrq-trigger g /tmp/go &
    ACTORS="$ACTORS fixkgdb"
elif [ "$MODE" != live ] && [ -n "$TARGET" ]; then
    FIXTURE_CPU=0 /bin/fixcrash $TARGET $PAYLOAD $GO &
    ACTORS="$ACTORS fixcrash"
fi
for a in $ACTORS; do
    n=0
    lim=600
    [ "$a" = fixspawn ] && lim=3000  # forking thousands of processes under TCG
    while [ ! -e /tmp/ready.$a ] && [ $n -lt $lim ]; do sleep 0.1; n=$((n + 1)); done
    [ -e /tmp/ready.$a ] || fail "$a did not start"
done
if [ "$CRASH" = hung ]; then
    n=0
    holder=
    while [ -z "$holder" ] && [ $n -lt 600 ]; do
        holder=$(grep '^mutex_holder=' /proc/crashme)
        [ -n "$holder" ] || sleep 0.1
        n=$((n + 1))
    done
    [ -n "$holder" ] || fail "fixhold did not take crashme_mutex"
    fact mutex name=crashme_mutex holder=${holder#mutex_holder=}
fi

if [ "$MODE" = kdump ]; then
    kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio.gz \
        --append="console=ttyS0,115200 nr_cpus=1 reset_devices irqpoll nokaslr panic=-1 fixture.mode=capture fixture.scenario=$SCENARIO" \
        || fail "kexec -p failed"
    read -r loaded < /sys/kernel/kexec_crash_loaded
    [ "$loaded" = 1 ] || fail "capture kernel not loaded"
    fact kexec crash_loaded=$loaded
    kmsg "capture kernel loaded with kexec -p"
fi

# Arm the crash: the sysctls that make the scenario's report a panic (thresholds short, so that the report comes
# within seconds; set only now, so that nothing before trips them).
sysw() {  # sysw FILE VALUE
    [ -e "$1" ] || fail "this kernel has no $1"
    echo "$2" > "$1" || fail "cannot write $2 to $1"
}
case "$CRASH" in
    warn|kfence) sysw /proc/sys/kernel/panic_on_warn 1 ;;
    softlockup)
        sysw /proc/sys/kernel/softlockup_panic 1
        sysw /proc/sys/kernel/watchdog_thresh 2 ;;
    hung)
        sysw /proc/sys/kernel/hung_task_panic 1
        sysw /proc/sys/kernel/hung_task_timeout_secs 2 ;;
    rcu)
        sysw /proc/sys/kernel/panic_on_rcu_stall 1
        sysw /sys/module/rcupdate/parameters/rcu_cpu_stall_timeout 3 ;;
    oom) sysw /proc/sys/vm/panic_on_oom 1 ;;
esac
if [ "$BUSY" = 1 ]; then
    # No RT throttling (nor, from 6.12 on, the fair server's share on CPU 1): fixbusy keeps CPU 1 until the crash.
    [ -e /proc/sys/kernel/sched_rt_runtime_us ] && echo -1 > /proc/sys/kernel/sched_rt_runtime_us
    f=/sys/kernel/debug/sched/fair_server/cpu1/runtime
    [ -e $f ] && echo 0 > $f 2>/dev/null
fi
sysfact() {  # sysfact NAME FILE
    # (not busybox's read: it reads a byte at a time, and a /proc/sys file answers only the read at offset 0)
    if [ -e "$2" ]; then
        v=$(cat "$2")
        fact sysctl name=$1 text=$v
    fi
}
for s in panic panic_on_oops panic_on_warn panic_print panic_on_rcu_stall panic_on_unrecovered_nmi \
         panic_on_io_nmi softlockup_panic hardlockup_panic hung_task_panic unknown_nmi_panic \
         sysrq kptr_restrict watchdog_thresh hung_task_timeout_secs sched_rt_runtime_us; do
    sysfact kernel.$s /proc/sys/kernel/$s
done
sysfact vm.panic_on_oom /proc/sys/vm/panic_on_oom
sysfact rcupdate.rcu_cpu_stall_timeout /sys/module/rcupdate/parameters/rcu_cpu_stall_timeout
sysfact kfence.sample_interval /sys/module/kfence/parameters/sample_interval

# Every task, right before the crash (shell builtins only: no task comes or goes because of this loop).
for d in /proc/[0-9]*; do
    p=${d#/proc/}
    comm=
    stat=
    read -r comm < $d/comm
    read -r stat < $d/stat
    [ -n "$stat" ] || continue  # the task exited meanwhile
    rest=${stat##*) }
    st=${rest%% *}
    rest=${rest#* }
    ppid=${rest%% *}
    fact task pid=$p ppid=$ppid state=$st comm=$comm
done
kmsg "all facts recorded; mode=$MODE crash=$CRASH"
fact ready mode=$MODE
say "FIXTURE-READY"
: > /tmp/go
wait
say "init: all actors ended"
while :; do sleep 3600; done
