//go:build e2e && realnode

/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	. "github.com/onsi/gomega" //nolint:revive // Gomega's DSL is meant to be dot-imported.
)

// hostState is what a real-node cluster changes on the machine while it runs.
type hostState struct {
	links   []string          // network links by name
	chains  []string          // iptables and ip6tables chains, as "<tool> <table> <chain>"
	tables  []string          // nftables tables (iptables-nft creates its own on first use)
	nsfs    int               // bind mounts of namespaces (pods' network namespaces)
	sysctls map[string]string // kernel settings the kubelet, kube-proxy and the bridge plugin change
	paths   map[string]bool   // host paths and pod cgroups that a node may create, and whether they exist
}

// watchedSysctls and watchedPaths are the kernel settings and host paths
// that readHostState records.
var (
	watchedSysctls = []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "vm/overcommit_memory",
		"vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}
	watchedPaths = []string{"/var/log/containers", "/var/log/pods", "/var/lib/cni", "/var/lib/kubelet",
		"/var/lib/containerd", "/run/containerd", "/run/netns", "/etc/cni", "/opt/containerd"}
)

// clusterChain matches the iptables chains that a real-node cluster creates.
var clusterChain = regexp.MustCompile(`^(KUBE-|CNI-|LOCAL-CLUSTER-)`)

// readHostState records the machine's links, iptables chains, namespace
// mounts, watched kernel settings and host paths.
func readHostState() hostState {
	h := hostState{sysctls: map[string]string{}, paths: map[string]bool{}}
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			h.links = append(h.links, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(tool).Output()
		Expect(err).NotTo(HaveOccurred(), "%s", tool)
		table := ""
		for line := range strings.SplitSeq(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, "*"):
				table = line[1:]
			case strings.HasPrefix(line, ":"):
				h.chains = append(h.chains, tool+" "+table+" "+strings.Fields(line[1:])[0])
			}
		}
	}
	for _, m := range mounts() {
		if m.fstype == "nsfs" {
			h.nsfs++
		}
	}
	for _, s := range watchedSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		Expect(err).NotTo(HaveOccurred())
		h.sysctls[s] = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		h.tables = strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	paths := slices.Clone(watchedPaths)
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, hier := range hierarchies {
		paths = append(paths, filepath.Join(hier, "k8s.io"))
	}
	for _, p := range paths {
		_, err := os.Lstat(p)
		h.paths[p] = err == nil
	}
	sort.Strings(h.links)
	sort.Strings(h.chains)
	sort.Strings(h.tables)
	return h
}

// mount is one line of /proc/self/mountinfo.
type mount struct{ point, fstype string }

// mounts lists the mounts of this process's mount namespace.
func mounts() []mount {
	b, err := os.ReadFile("/proc/self/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	var out []mount
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+1 < len(f) && len(f) > 4 {
				out = append(out, mount{point: f[4], fstype: f[i+1]})
				break
			}
		}
	}
	return out
}

// proc is a process identified by pid and start time, so that a reused pid
// is not mistaken for it.
type proc struct {
	pid   int
	start string
	cmd   string
}

// procStat returns the parent pid and start time of pid.
func procStat(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", false
	}
	// The command name, in parentheses, may hold spaces: fields follow the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[19], true
}

// clusterProcesses lists every process of the cluster in dir: those whose
// command line names the state dir (control plane, containerd, its shims,
// kubelet, kube-proxy) and all their descendants (the pods' containers).
func clusterProcesses(dir string) []proc {
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	parent := map[int]int{}
	in := map[int]bool{}
	cmds := map[int]string{}
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		ppid, _, ok := procStat(pid)
		if !ok {
			continue
		}
		parent[pid] = ppid
		b, _ := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		cmds[pid] = strings.ReplaceAll(string(b), "\x00", " ")
		in[pid] = strings.Contains(cmds[pid], dir)
	}
	for changed := true; changed; {
		changed = false
		for pid, ppid := range parent {
			if !in[pid] && in[ppid] {
				in[pid], changed = true, true
			}
		}
	}
	var out []proc
	for pid := range in {
		if _, start, ok := procStat(pid); ok && in[pid] {
			out = append(out, proc{pid: pid, start: start, cmd: cmds[pid]})
		}
	}
	return out
}

// expectMachineRestored checks that no process of procs runs any more and
// that links, iptables chains, namespace mounts, kernel settings and host
// paths are as in was, with nothing left under the cluster's state dir.
func expectMachineRestored(was hostState, procs []proc) {
	var alive []string
	for _, p := range procs {
		if _, start, ok := procStat(p.pid); ok && start == p.start {
			alive = append(alive, strconv.Itoa(p.pid)+" "+p.cmd)
		}
	}
	Expect(alive).To(BeEmpty(), "processes of the cluster still run after down")
	now := readHostState()
	Expect(now.links).To(Equal(was.links), "network links differ after down")
	var left []string
	for _, c := range now.chains {
		if clusterChain.MatchString(strings.Fields(c)[2]) {
			left = append(left, c)
		}
	}
	Expect(left).To(BeEmpty(), "iptables chains of the cluster are left after down")
	Expect(now.chains).To(Equal(was.chains), "iptables chains differ after down")
	Expect(now.tables).To(Equal(was.tables), "nftables tables differ after down")
	Expect(now.nsfs).To(Equal(was.nsfs), "namespace mounts differ after down")
	Expect(now.sysctls).To(Equal(was.sysctls), "kernel settings differ after down")
	Expect(now.paths).To(Equal(was.paths), "host paths differ after down")
	for _, m := range mounts() {
		Expect(m.point).NotTo(HavePrefix(e.clusterDir), "a mount is left under the cluster's state dir")
	}
	_, err := os.Stat(e.clusterDir)
	Expect(os.IsNotExist(err)).To(BeTrue(), "the state dir %s is left after down", e.clusterDir)
}
