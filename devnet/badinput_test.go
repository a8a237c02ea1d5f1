package devnet_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metanode/metanode/devnet"
)

// snapshot lists a home's files with their sizes and contents' lengths:
// what a refused start must leave unchanged.
func snapshot(t *testing.T, home string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(home, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		data := ""
		if !info.IsDir() {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			data = string(raw)
		}
		b.WriteString(path + "\x00" + info.Mode().String() + "\x00" + data + "\x00")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// runRefused runs `metanode run` on home and expects a refusal: a
// non-zero exit within a bound, one line on stderr containing want, and
// the home unchanged.
func runRefused(t *testing.T, home, want string, env ...string) {
	t.Helper()
	before := snapshot(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", "--home", home)
	var stderr bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("run with %s: exit %v, want a refusal; output:\n%s", want, err, stderr.String())
	}
	out := strings.TrimRight(stderr.String(), "\n")
	if strings.Contains(out, "\n") || !strings.Contains(out, want) {
		t.Fatalf("run: want one line containing %q, got:\n%s", want, out)
	}
	if after := snapshot(t, home); after != before {
		t.Fatalf("a refused start changed the home (%s)", want)
	}
}

// TestBadInput: a malformed config, a wrong genesis, a port in use and a
// missing passphrase are each one clear line and a non-zero exit, and
// nothing is written.
func TestBadInput(t *testing.T) {
	d := setup(t, devnet.Config{Nodes: 5})
	home := d.Nodes[0].Home
	config := filepath.Join(home, "config.toml")
	good, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("malformed config", func(t *testing.T) {
		write(config, string(good)+"\n[rest\nlisten = 1\n")
		defer write(config, string(good))
		runRefused(t, home, "config.toml: line")
	})
	t.Run("unknown setting", func(t *testing.T) {
		write(config, strings.Replace(string(good), "[rest]", "[rest]\nlisten_port = 8067", 1))
		defer write(config, string(good))
		runRefused(t, home, `unknown setting "rest.listen_port"`)
	})
	t.Run("missing passphrase", func(t *testing.T) {
		pass := filepath.Join(home, "passphrase")
		saved, err := os.ReadFile(pass)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(pass)
		defer write(pass, string(saved))
		runRefused(t, home, "no passphrase")
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		runRefused(t, home, "wrong passphrase", "METANODE_PASSPHRASE=not-the-one")
	})
	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", d.Nodes[0].REST)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		runRefused(t, home, "[rest] listen "+d.Nodes[0].REST)
	})
	t.Run("raft with one other replica", func(t *testing.T) {
		runRefused(t, home, "[raft] replicas: 1 other replica(s): need at least 2",
			"METANODE_RAFT_ID=a", "METANODE_RAFT_BIND=127.0.0.1:7001", "METANODE_RAFT_REPLICAS=b@127.0.0.1:7002")
	})
	t.Run("raft port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		runRefused(t, home, "[raft] bind listen "+l.Addr().String(),
			"METANODE_RAFT_ID=a", "METANODE_RAFT_BIND="+l.Addr().String(), "METANODE_RAFT_REPLICAS=b@127.0.0.1:7002,c@127.0.0.1:7003")
	})
	t.Run("wrong genesis", func(t *testing.T) {
		// The node runs once on its genesis, so its log starts with it.
		cmd := exec.Command(binary, "run", "--home", home, "--chain-url", "http://127.0.0.1:1")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "node started") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("the node did not start:\n%s", out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		stopped := make(chan error, 1)
		go func() { stopped <- cmd.Wait() }()
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("a clean stop: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("no clean stop within 30 s:\n%s", out.String())
		}
		genesis := filepath.Join(home, "genesis.toml")
		saved, err := os.ReadFile(genesis)
		if err != nil {
			t.Fatal(err)
		}
		defer write(genesis, string(saved))
		write(genesis, strings.Replace(string(saved), `network = "devnet"`, `network = "othernet"`, 1))
		runRefused(t, home, "differs from the one the log")
		write(genesis, strings.Replace(string(saved), "threshold = 2", "threshold = 9", 1))
		runRefused(t, home, "genesis")
	})
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
