package framework

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NetNS is a host of the test's own: a network namespace joined to the host by a veth pair,
// with a /30 from the benchmarking range 198.18.0.0/15 (RFC 2544). The API server refuses
// loopback addresses in Endpoints and EndpointSlices, so a process it must reach through a
// Service runs in here (Command) and is addressed at PeerIP; the host side is HostIP.
type NetNS struct {
	Name     string
	HostLink string
	HostIP   net.IP
	PeerIP   net.IP
}

// ErrNetNSRefused is returned when the machine does not let this process create a network
// namespace (it needs CAP_SYS_ADMIN and CAP_NET_ADMIN, as root has).
var ErrNetNSRefused = errors.New("ip netns add refused: creating a network namespace needs CAP_SYS_ADMIN and CAP_NET_ADMIN (run as root)")

// netnsPrefix names this framework's namespaces; the creating process's id follows, so a
// namespace left by a killed run is recognised and removed by the next one.
const netnsPrefix = "cpg-test-"

// NewNetNS creates a uniquely named network namespace and veth pair on a /30 of
// 198.18.0.0/15 that no interface of the host uses. Close removes both.
func NewNetNS() (*NetNS, error) {
	removeOrphanNetNS()
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	suffix := hex.EncodeToString(id)
	n := &NetNS{Name: netnsPrefix + strconv.Itoa(os.Getpid()) + "-" + suffix, HostLink: "cpgh" + suffix}
	peerLink := "cpgp" + suffix
	if out, err := ipCommand("netns", "add", n.Name); err != nil {
		return nil, fmt.Errorf("%w: %w: %s", ErrNetNSRefused, err, out)
	}
	var err error
	if n.HostIP, n.PeerIP, err = unusedBlock(); err != nil {
		_ = n.Close()
		return nil, err
	}
	host, peer := n.HostIP.String()+"/30", n.PeerIP.String()+"/30"
	for _, args := range [][]string{
		{"link", "add", n.HostLink, "type", "veth", "peer", "name", peerLink},
		{"link", "set", peerLink, "netns", n.Name},
		{"addr", "add", host, "dev", n.HostLink},
		{"link", "set", n.HostLink, "up"},
		{"-n", n.Name, "addr", "add", peer, "dev", peerLink},
		{"-n", n.Name, "link", "set", peerLink, "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
	} {
		if out, err := ipCommand(args...); err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return n, nil
}

// Command returns a command that runs inside the namespace (ip netns exec, which execs the
// program: the process is the program itself). It is killed if the test process dies.
func (n *NetNS) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Close removes the veth pair and the namespace; stop the processes inside first.
func (n *NetNS) Close() error {
	var errs []error
	if _, err := net.InterfaceByName(n.HostLink); err == nil {
		if out, err := ipCommand("link", "del", n.HostLink); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %w: %s", n.HostLink, err, out))
		}
	}
	if out, err := ipCommand("netns", "del", n.Name); err != nil {
		errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", n.Name, err, out))
	}
	return errors.Join(errs...)
}

func ipCommand(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// unusedBlock picks a random /30 of 198.18.0.0/15 that no host interface has an address in,
// so parallel runs do not route the same addresses to two namespaces.
func unusedBlock() (host, peer net.IP, err error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, err
	}
	for range 100 {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		// 2^15 blocks of four addresses in 198.18.0.0/15.
		block := binary.BigEndian.Uint32(b) % (1 << 15)
		base := binary.BigEndian.Uint32(net.IPv4(198, 18, 0, 0).To4()) + block*4
		_, subnet, _ := net.ParseCIDR(uint32IP(base).String() + "/30")
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && subnet.Contains(ipn.IP) {
				used = true
			}
		}
		if !used {
			return uint32IP(base + 1), uint32IP(base + 2), nil
		}
	}
	return nil, nil, errors.New("no unused /30 in 198.18.0.0/15")
}

func uint32IP(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// removeOrphanNetNS removes the namespaces of this framework whose creating process is gone
// (a run killed by go test's timeout runs no cleanup); those of live runs are left alone.
func removeOrphanNetNS() {
	out, err := ipCommand("netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], netnsPrefix) {
			continue
		}
		name := fields[0]
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, netnsPrefix), "-", 2)[0])
		if err != nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		peer := "cpgp" + name[strings.LastIndex(name, "-")+1:]
		_, _ = ipCommand("-n", name, "link", "del", peer)
		_, _ = ipCommand("netns", "del", name)
	}
}
