package bridge

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/midge-mqtt/midge/internal/sysfig"
)

// sysLoop publishes each bridge's figures every interval, retained and
// only when changed, as the broker publishes $SYS/broker:
//
//	$SYS/broker/bridge/NAME/state              1 connected, 0 not
//	$SYS/broker/bridge/NAME/messages/sent      to the remote
//	$SYS/broker/bridge/NAME/messages/received  from the remote
//	$SYS/broker/bridge/NAME/messages/dropped   refused or not kept
//	$SYS/broker/bridge/NAME/messages/inflight  being passed on, or sent and
//	                                           awaiting acknowledgement
//	$SYS/broker/bridge/NAME/messages/queued    for the remote, not yet sent
//	$SYS/broker/bridge/NAME/bytes/sent         payload bytes to the remote
//	$SYS/broker/bridge/NAME/bytes/received     payload bytes from the remote
//	$SYS/broker/bridge/NAME/reconnects         connections to the remote lost
//
// The topics of a bridge that is removed are cleared.
func (m *Manager) sysLoop(interval time.Duration) {
	defer close(m.sysDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	pub := sysfig.New(m.srv)
	for {
		m.publishSys(pub)
		select {
		case <-m.sysStop:
			return
		case <-t.C:
		}
	}
}

// Figures are one bridge's counters, as $SYS publishes them.
type Figures struct {
	Name                     string
	Connected                bool
	Sent, Received, Dropped  int64 // messages
	Inflight, Queued         int64 // messages now
	BytesSent, BytesReceived int64 // payload bytes
	Reconnects               int64 // connections to the remote lost
}

// Figures returns the running bridges' figures, sorted by name.
func (m *Manager) Figures() []Figures {
	m.mu.Lock()
	out := make([]Figures, 0, len(m.bridges))
	for name, b := range m.bridges {
		out = append(out, Figures{
			Name: name, Connected: b.Connected(),
			Sent: b.sent.Load(), Received: b.received.Load(), Dropped: b.dropped.Load(),
			Inflight: max(b.busy.Load()-b.waiting.Load(), 0), Queued: int64(b.queued()),
			BytesSent: b.bytesSent.Load(), BytesReceived: b.bytesReceived.Load(),
			Reconnects: b.reconnects.Load(),
		})
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Figures) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (m *Manager) publishSys(pub *sysfig.Publisher) {
	now := make(map[string]string)
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, f := range m.Figures() {
		p := "$SYS/broker/bridge/" + f.Name + "/"
		state := "0"
		if f.Connected {
			state = "1"
		}
		now[p+"state"] = state
		now[p+"messages/sent"] = itoa(f.Sent)
		now[p+"messages/received"] = itoa(f.Received)
		now[p+"messages/dropped"] = itoa(f.Dropped)
		now[p+"messages/inflight"] = itoa(f.Inflight)
		now[p+"messages/queued"] = itoa(f.Queued)
		now[p+"bytes/sent"] = itoa(f.BytesSent)
		now[p+"bytes/received"] = itoa(f.BytesReceived)
		now[p+"reconnects"] = itoa(f.Reconnects)
	}
	pub.Publish(now)
}
