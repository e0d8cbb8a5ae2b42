package broker_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/midge-mqtt/midge/internal/packet"
)

// readRaw reads the bytes of the next packet c receives.
func readRaw(t *testing.T, c *rawClient, r *bufio.Reader) []byte {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(waitTime))
	for k := 2; ; k++ {
		h, err := r.Peek(k)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		_, remaining, headerLen, err := packet.ParseHeader(h)
		if errors.Is(err, packet.ErrIncomplete) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, headerLen+remaining)
		if _, err := io.ReadFull(r, out); err != nil {
			t.Fatalf("read: %v", err)
		}
		return out
	}
}

// TestQoS0DeliveredBytes: a QoS 0 PUBLISH a subscriber takes as it was
// sent goes out as the bytes its publisher sent (no retain flag); every
// other delivery is encoded for its subscriber. Each subscriber's bytes
// must be exactly our codec's encoding of what it should get, for remaining
// lengths of one to three bytes and a body read in chunks, with and
// without retain flag and properties.
func TestQoS0DeliveredBytes(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	type sub struct {
		c   *rawClient
		r   *bufio.Reader
		rap bool // retain as published
	}
	var subs []sub
	for i, v := range []byte{packet.V31, packet.V311, packet.V5, packet.V5} {
		c := mustConnect(t, b.addr, v, fmt.Sprintf("sub%d", i), true)
		rap := i == 3
		c.subscribe(1, packet.Subscription{Filter: "w/#", QoS: 1, RetainAsPublished: rap})
		subs = append(subs, sub{c, bufio.NewReader(c.nc), rap})
	}
	pubs := []*rawClient{
		mustConnect(t, b.addr, packet.V311, "pub3", true),
		mustConnect(t, b.addr, packet.V5, "pub5", true),
	}
	for _, pub := range pubs {
		for _, size := range []int{0, 100, 200, 20000, 70 << 10} {
			for _, retain := range []bool{false, true} {
				for _, withProps := range []bool{false, true} {
					if withProps && pub.version != packet.V5 {
						continue
					}
					p := &packet.Publish{Topic: fmt.Sprintf("w/%d/%d", pub.version, size), Retain: retain, Payload: bytes.Repeat([]byte{byte(size)}, size)}
					if withProps {
						p.Properties.User = []packet.UserProperty{{Key: "k", Value: "v"}}
						p.Properties.ContentType = "text/plain"
						p.Properties.Set(packet.PropContentType)
					}
					pub.send(p)
					for i, s := range subs {
						want := *p
						want.Retain = retain && s.rap
						if s.c.version != packet.V5 {
							want.Properties = packet.Properties{}
						}
						wb, err := packet.Append(nil, &want, s.c.version)
						if err != nil {
							t.Fatal(err)
						}
						if got := readRaw(t, s.c, s.r); !bytes.Equal(got, wb) {
							t.Fatalf("publisher v%d, %d bytes, retain %v, properties %v: subscriber %d (v%d) got % x..., want % x...",
								pub.version, size, retain, withProps, i, s.c.version, got[:min(len(got), 24)], wb[:min(len(wb), 24)])
						}
					}
				}
			}
		}
	}
}
