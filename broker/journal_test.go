package broker

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/midge-mqtt/midge/internal/store"
)

// TestJournalConcurrentAdds: ops added from many goroutines while batches
// are being applied all arrive, in each goroutine's order.
func TestJournalConcurrentAdds(t *testing.T) {
	st := store.NewMemory()
	j := newJournal(st, logger{slog.New(slog.DiscardHandler)}, new(latencyHist))
	const writers, each = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("c%d", w)
			for i := range each {
				o := &store.Outgoing{Seq: uint64(i + 1), QoS: 1, Message: store.Message{Topic: "t", QoS: 1}}
				c := j.add(store.PutOutgoing(id, o))
				if i%2 == 1 {
					j.add(store.DeleteOutgoing(id, uint64(i))) // ordered after its Put
				}
				if i%50 == 0 {
					if err := c.wait(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	j.close()
	kept := map[string]int{}
	err := st.Load(store.Visitor{Outgoing: func(id string, o store.Outgoing) error {
		if o.Seq%2 == 1 && o.Seq != each {
			return fmt.Errorf("%s: seq %d should have been deleted", id, o.Seq)
		}
		kept[id]++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		if n := kept[fmt.Sprintf("c%d", w)]; n != each/2 {
			t.Errorf("c%d: %d records kept, want %d", w, n, each/2)
		}
	}
	if c := j.add(store.DeleteSession("x")); c.wait() == nil {
		t.Error("add after close succeeded")
	}
}
