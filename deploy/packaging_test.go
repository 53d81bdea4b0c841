package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// What this machine can check of the packaging without Docker: the
// Dockerfile's rules, the compose file's references to the files and
// names it relies on, and the systemd unit (systemd-analyze). Building the
// image and running the compose file need a Docker daemon; deploy/README.md
// says where they were not run.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
}

func dockerfile(t *testing.T) [][]instruction {
	t.Helper()
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var line string
	for raw := range strings.SplitSeq(string(src), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && line == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			line += cont + " "
			continue
		}
		line += trimmed
		cmd, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

// The image is built in one stage and run from a small static one, as a
// user other than root, from a static, trimmed and stripped binary.
func TestDockerfileRules(t *testing.T) {
	t.Parallel()
	stages := dockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a runtime stage", len(stages))
	}
	var build string
	for _, stage := range stages[:len(stages)-1] {
		for _, in := range stage {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/flashsale"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step lacks %s: %q", want, build)
		}
	}

	final := stages[len(stages)-1]
	base := final[0].args
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("the runtime stage is FROM %s, want distroless static or scratch", base)
	}
	seen := map[string]string{}
	for _, in := range final {
		seen[in.cmd] = in.args
	}
	user, ok := seen["USER"]
	if !ok {
		t.Error("the runtime stage sets no USER: it would run as root")
	}
	if name, _, _ := strings.Cut(user, ":"); name == "root" || name == "0" {
		t.Errorf("USER %s is root", user)
	}
	if _, ok := seen["HEALTHCHECK"]; ok {
		t.Error("HEALTHCHECK in a distroless image: there is no shell or curl to run it")
	}
	if seen["EXPOSE"] != "8080" {
		t.Errorf("EXPOSE %q, want 8080 (FLASHSALE_ADDR's default)", seen["EXPOSE"])
	}
	if !strings.Contains(seen["VOLUME"], "/data") {
		t.Errorf("VOLUME %q, want the data folder /data", seen["VOLUME"])
	}
	if !strings.HasPrefix(seen["ENTRYPOINT"], "[") {
		t.Errorf("ENTRYPOINT %s: want the exec form, so SIGTERM reaches flashsale (there is no shell anyway)", seen["ENTRYPOINT"])
	}
}

// .git stays in the build context: without it the binary carries no VCS
// stamp, and 'flashsale version' and flashsale_build_info say "(devel)".
func TestDockerignoreKeepsGit(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(src), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Trim(line, "/*") == ".git" || line == "*" {
			t.Errorf(".dockerignore excludes .git (%q): the image's binary would carry no VCS stamp", line)
		}
	}
}

// The compose file and the files it mounts agree: what it mounts exists,
// Prometheus scrapes its instances, nginx's upstreams are its instances,
// and the instances trust nginx's address.
func TestComposeReferences(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(src)
	for _, m := range regexp.MustCompile(`(?m)^\s*- (\./[^:]+):`).FindAllStringSubmatch(compose, -1) {
		if _, err := os.Stat(m[1]); err != nil {
			t.Errorf("compose.yaml mounts %s: %v", m[1], err)
		}
	}
	if !strings.Contains(compose, "\n  flashsale-1:") || !strings.Contains(compose, "\n  flashsale-2:") {
		t.Fatal("compose.yaml has no services flashsale-1 and flashsale-2")
	}
	prometheus, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prometheus), `targets: ["flashsale-1:8080", "flashsale-2:8080"]`) ||
		!strings.Contains(string(prometheus), "job_name: flashsale\n") {
		t.Error(`prometheus.yml does not scrape flashsale-1:8080 and flashsale-2:8080 as job "flashsale" (the alert rules select on it)`)
	}
	servers, err := os.ReadFile("compose/flashsale-servers.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"server flashsale-1:8080", "server flashsale-2:8080"} {
		if !strings.Contains(string(servers), s) {
			t.Errorf("compose/flashsale-servers.conf lacks %q", s)
		}
	}
	nginx := regexp.MustCompile(`ipv4_address: (\S+)`).FindStringSubmatch(compose)
	trusted := regexp.MustCompile(`FLASHSALE_TRUSTED_PROXIES: (\S+)`).FindStringSubmatch(compose)
	if nginx == nil || trusted == nil || trusted[1] != nginx[1]+"/32" {
		t.Errorf("the instances trust %v, nginx's address is %v: per-IP limits would see nginx, not the clients", trusted, nginx)
	}
	for _, secret := range []string{"jwt_secret", "postgres_url", "postgres_password"} {
		if !strings.Contains(compose, "file: ./secrets/"+secret) {
			t.Errorf("compose.yaml does not read the secret %s from ./secrets/ (compose-secrets.sh writes it there)", secret)
		}
	}
}

