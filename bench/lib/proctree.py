#!/usr/bin/python3
"""Process-tree measurements from /proc, for bench/run.sh.

  proctree.py cpu PID   -> CPU seconds (utime+stime, all threads) of PID and all its descendants
  proctree.py rss PID   -> "MASTER_KB WORKERS_KB WORKER_COUNT" (VmRSS; workers = all descendants)
  proctree.py pids PID  -> PID and its descendants, one per line
"""
import os
import sys

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_stat(pid):
    """(ppid, utime+stime ticks) from /proc/PID/stat, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    return int(fields[1]), int(fields[11]) + int(fields[12])


def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = read_stat(int(name))
        if stat is not None:
            children.setdefault(stat[0], []).append(int(name))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            found.append(child)
            stack.append(child)
    return found


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    command, root = sys.argv[1], int(sys.argv[2])
    tree = [root] + descendants(root)
    if command == "cpu":
        ticks = sum((read_stat(pid) or (0, 0))[1] for pid in tree)
        print(f"{ticks / CLK_TCK:.2f}")
    elif command == "rss":
        workers = tree[1:]
        print(rss_kb(root), sum(rss_kb(pid) for pid in workers), len(workers))
    elif command == "pids":
        print("\n".join(str(pid) for pid in tree))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
