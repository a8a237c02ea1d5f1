package durable

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The crash tests run a child process (this test binary again) that
// writes a file with WriteFile and is killed with SIGKILL: at each step
// of a write (the child kills itself at a failpoint), and at random
// moments of a stream of writes. Afterwards the file must hold one whole
// version, old or new as the step says, never a part of one and never
// nothing.

const crashChildEnv = "METANODE_DURABLE_CRASH_CHILD" // "point:STEP:PATH" or "loop:PATH"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
		return
	}
	os.Exit(m.Run())
}

// version is the content of the k-th write: its number, then a pattern
// of a length that varies from a byte to several pages, so a torn write
// shows as a wrong length or a wrong byte.
func version(k int) []byte {
	head := fmt.Sprintf("version %d\n", k)
	n := 1 + (k*7919)%(256<<10)
	out := make([]byte, 0, len(head)+n)
	out = append(out, head...)
	for i := range n {
		out = append(out, byte((k+i)%251))
	}
	return out
}

// versionOf reads which version data is, or fails if it is not a whole one.
func versionOf(data []byte) (int, error) {
	line, _, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !bytes.HasPrefix(line, []byte("version ")) {
		return 0, fmt.Errorf("not a version (%d bytes)", len(data))
	}
	k, err := strconv.Atoi(string(line[len("version "):]))
	if err != nil {
		return 0, fmt.Errorf("not a version: %q", line)
	}
	if !bytes.Equal(data, version(k)) {
		return 0, fmt.Errorf("version %d is torn: %d bytes, want %d", k, len(data), len(version(k)))
	}
	return k, nil
}

func crashChild(spec string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mode, rest, _ := strings.Cut(spec, ":")
	switch mode {
	case "point":
		step, path, _ := strings.Cut(rest, ":")
		failpoint = func(at string) {
			if at == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
		if step == "overwritten" || step == "removed" {
			if err := Erase(path); err != nil {
				fail(err)
			}
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		k, err := versionOf(data)
		if err != nil {
			fail(err)
		}
		if err := WriteFile(path, version(k+1), 0o600); err != nil {
			fail(err)
		}
	case "loop":
		path := rest
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		k, err := versionOf(data)
		if err != nil {
			fail(err)
		}
		out := bufio.NewWriter(os.Stdout)
		for k++; ; k++ {
			if err := WriteFile(path, version(k), 0o600); err != nil {
				fail(err)
			}
			fmt.Fprintln(out, k) // acknowledged: WriteFile returned
			out.Flush()
		}
	default:
		fail(fmt.Errorf("unknown crash child %q", spec))
	}
}

// child starts the test binary as a crash child.
func child(t *testing.T, spec string) (*exec.Cmd, io.ReadCloser, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+spec)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, &stderr
}

func killed(cmd *exec.Cmd) bool {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// TestCrashAtEveryStep kills a writer at each step of WriteFile (and an
// eraser at each step of Erase): before the rename the file holds the old
// version whole, from the rename on the new one; an erasure killed after
// the overwrite leaves no byte of the old content in place.
func TestCrashAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		step string
		want int // the version the file holds afterwards; -1: erased
	}{
		{"created", 1},
		{"written", 1},
		{"synced", 1},
		{"renamed", 2},
		{"dir-synced", 2},
		{"overwritten", -1},
		{"removed", -1},
	} {
		t.Run(tc.step, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "file")
			if err := WriteFile(path, version(1), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd, stdout, stderr := child(t, "point:"+tc.step+":"+path)
			io.Copy(io.Discard, stdout)
			err := cmd.Wait()
			if !killed(cmd) {
				t.Fatalf("the child was not killed at %s (%v): %s", tc.step, err, stderr)
			}
			data, err := os.ReadFile(path)
			switch {
			case tc.step == "removed":
				if !os.IsNotExist(err) {
					t.Fatalf("after the removal the file is still there (%v)", err)
				}
			case tc.want < 0:
				old := version(1)
				if err != nil || len(data) != len(old) {
					t.Fatalf("after the overwrite: %d bytes, %v; want %d", len(data), err, len(old))
				}
				if same := sameBytes(data, old); same > len(old)/8 {
					t.Fatalf("after the overwrite %d of %d bytes are the old ones", same, len(old))
				}
			default:
				if err != nil {
					t.Fatalf("killed at %s: the file is gone: %v", tc.step, err)
				}
				k, err := versionOf(data)
				if err != nil || k != tc.want {
					t.Fatalf("killed at %s: version %d (%v), want %d", tc.step, k, err, tc.want)
				}
			}
		})
	}
}

// sameBytes counts the positions where a and b agree.
func sameBytes(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// TestCrashSafety kills a child that rewrites one file in a loop at 40
// random moments. After every kill the file holds a whole version: the
// last one whose write returned, or the one after it (renamed in before
// the kill, not yet acknowledged).
func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := WriteFile(path, version(0), 0o600); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 11))
	acked := 0
	for run := range 40 {
		killAfter := rng.IntN(30) // 0: killed while starting or in its first write
		cmd, stdout, stderr := child(t, "loop:"+path)
		lines := bufio.NewScanner(stdout)
		for n := 0; n < killAfter && lines.Scan(); n++ {
			k, err := strconv.Atoi(lines.Text())
			if err != nil {
				t.Fatalf("child said %q", lines.Text())
			}
			acked = k
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(stdout)
		for _, line := range strings.Fields(string(rest)) {
			if k, err := strconv.Atoi(line); err == nil {
				acked = k
			}
		}
		err := cmd.Wait()
		if !killed(cmd) {
			t.Fatalf("run %d: the child ended by itself (%v): %s", run, err, stderr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("run %d: the file is gone after SIGKILL: %v", run, err)
		}
		k, err := versionOf(data)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if k != acked && k != acked+1 {
			t.Fatalf("run %d: the file holds version %d, the last acknowledged is %d", run, k, acked)
		}
		acked = k
	}
	t.Logf("40 kills, the file ends at version %d", acked)
}