// compose.yaml is YAML: python3's yaml module, where it exists, parses it
// (Go has no YAML parser among this module's dependencies).
func TestComposeIsYAML(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if exec.Command(python, "-c", "import yaml").Run() != nil {
		t.Skip("python3 has no yaml module (Debian: python3-yaml)")
	}
	// One interpreter for all files: python3 takes a while to start.
	out, err := exec.Command(python, "-c", "import sys, yaml\nfor f in sys.argv[1:]: yaml.safe_load(open(f))",
		"compose.yaml", "prometheus/prometheus.yml", "prometheus/alerts.yml", "prometheus/alerts_test.yml",
		"grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/flashsale.yml").CombinedOutput()
	if err != nil {
		t.Errorf("not valid YAML: %v\n%s", err, out)
	}
}

// unitSettings are the unit's key=value lines (a key set twice keeps both).
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	src, err := os.ReadFile("flashsale.service")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string][]string{}
	for line := range strings.SplitSeq(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		settings[key] = append(settings[key], value)
	}
	return settings
}

// The unit keeps its hardening, and gives the drain time to finish: a stop
// timeout shorter than the drain wait plus the shutdown timeout would
// SIGKILL requests in flight.
func TestSystemdUnitSettings(t *testing.T) {
	t.Parallel()
	settings := unitSettings(t)
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "StateDirectory": "flashsale",
		"Restart": "on-failure", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := settings[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s=%s", key, got, key, want)
		}
	}
	if len(settings["EnvironmentFile"]) == 0 {
		t.Error("no EnvironmentFile= for the settings")
	}
	env := map[string]string{}
	for _, e := range settings["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	drain, err1 := time.ParseDuration(env["FLASHSALE_DRAIN_WAIT"])
	shutdown, err2 := time.ParseDuration(env["FLASHSALE_SHUTDOWN_TIMEOUT"])
	stop, err3 := time.ParseDuration(strings.Join(settings["TimeoutStopSec"], ""))
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("the unit's drain wait, shutdown timeout or TimeoutStopSec does not parse: %v %v %v", err1, err2, err3)
	}
	if stop <= drain+shutdown {
		t.Errorf("TimeoutStopSec=%v is not above FLASHSALE_DRAIN_WAIT (%v) + FLASHSALE_SHUTDOWN_TIMEOUT (%v)", stop, drain, shutdown)
	}
	if nofile := strings.Join(settings["LimitNOFILE"], ""); len(nofile) < 5 {
		t.Errorf("LimitNOFILE=%s: a flash sale holds tens of thousands of connections", nofile)
	}
}

// systemd itself accepts the unit: systemd-analyze verify prints nothing.
// It warns (and still exits 0) on an unknown key or a bad value, so any
// output is a failure. ExecStart's binary must exist for it, so a copy
// points at this machine's true(1).
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze is not installed (Debian: systemd)")
	}
	trueBin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to stand in for the binary")
	}
	src, err := os.ReadFile("flashsale.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.Replace(string(src), "ExecStart=/usr/local/bin/flashsale ", "ExecStart="+trueBin+" ", 1)
	if unit == string(src) {
		t.Fatal("flashsale.service has no ExecStart=/usr/local/bin/flashsale")
	}
	path := filepath.Join(t.TempDir(), "flashsale.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
