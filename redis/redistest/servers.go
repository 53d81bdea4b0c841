package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// clusterTimeLimit bounds a test that runs a cluster: past it the servers
// are killed, so that whatever still waits on them fails at once.
const clusterTimeLimit = 3 * time.Minute

// binary finds a Redis program, or skips or fails the test (testenv).
func binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(tb, "%s is not installed (apt-get install redis-server redis-tools): %v", name, err)
	}
	return path
}

// StartServer starts a standalone redis-server of the test's own on a
// spare port, its files in a temporary folder, with the given settings,
// and returns its address and process, killed when the test ends.
func StartServer(tb testing.TB, settings ...string) (string, *os.Process) {
	tb.Helper()
	return start(tb, binary(tb, "redis-server"), SparePorts(tb, 1)[0], tb.TempDir(), settings)
}

// StartAOFServer starts a server that can acknowledge with WAITAOF (Redis
// 7.2 or later, or Valkey; Debian 12's Redis is 7.0) with its AOF on and
// fsynced before each answer, its files in dir, on port (0: a spare one). A
// test restarts it after a crash by calling it again with the same dir and
// port. The binary is FLASHSALE_TEST_AOF_SERVER, else valkey-server on the
// PATH, else the one scripts/services.sh unpacks from Debian's backports
// into the user's cache.
func StartAOFServer(tb testing.TB, dir string, port int) (string, *os.Process) {
	tb.Helper()
	if port == 0 {
		port = SparePorts(tb, 1)[0]
	}
	return start(tb, aofServer(tb), port, dir, []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"})
}

// aofServer finds the binary of a server with WAITAOF.
func aofServer(tb testing.TB) string {
	tb.Helper()
	if server := os.Getenv("FLASHSALE_TEST_AOF_SERVER"); server != "" {
		return server
	}
	if path, err := exec.LookPath("valkey-server"); err == nil {
		return path
	}
	if cache, err := os.UserCacheDir(); err == nil {
		unpacked := filepath.Join(cache, "flashsale", "valkey", "root", "usr", "bin", "valkey-server")
		if _, err := os.Stat(unpacked); err == nil {
			return unpacked
		}
	}
	testenv.Missing(tb, "no server with WAITAOF: set FLASHSALE_TEST_AOF_SERVER or install valkey-server (scripts/services.sh does)")
	return ""
}

func start(tb testing.TB, server string, port int, dir string, settings []string) (string, *os.Process) {
	tb.Helper()
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir}, settings...)
	cmd := exec.Command(server, args...)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitUntil(ctx, func() bool { return answers(addr) }); err != nil {
		tb.Fatalf("%s did not start: %v", filepath.Base(server), err)
	}
	return addr, cmd.Process
}

// StartCluster starts size primaries without persistence on spare ports,
// joins them into a cluster, waits until every node reports it healthy,
// and returns the URL of its seeds (redis://a,b,c), as Connect and serve
// read it. The servers are killed when the test ends, or when it overruns
// three minutes.
func StartCluster(tb testing.TB, size int) string {
	tb.Helper()
	return startCluster(tb, binary(tb, "redis-server"), size, "--appendonly", "no")
}

// StartAOFCluster is StartCluster with servers that can acknowledge with
// WAITAOF (see StartAOFServer), their AOF on and fsynced before each answer.
func StartAOFCluster(tb testing.TB, size int) string {
	tb.Helper()
	return startCluster(tb, aofServer(tb), size, "--appendonly", "yes", "--appendfsync", "always")
}

func startCluster(tb testing.TB, server string, size int, persistence ...string) string {
	tb.Helper()
	cli := binary(tb, "redis-cli")
	dir := tb.TempDir()
	ports := SparePorts(tb, 2*size) // a client port and a cluster bus port per node
	addrs := make([]string, size)
	logs := make([]string, size)
	processes := make([]*os.Process, 0, size)
	for i := range size {
		port := strconv.Itoa(ports[2*i])
		addrs[i] = "127.0.0.1:" + port
		logs[i] = filepath.Join(dir, fmt.Sprintf("redis-%d.log", i))
		nodeDir := filepath.Join(dir, strconv.Itoa(i)) // an AOF folder each
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(server, append([]string{
			"--port", port,
			"--cluster-port", strconv.Itoa(ports[2*i+1]),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)),
			"--save", "",
			"--daemonize", "no",
			"--dir", nodeDir,
			"--logfile", logs[i],
		}, persistence...)...)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("starting %s: %v", filepath.Base(server), err)
		}
		tb.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		processes = append(processes, cmd.Process)
	}
	// Past the limit the servers are killed: whatever waits on them then
	// fails at once, the startup below included.
	limit, cancel := context.WithTimeout(context.Background(), clusterTimeLimit)
	stopWatchdog := context.AfterFunc(limit, func() {
		tb.Errorf("the cluster test overran %s; killing the servers", clusterTimeLimit)
		for _, p := range processes {
			_ = p.Kill()
		}
	})
	// Registered last, so it runs before the cleanups that wait for the servers.
	tb.Cleanup(func() {
		stopWatchdog()
		cancel()
	})

	ctx, cancelStartup := context.WithTimeout(limit, 30*time.Second)
	defer cancelStartup()
	for i, addr := range addrs {
		if err := waitUntil(ctx, func() bool { return answers(addr) }); err != nil {
			tb.Fatalf("redis-server on %s did not start: %v\n%s", addr, err, readLog(logs[i]))
		}
	}
	create := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, create...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		_, port, _ := net.SplitHostPort(addr)
		var info []byte
		if err := waitUntil(ctx, func() bool {
			info, _ = exec.CommandContext(ctx, cli, "-p", port, "cluster", "info").Output()
			return strings.Contains(string(info), "cluster_state:ok")
		}); err != nil {
			tb.Fatalf("the cluster is not healthy on %s: %v\n%s", addr, err, info)
		}
	}
	return "redis://" + strings.Join(addrs, ",")
}

// SparePorts returns count distinct TCP ports that were free a moment ago.
func SparePorts(tb testing.TB, count int) []int {
	tb.Helper()
	ports := make([]int, count)
	for i := range ports {
		// Held open until all are chosen, so that no port is chosen twice.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func answers(addr string) bool {
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

// waitUntil polls ready until it holds or ctx ends.
func waitUntil(ctx context.Context, ready func() bool) error {
	for !ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func readLog(path string) string {
	log, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(log)
}

// Pause stops a server's process (SIGSTOP): its connections stay open and
// nothing answers, as a server that hangs. The resume it returns (SIGCONT)
// may be called more than once; the test's end calls it too.
func Pause(tb testing.TB, server *os.Process) (resume func()) {
	tb.Helper()
	if err := server.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { _ = server.Signal(syscall.SIGCONT) }) }
	tb.Cleanup(resume)
	return resume
}
