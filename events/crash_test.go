package events_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

const crashChildEnv = "METANODE_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashWriters = 8

// crashChild appends until it is killed. Writer w's k-th batch holds
// 1+k%4 pings from peer w with ping seqs k*10+j, so the parent can tell
// from an acknowledgement "w k first" exactly what must be at which seq.
func crashChild(dir string) {
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if s.LastSeq() == 0 {
		if _, err := s.Append(eventstest.Samples()[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				batch := make([]events.Event, 1+k%4)
				for j := range batch {
					batch[j] = eventstest.PingReceived(w, uint64(k*10+j))
				}
				first, err := s.Append(batch...)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				out.Lock()
				fmt.Printf("%d %d %d\n", w, k, first)
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct {
	writer, batch int
	first         uint64
}

// TestCrashSafety kills an appending child process with SIGKILL at 50
// random moments. After every kill the log must open, verify, and hold
// every event whose append had returned.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(42, 7))
	var acked []ack
	for run := range 50 {
		// Kill after a random number of acknowledgements; 0 kills the
		// child while it is still starting or opening the log.
		killAfter := rng.IntN(400)
		acked = append(acked, runAndKill(t, dir, killAfter)...)
		checkAcked(t, dir, acked, run)
	}
	t.Logf("50 kills, %d acknowledged appends survived", len(acked))
}

func runAndKill(t *testing.T, dir string, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	lines := bufio.NewScanner(stdout)
	for len(acks) < killAfter && lines.Scan() {
		var a ack
		if _, err := fmt.Sscanf(lines.Text(), "%d %d %d", &a.writer, &a.batch, &a.first); err != nil {
			t.Fatalf("child said %q: %v", lines.Text(), err)
		}
		acks = append(acks, a)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines already written before the kill were acknowledged too.
	rest, _ := io.ReadAll(stdout)
	for _, line := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		var a ack
		if _, err := fmt.Sscanf(line, "%d %d %d", &a.writer, &a.batch, &a.first); err == nil {
			acks = append(acks, a)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child ended by itself (%v): %s", err, stderr.String())
	}
	return acks
}

func checkAcked(t *testing.T, dir string, acked []ack, run int) {
	t.Helper()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatalf("run %d: log does not open after SIGKILL: %v", run, err)
	}
	defer s.Close()
	if _, err := s.Verify(); err != nil {
		t.Fatalf("run %d: log does not verify after SIGKILL: %v", run, err)
	}
	last := s.LastSeq()
	for _, a := range acked {
		n := 1 + a.batch%4
		if a.first+uint64(n)-1 > last {
			t.Fatalf("run %d: acknowledged seqs %d..%d lost, log ends at %d", run, a.first, a.first+uint64(n)-1, last)
		}
		j := 0
		err := s.ForEach(a.first, a.first+uint64(n)-1, func(seq uint64, ev events.Event) error {
			ping, ok := ev.(*events.PingReceived)
			if !ok {
				return fmt.Errorf("seq %d is a %s event", seq, ev.Kind())
			}
			var body events.Ping
			if err := events.Unmarshal(ping.Msg.Body, &body); err != nil {
				return err
			}
			if body.PeerID != eventstest.Peer(a.writer) || body.Seq != uint64(a.batch*10+j) {
				return fmt.Errorf("seq %d holds ping %d of %s, want ping %d of writer %d", seq, body.Seq, body.PeerID.Short(), a.batch*10+j, a.writer)
			}
			j++
			return nil
		})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}
