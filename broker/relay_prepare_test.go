package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/store"
)

// heldStore is a memory store whose Apply waits, while held, until
// release is closed.
type heldStore struct {
	*store.Memory
	held    atomic.Bool
	release chan struct{}
	applies atomic.Int32 // while held
	heldOps atomic.Int32 // in those
}

func (h *heldStore) Apply(ctx context.Context, ops ...store.Op) error {
	if h.held.Load() {
		h.applies.Add(1)
		h.heldOps.Add(int32(len(ops)))
		<-h.release
	}
	return h.Memory.Apply(ctx, ops...)
}

func relayed(payload string) *broker.RelayedMessage {
	return &broker.RelayedMessage{Topic: "t", Payload: []byte(payload), QoS: 1, Origin: "elsewhere"}
}

// Messages prepared one after the other do not wait for the store: their
// records go in one or two commits (the journal may have started on the
// first), Finish waits for them and only then delivers, in order.
func TestPrepareRelayedStoresABurstTogether(t *testing.T) {
	st := &heldStore{Memory: store.NewMemory(), release: make(chan struct{})}
	b := startBroker(t, storeOptions(st), nil)
	s := persistentSub(t, b)
	st.held.Store(true)
	release := sync.OnceFunc(func() { close(st.release) })
	t.Cleanup(release) // a failed test does not leave the broker waiting
	payloads := []string{"a", "b", "c", "d", "e"}
	prepared := make(chan []*broker.RelayedDelivery, 1)
	go func() {
		var ds []*broker.RelayedDelivery
		for _, p := range payloads {
			ds = append(ds, b.PrepareRelayed(relayed(p)))
		}
		prepared <- ds
	}()
	var ds []*broker.RelayedDelivery
	select {
	case ds = <-prepared:
	case <-time.After(waitTime):
		t.Fatal("PrepareRelayed waited for the store")
	}
	done := make(chan error, 1)
	go func() {
		for _, d := range ds {
			if n, err := d.Finish(); err != nil || n != 1 {
				done <- fmt.Errorf("Finish: %d, %v", n, err)
				return
			}
		}
		done <- nil
	}()
	s.expectNothing(100 * time.Millisecond) // while Finish waits
	select {
	case err := <-done:
		t.Fatalf("Finish returned before the store had the messages: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := st.applies.Load(); n > 2 {
		t.Errorf("%d commits for a burst of %d messages", n, len(payloads))
	}
	got := s.receive(len(payloads))
	want := make([]string, len(payloads))
	for i, p := range payloads {
		want[i] = "t=" + p + "@1"
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A store that fails: Finish says so and delivers nothing, and the
// session does not keep the message.
func TestPrepareRelayedStoreFailure(t *testing.T) {
	st := &failingStore{Memory: store.NewMemory()}
	b := startBroker(t, storeOptions(st), nil)
	s := persistentSub(t, b)
	st.fail.Store(true)
	if _, err := b.PrepareRelayed(relayed("lost")).Finish(); err == nil || !strings.Contains(err.Error(), "storing a message") {
		t.Fatalf("Finish with the store failing: %v", err)
	}
	s.expectNothing(100 * time.Millisecond)
	st.fail.Store(false)
	if n, err := b.PrepareRelayed(relayed("kept")).Finish(); err != nil || n != 1 {
		t.Fatalf("Finish: %d, %v", n, err)
	}
	keptOnly(t, b, s, 0, "t=kept@1")
}

// A malformed relayed message is refused by Finish; a retained one is
// routed whole and kept.
func TestPrepareRelayedBadAndRetained(t *testing.T) {
	b := startBroker(t, storeOptions(store.NewMemory()), nil)
	bad := b.PrepareRelayed(&broker.RelayedMessage{Topic: "t/#", QoS: 1})
	if _, err := bad.Finish(); err == nil || bad.Retained() {
		t.Fatalf("a wildcard topic: %v", err)
	}
	if _, err := b.PrepareRelayed(&broker.RelayedMessage{Topic: "t", QoS: 3}).Finish(); err == nil {
		t.Fatal("QoS 3 accepted")
	}
	d := b.PrepareRelayed(&broker.RelayedMessage{Topic: "keep", Payload: []byte("r"), QoS: 1, Retain: true})
	if !d.Retained() {
		t.Fatal("not taken as retained")
	}
	if _, err := d.Finish(); err != nil {
		t.Fatal(err)
	}
	s := mustConnect(t, b.addr, packet.V311, "s", true)
	s.subscribe(1, packet.Subscription{Filter: "keep", QoS: 1})
	if p, ok := s.recv().(*packet.Publish); !ok || string(p.Payload) != "r" || !p.Retain {
		t.Fatalf("got %+v", p)
	}
}
