// Command forward makes make cluster's API server reachable from the host: it listens on a
// loopback port of the host and relays each connection to an address inside the node's
// network namespace, which has no link to the host (no route, no veth, nothing leaves it).
// It writes the port it listens on to -port-file once listening.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

func main() {
	netns := flag.String("netns", "", "the network namespace file to dial into")
	to := flag.String("to", "198.18.0.1:6443", "the address inside the namespace")
	listen := flag.String("listen", "127.0.0.1:0", "the host address to listen on")
	portFile := flag.String("port-file", "", "file the listening port is written to")
	flag.Parse()
	err := run(*netns, *to, *listen, *portFile)
	fmt.Fprintln(os.Stderr, "forward:", err)
	os.Exit(1)
}

// run serves until listening fails; it returns only that error.
func run(netns, to, listen, portFile string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(portFile+".tmp", []byte(port+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(portFile+".tmp", portFile); err != nil {
		return err
	}
	for {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		go relay(conn, netns, to)
	}
}

func relay(conn net.Conn, netns, to string) {
	defer func() { _ = conn.Close() }()
	upstream, err := dialIn(netns, to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forward:", err)
		return
	}
	defer func() { _ = upstream.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
}

// dialIn opens the connection from a thread moved into the namespace; the socket stays in
// that namespace once made. The thread is never returned to the host namespace: it is left
// locked, so the runtime ends it when this goroutine returns.
func dialIn(netns, to string) (net.Conn, error) {
	result := make(chan struct {
		conn net.Conn
		err  error
	}, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			_ = unix.Close(fd)
		}
		var conn net.Conn
		if err == nil {
			conn, err = net.Dial("tcp", to)
		}
		result <- struct {
			conn net.Conn
			err  error
		}{conn, err}
	}()
	r := <-result
	return r.conn, r.err
}
