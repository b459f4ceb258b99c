#!/usr/bin/env python3
"""What an operation's instructions cost beyond their count: for decisions where the instruction
count of scripts/callgrind.sh and the wall-clock user time disagree (fewer instructions, more user
time: lower instructions per cycle).

Reads the two runs scripts/callgrind.sh keeps, recorded per instruction:

    VALGRIND_OPTS=--dump-instr=yes KEEP=1 scripts/callgrind.sh echo [SERVER_BINARY]
    scripts/callgrind-hot.py callgrind.out.echo.2 callgrind.out.echo.6 N1/N2 [SERVER_BINARY]

N1/N2 is the `operations=` figure callgrind.sh printed; SERVER_BINARY (default the release
bench_server) is disassembled with objdump. Per operation, from the difference of the two runs
(as callgrind.sh takes it), it prints:

* the hot code footprint: instructions whose execution count grew by at least half an operation's
  worth, and the 64-byte lines, 4 KiB pages and functions they span. Between two round trips the
  kernel (recvfrom, sendto, epoll) evicts much of the first-level caches, so each round trip
  fetches its code again: with as many instructions, a larger footprint costs more cycles.
  Callgrind's own cache simulation (--cache-sim=yes) does not model that eviction.
* the executed atomic read-modify-write instructions (`lock`-prefixed, and `xchg` with memory,
  implicitly locked), which cost tens of cycles each but count as one instruction, by function.

Objects other than the server binary and libc are left out (libm, libgcc, the loader).
"""
import bisect
import collections
import re
import subprocess
import sys

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def atomics(path):
    """Addresses of the locked instructions of an object: {address: mnemonic}."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(lock\s+\S+|xchg\s+\S*\(.*)", line)
        if m:
            found[int(m.group(1), 16)] = " ".join(m.group(2).split()[:2]).split(" %")[0]
    return found


def costs(path):
    """Self Ir per (object, address) and the function of each address, from a callgrind output
    with `positions: instr line` (calls' inclusive cost lines are skipped)."""
    names = {"ob": {}, "fn": {}}
    ob = fn = ""
    addr = 0
    skip = False
    ir = collections.Counter()
    fns = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                a = parts[0]
                if a[0] == "+":
                    addr += int(a[1:], 0)
                elif a[0] == "-":
                    addr -= int(a[1:], 0)
                elif a != "*":
                    addr = int(a, 0)
                if skip:
                    skip = False
                elif len(parts) > 2:
                    ir[(ob, addr)] += int(parts[2])
                    fns[(ob, addr)] = fn
                continue
            key, _, value = line.partition("=")
            kind = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}.get(key)
            if kind:
                m = re.match(r"\((\d+)\)\s*(.*)", value)
                if m:
                    if m.group(2):
                        names[kind][m.group(1)] = m.group(2)
                    value = names[kind].get(m.group(1), "?")
                if key == "ob":
                    ob = value
                elif key == "fn":
                    fn = value
            elif key == "calls":
                skip = True
    return ir, fns


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    small, large = sys.argv[1], sys.argv[2]
    n1, n2 = (int(x) for x in sys.argv[3].split("/"))
    binary = sys.argv[4] if len(sys.argv) > 4 else "target/release/examples/bench_server"
    ops = n2 - n1
    a, _ = costs(small)
    b, fns = costs(large)
    locked = {"bin": atomics(binary), "libc": atomics(LIBC)}

    def which(ob):
        if ob.endswith("libc.so.6"):
            return "libc"
        return "bin" if ob.split("/")[-1] == binary.split("/")[-1] else None

    hot = collections.defaultdict(lambda: [0, set(), set(), set()])
    lock_fn = collections.Counter()
    lock_kind = collections.Counter()
    for key, n in b.items():
        ob, addr = key
        obj = which(ob)
        if obj is None:
            continue
        grown = n - a.get(key, 0)
        if grown >= 0.5 * ops:
            h = hot[obj]
            h[0] += 1
            h[1].add(addr >> 6)
            h[2].add(addr >> 12)
            h[3].add(fns[key])
        kind = locked[obj].get(addr)
        if kind and grown:
            lock_fn[(obj, fns[key])] += grown
            lock_kind[kind] += grown
    print(f"per operation, over {ops} operations:")
    for obj, (n, lines, pages, funcs) in sorted(hot.items()):
        print(f"hot code {obj:4}: instructions={n} lines={len(lines)} pages={len(pages)} "
              f"functions={len(funcs)}")
    print(f"atomics: {sum(lock_kind.values()) / ops:.2f}")
    for kind, n in lock_kind.most_common():
        print(f"  {n / ops:6.2f} {kind}")
    for (obj, fn), n in lock_fn.most_common():
        if n >= 0.2 * ops:
            print(f"  {n / ops:6.2f} {obj:4} {fn[:140]}")


if __name__ == "__main__":
    main()
