package framework

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Node is make cluster's real single-node cluster (hack/cluster.sh, which this drives so the
// tests and make cluster are one implementation): etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy from bin/, containerd and
// runc from Debian, in a network and mount namespace of its own, reached from the host
// through a loopback forwarder.
type Node struct {
	Root       string
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     client.Client
	// UpSeconds is the time from start to node Ready, RSSKiB the resident memory of the
	// cluster's processes then, as the script measured them.
	UpSeconds int
	RSSKiB    int
}

// NodeBinaries are the programs of bin/ the node runs.
var NodeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// NodeMissing names what this machine lacks to run the node (root, a program of bin/ or of
// Debian's packages), or returns "" when nothing is missing. Tests skip with it.
func NodeMissing(root string) string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the node creates namespaces and cgroups)")
	}
	for _, b := range NodeBinaries {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			missing = append(missing, "bin/"+b+" (make tools node-tools)")
		}
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "unshare", "iptables", "openssl"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" (hack/node-packages.sh)")
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		missing = append(missing, "/usr/lib/cni/bridge (hack/node-packages.sh)")
	}
	return strings.Join(missing, ", ")
}

// nodeDirPrefix names the folders NewNodeDir makes; the creating process's id follows, so a
// node left by a killed test run is found and taken down by the next one.
const nodeDirPrefix = "cpg-node-"

// NewNodeDir makes a folder for a node's state (the node's folder is "cluster" inside it),
// after taking down the nodes of test processes that died without doing so.
func NewNodeDir(root string) (string, error) {
	RemoveOrphanNodes(root)
	return os.MkdirTemp("", nodeDirPrefix+strconv.Itoa(os.Getpid())+"-")
}

// RemoveOrphanNodes takes down every node of NewNodeDir whose test process is gone.
func RemoveOrphanNodes(root string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nodeDirPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), nodeDirPrefix), "-", 2)[0])
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		n := &Node{Root: root, Dir: filepath.Join(d, "cluster")}
		if err := n.Stop(); err == nil {
			_ = os.RemoveAll(d)
		}
	}
}

// StartNode brings the node up in dir (which must not exist) with the image tarballs
// imported into containerd, and waits for it to be Ready. On error the node is taken down.
func StartNode(root, dir string, images ...string) (*Node, error) {
	n := &Node{Root: root, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "cluster.sh"), "up", dir)
	cmd.Env = append(os.Environ(), "CLUSTER_IMAGES="+strings.Join(images, " "), "CLUSTER_BIN="+filepath.Join(root, "bin"))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs := n.Logs()
		if downErr := n.Stop(); downErr != nil {
			logs += "\ncluster down: " + downErr.Error()
		}
		return nil, fmt.Errorf("hack/cluster.sh up: %w\n%s\n%s", err, out, logs)
	}
	n.UpSeconds, _ = readInt(filepath.Join(dir, "up-seconds"))
	n.RSSKiB, _ = readInt(filepath.Join(dir, "up-rss-kib"))
	if n.Config, err = clientcmd.BuildConfigFromFlags("", n.Kubeconfig); err != nil {
		return nil, err
	}
	if n.Client, err = client.New(n.Config, client.Options{Scheme: kinds.NewScheme()}); err != nil {
		return nil, err
	}
	return n, nil
}

func readInt(file string) (int, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

// Stop takes the node down (hack/cluster.sh down): it removes everything up made.
func (n *Node) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.Root, "hack", "cluster.sh"), "down", n.Dir)
	cmd.Env = append(os.Environ(), "CLUSTER_BIN="+filepath.Join(n.Root, "bin"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hack/cluster.sh down: %w\n%s", err, out)
	}
	return nil
}

// Logs returns the end of every component's log, for a failure message.
func (n *Node) Logs() string {
	files, _ := filepath.Glob(filepath.Join(n.Dir, "log", "*.log"))
	var b strings.Builder
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), strings.Join(lines, "\n"))
	}
	return b.String()
}

// Kubectl runs bin/kubectl against the node, bounded to two minutes.
func (n *Node) Kubectl(args ...string) Result {
	c := &Cluster{Root: n.Root, Kubeconfig: n.Kubeconfig}
	return c.Kubectl(args...)
}

