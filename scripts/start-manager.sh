#!/bin/sh
# `npm start`: the built manager, with the allocator README "Running in production" describes.
#
# jemalloc when the system has it (Debian: libjemalloc2), purged by its own thread within a second of memory going
# free. glibc's malloc maps every allocation over its threshold on its own, and a socket read takes a 64 KiB buffer: at
# the 32 KiB threshold the embedded database needs for its idle memory, each DNS query was two mmap and two munmap
# calls on the answering thread. Each takes the process's memory map lock, which the manager's thread, preempted on a
# busy machine, could hold for tens of milliseconds (a scheduler trace of a rollout: 37 waits of the answering
# thread, up to 38 ms; with jemalloc none).
#
# Without jemalloc, glibc with MALLOC_MMAP_THRESHOLD_=32768, as before. Anything already set in the environment wins;
# OCDN_MALLOC=glibc keeps glibc. `--print-env` prints what it would set and exits (the tests start the manager so).
set -e
cd "$(dirname "$0")/.."
: "${MALLOC_MMAP_THRESHOLD_:=32768}"
export MALLOC_MMAP_THRESHOLD_
if [ "${OCDN_MALLOC:-jemalloc}" = jemalloc ]; then
  for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
    if [ -r "$lib" ]; then
      export LD_PRELOAD="$lib${LD_PRELOAD:+ $LD_PRELOAD}"
      : "${MALLOC_CONF:=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0}"
      export MALLOC_CONF
      break
    fi
  done
fi
if [ "${1:-}" = --print-env ]; then
  env | grep -E '^(MALLOC_MMAP_THRESHOLD_|LD_PRELOAD|MALLOC_CONF)='
  exit 0
fi
exec node apps/manager/dist/main.js "$@"
