package pebblestore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/store"
)

const (
	crashChildEnv = "MIDGE_PEBBLESTORE_CRASH_DIR"
	// crashSyncEnv, when set, is the child's SyncInterval.
	crashSyncEnv = "MIDGE_PEBBLESTORE_CRASH_SYNC"
)

// crashChild runs in a child process: concurrent writers apply batches as
// fast as they can and print "client seq" after each Apply returned, until
// the parent kills the process.
func crashChild(dir string) int {
	interval, _ := time.ParseDuration(os.Getenv(crashSyncEnv))
	s, err := Open(dir, Options{SyncInterval: interval})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		id := fmt.Sprintf("writer-%d", w)
		wg.Go(func() {
			for seq := uint64(1); ; seq++ {
				o := &store.Outgoing{Seq: seq, QoS: 1, Message: store.Message{Topic: "t", QoS: 1, Payload: []byte(id)}}
				r := &store.Message{Topic: id, Payload: []byte(strconv.FormatUint(seq, 10))}
				if err := s.Apply(context.Background(), store.PutOutgoing(id, o), store.PutRetained(r)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", id, seq)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashKeepsAcknowledged kills a writer with SIGKILL (no Close, no
// flush) and checks that every Apply it saw return is in the store: with
// every Apply fsync'd, and with SyncInterval, whose writes the operating
// system holds when the process dies.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, interval := range []string{"", "1s"} {
		t.Run("sync="+interval, func(t *testing.T) { crashKeepsAcknowledged(t, interval) })
	}
}

func crashKeepsAcknowledged(t *testing.T, interval string) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSyncEnv+"="+interval)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]uint64{}
	sc := bufio.NewScanner(stdout)
	for n := 0; n < 2000 && sc.Scan(); n++ {
		id, seqText, _ := strings.Cut(sc.Text(), " ")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			t.Fatalf("child output %q", sc.Text())
		}
		acked[id] = max(acked[id], seq)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) == 0 {
		t.Fatal("child acknowledged nothing")
	}

	s := open(t, dir)
	defer s.Close()
	outs := map[string]uint64{}
	retained := map[string]uint64{}
	err = s.Load(store.Visitor{
		Outgoing: func(id string, o store.Outgoing) error {
			if o.Seq != outs[id]+1 {
				return fmt.Errorf("%s: seq %d after %d: a hole", id, o.Seq, outs[id])
			}
			outs[id] = o.Seq
			return nil
		},
		Retained: func(m store.Message) error {
			retained[m.Topic], _ = strconv.ParseUint(string(m.Payload), 10, 64)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, seq := range acked {
		if outs[id] < seq {
			t.Errorf("%s: acknowledged up to %d, store has %d", id, seq, outs[id])
		}
		// The retained message was in the same batch: atomicity means it
		// matches the newest outgoing message.
		if retained[id] != outs[id] {
			t.Errorf("%s: retained says %d, outgoing %d: batch not atomic", id, retained[id], outs[id])
		}
	}
	t.Logf("acknowledged %v, recovered %v", acked, outs)
}