// Helm runs bin/helm against the node, bounded to five minutes.
func (n *Node) Helm(args ...string) Result {
	return Run(Command{Timeout: 5 * time.Minute, Env: []string{"HELM_CACHE_HOME=" + filepath.Join(n.Dir, "helm", "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(n.Dir, "helm", "config"), "HELM_DATA_HOME=" + filepath.Join(n.Dir, "helm", "data")}},
		filepath.Join(n.Root, "bin", "helm"), append([]string{"--kubeconfig", n.Kubeconfig}, args...)...)
}

// ImageTarball returns the docker-archive tarball make image writes for this machine's
// architecture, or "" when make image has not run.
func ImageTarball(root string) string {
	f := filepath.Join(root, "bin", "image", "consul-peering-guard-linux-"+runtime.GOARCH+".tar")
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

// ID is the name of the node's own cgroup root and CNI network, as hack/cluster.sh derives
// it from the node's folder.
func (n *Node) ID() string {
	sum := sha256.Sum256([]byte(n.Dir))
	return "cpg-" + hex.EncodeToString(sum[:])[:8]
}

// PodNetNS lists the network namespaces of the node's pods (mounted in its mount namespace),
// so that a check after Stop knows which were the node's.
func (n *Node) PodNetNS() []string {
	out, err := exec.Command("nsenter", "--mount="+filepath.Join(n.Dir, "ns", "mnt"), "findmnt", "-rn", "-o", "TARGET").Output()
	if err != nil {
		return nil
	}
	var list []string
	for _, m := range strings.Fields(string(out)) {
		if strings.HasPrefix(m, "/run/netns/cni-") || strings.HasPrefix(m, "/var/run/netns/cni-") {
			list = append(list, m)
		}
	}
	return list
}

// NodeLeftovers lists what node n left on the machine after Stop: a process whose command
// line names its folder, a mount under it, a network namespace of its pods (podNetNS, listed
// before Stop), its cgroup root in any hierarchy, its CNI results, a path
// containerd or the kubelet writes outside dir that did not exist before (existedBefore), a
// kube-proxy chain in the host's iptables, or dir itself. Empty when down removed everything.
func NodeLeftovers(n *Node, existedBefore map[string]bool, podNetNS []string) []string {
	dir := n.Dir
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := strconv.Itoa(os.Getpid())
	for _, p := range procs {
		if filepath.Base(p) == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue
		}
		line := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(line, dir) {
			left = append(left, "process "+filepath.Base(p)+": "+line)
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) > 4 && (strings.HasPrefix(fields[4], dir) || strings.HasPrefix(fields[4], "/run/netns/cni-")) {
				left = append(left, "mount "+fields[4])
			}
		}
		_ = f.Close()
	}
	for _, ns := range podNetNS {
		if _, err := os.Lstat(ns); err == nil {
			left = append(left, "network namespace "+ns)
		}
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if _, err := os.Stat(filepath.Join(h, n.ID())); err == nil {
			left = append(left, "cgroup "+filepath.Join(h, n.ID()))
		}
	}
	if results, _ := filepath.Glob("/var/lib/cni/results/" + n.ID() + "-*"); len(results) > 0 {
		left = append(left, "CNI results "+strings.Join(results, " "))
	}
	for _, p := range NodeOutsidePaths {
		if _, err := os.Stat(p); err == nil && !existedBefore[p] {
			left = append(left, "path "+p)
		}
	}
	// kube-proxy's rules live in the node's network namespace and go with it; the host's
	// tables never get one.
	if out, err := exec.Command("iptables-save").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, ":KUBE-") {
				left = append(left, "iptables chain "+strings.Fields(line)[0][1:])
			}
		}
	}
	if _, err := os.Stat(dir); err == nil {
		left = append(left, "state dir "+dir)
	}
	return left
}

// NodeOutsidePaths are the paths containerd, runc and the kubelet write outside the node's
// folder whatever their configuration (hack/cluster.sh removes them when it made them).
var NodeOutsidePaths = []string{"/var/log/containers", "/var/lib/kubelet", "/var/lib/cni", "/run/containerd"}

// ExistingPaths records which of paths exist now.
func ExistingPaths(paths []string) map[string]bool {
	m := map[string]bool{}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			m[p] = true
		}
	}
	return m
}
