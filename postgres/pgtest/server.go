package pgtest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale/internal/testenv"
)

// Server is a PostgreSQL server of the test's own, which it may crash.
type Server struct {
	tb      testing.TB
	bin     string
	dir     string // data directory
	port    string
	owner   *syscall.Credential // the server's user when the test runs as root
	process *exec.Cmd
}

// StartServer initialises a database cluster in a temporary folder and
// starts a server on a spare 127.0.0.1 port, with fsync on, as production
// runs. As root (CI) it runs as the postgres user, since PostgreSQL
// refuses root. The server is killed and its folder removed when the test
// ends. It skips (or fails, see testenv) where PostgreSQL is not installed.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin := binDir(tb)
	s := &Server{tb: tb, bin: bin}
	dir, err := os.MkdirTemp("", "flashsale-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		owner, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(tb, "running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		s.owner = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	s.dir = filepath.Join(dir, "data")
	if out, err := s.command(filepath.Join(bin, "initdb"), "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	s.Start()
	tb.Cleanup(s.Crash)
	return s
}

// binDir finds the newest installed PostgreSQL's programs.
func binDir(tb testing.TB) string {
	tb.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := string(out[:len(out)-1]); fileExists(filepath.Join(dir, "initdb")) {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(a) - versionOf(b) })
	for _, dir := range slices.Backward(dirs) {
		if fileExists(filepath.Join(dir, "initdb")) {
			return dir
		}
	}
	testenv.Missing(tb, "PostgreSQL's initdb is not installed (apt-get install postgresql)")
	return ""
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// command runs program as the server's owner, as a child of this process
// (not through su or runuser): a killed postmaster must be this process's
// to reap, or its lock file would name a zombie that still "runs".
func (s *Server) command(program string, args ...string) *exec.Cmd {
	cmd := exec.Command(program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.owner}
	return cmd
}

// URL is the server's connection URL.
func (s *Server) URL() string {
	return "postgres://postgres@127.0.0.1:" + s.port + "/postgres?sslmode=disable"
}

// Start starts the server (again, after Crash: it recovers from its
// write-ahead log first) and waits until it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.process = s.command(filepath.Join(s.bin, "postgres"), "-D", s.dir, "-p", s.port, "-k", filepath.Dir(s.dir),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on")
	if err := s.process.Start(); err != nil {
		s.tb.Fatalf("start postgres: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("postgres on port %s is not ready after 60 s: %v", s.port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Crash kills every process of the server with SIGKILL at once, without
// warning, as a machine that loses power: no checkpoint, no shutdown; what
// was not in the write-ahead log on disk is gone. (The server's processes
// each run in a session of their own, so no process group reaches them
// all: the postmaster's children are found in /proc.)
func (s *Server) Crash() {
	if s.process == nil || s.process.Process == nil {
		return
	}
	postmaster := s.process.Process.Pid
	for _, child := range childrenOf(postmaster) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = syscall.Kill(postmaster, syscall.SIGKILL)
	_ = s.process.Wait()
	s.process = nil
}

// StopImmediately stops the server as `pg_ctl stop -m immediate` does, an
// operator's emergency stop: the postmaster tells every backend to quit at
// once, mid-transaction, with no checkpoint, and the next start recovers
// from the write-ahead log as after a crash.
func (s *Server) StopImmediately() {
	s.tb.Helper()
	if s.process == nil {
		return
	}
	if out, err := s.command(filepath.Join(s.bin, "pg_ctl"), "stop", "-m", "immediate", "-D", s.dir).CombinedOutput(); err != nil {
		s.tb.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	_ = s.process.Wait()
	s.process = nil
}

// Freeze stops every process of the server (SIGSTOP), as a server that
// hangs: connections stay open, queries wait, nothing answers. Thaw
// resumes them.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server; it does nothing to a running one.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	if s.process == nil || s.process.Process == nil {
		return
	}
	postmaster := s.process.Process.Pid
	_ = syscall.Kill(postmaster, sig)
	for _, child := range childrenOf(postmaster) {
		_ = syscall.Kill(child, sig)
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var children []int
	for _, stat := range stats {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		end := strings.LastIndexByte(string(data), ')')
		fields := strings.Fields(string(data)[end+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			if child, err := strconv.Atoi(filepath.Base(filepath.Dir(stat))); err == nil {
				children = append(children, child)
			}
		}
	}
	return children
}
