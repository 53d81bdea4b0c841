package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/inventorytest"
	"github.com/flashsale/flashsale/redis/redistest"
)

// clusterTimeLimit bounds the whole cluster test: past it the servers are
// killed, so that whatever still waits on them fails at once.
const clusterTimeLimit = 3 * time.Minute

// TestCluster runs the conformance suite on a three-primary Redis Cluster of
// its own and checks that the suite's items were spread over the shards.
func TestCluster(t *testing.T) {
	server, cli := clusterBinaries(t)
	nodes := startCluster(t, server, cli, 3)

	seeds := make([]string, len(nodes))
	for i, n := range nodes {
		seeds[i] = n.addr
	}
	client := redistest.Connect(t, "redis://"+strings.Join(seeds, ","))
	if got := len(client.Nodes()); got != len(nodes) {
		t.Fatalf("the client sees %d nodes, want %d", got, len(nodes))
	}
	prefix := "fstest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Run("Conformance", func(t *testing.T) {
		inventorytest.Run(t, inventories(client, prefix))
	})
	if t.Failed() {
		return
	}

	// Each item has exactly one "...}:item" key; count them per shard.
	shardsWithItems, items := 0, 0
	for addr, node := range client.Nodes() {
		keys, err := redistest.ScanKeys(t.Context(), node, "{"+prefix+"-*}:item")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s holds %d items", addr, len(keys))
		if len(keys) > 0 {
			shardsWithItems++
		}
		items += len(keys)
	}
	if shardsWithItems < 2 {
		t.Fatalf("the suite's %d items landed on %d shard(s), want them spread over several", items, shardsWithItems)
	}
}

// clusterBinaries returns the paths of redis-server and redis-cli, skipping
// the test when either is missing unless FLASHSALE_TEST_REQUIRE_CLUSTER=1.
func clusterBinaries(t *testing.T) (server, cli string) {
	t.Helper()
	server, errServer := exec.LookPath("redis-server")
	cli, errCli := exec.LookPath("redis-cli")
	if err := errors.Join(errServer, errCli); err != nil {
		if os.Getenv("FLASHSALE_TEST_REQUIRE_CLUSTER") == "1" {
			t.Fatalf("FLASHSALE_TEST_REQUIRE_CLUSTER=1 but the cluster cannot start: %v", err)
		}
		t.Skipf("redis-server or redis-cli is not installed (apt-get install redis-server; "+
			"set FLASHSALE_TEST_REQUIRE_CLUSTER=1 to make this a failure): %v", err)
	}
	return server, cli
}

type clusterNode struct {
	addr    string
	port    string
	logFile string
}

// startCluster starts size primaries without persistence on spare ports,
// joins them into a cluster, and waits until every node reports it healthy.
// The servers are killed when the test ends, or when it overruns
// clusterTimeLimit.
func startCluster(t *testing.T, server, cli string, size int) []clusterNode {
	t.Helper()
	dir := t.TempDir()
	ports := sparePorts(t, 2*size) // a client port and a cluster bus port per node
	nodes := make([]clusterNode, size)
	processes := make([]*os.Process, 0, size)
	for i := range nodes {
		n := &nodes[i]
		n.port = strconv.Itoa(ports[2*i])
		n.addr = "127.0.0.1:" + n.port
		n.logFile = filepath.Join(dir, fmt.Sprintf("redis-%d.log", i))
		cmd := exec.Command(server,
			"--port", n.port,
			"--cluster-port", strconv.Itoa(ports[2*i+1]),
			"--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)),
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", dir,
			"--logfile", n.logFile,
		)
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		processes = append(processes, cmd.Process)
	}
	// Past the limit the servers are killed: whatever waits on them then
	// fails at once, the startup below included.
	limit, cancel := context.WithTimeout(context.Background(), clusterTimeLimit)
	stopWatchdog := context.AfterFunc(limit, func() {
		t.Errorf("the cluster test overran %s; killing the servers", clusterTimeLimit)
		for _, p := range processes {
			_ = p.Kill()
		}
	})
	// Registered last, so it runs before the cleanups that wait for the servers.
	t.Cleanup(func() {
		stopWatchdog()
		cancel()
	})

	ctx, cancelStartup := context.WithTimeout(limit, 30*time.Second)
	defer cancelStartup()
	for _, n := range nodes {
		if err := waitUntil(ctx, func() bool {
			conn, err := net.Dial("tcp", n.addr)
			if err == nil {
				conn.Close()
			}
			return err == nil
		}); err != nil {
			t.Fatalf("redis-server on %s did not start: %v\n%s", n.addr, err, readLog(n))
		}
	}

	create := []string{"--cluster", "create"}
	for _, n := range nodes {
		create = append(create, n.addr)
	}
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, create...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		var info []byte
		if err := waitUntil(ctx, func() bool {
			info, _ = exec.CommandContext(ctx, cli, "-p", n.port, "cluster", "info").Output()
			return strings.Contains(string(info), "cluster_state:ok")
		}); err != nil {
			t.Fatalf("the cluster is not healthy on %s: %v\n%s", n.addr, err, info)
		}
	}
	return nodes
}

// sparePorts returns count distinct TCP ports that were free a moment ago.
func sparePorts(t testing.TB, count int) []int {
	t.Helper()
	ports := make([]int, count)
	for i := range ports {
		// Held open until all are chosen, so that no port is chosen twice.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
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

func readLog(n clusterNode) string {
	log, err := os.ReadFile(n.logFile)
	if err != nil {
		return err.Error()
	}
	return string(log)
}
