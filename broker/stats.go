package broker

import (
	"sync/atomic"
	"syscall"
)

// errTooManyFiles is what Accept returns when the process is out of file
// descriptors; the accept loop backs off instead of failing.
var errTooManyFiles = syscall.EMFILE

// stats are the broker's counters, published under $SYS. Every field is
// updated atomically on the hot path; nothing here takes a lock.
type stats struct {
	connected    atomic.Int64    // clients connected now
	maxClients   atomic.Int64    // peak of total clients
	expired      atomic.Int64    // sessions removed by expiry
	sockets      atomic.Int64    // sockets accepted (for load/sockets)
	connections  atomic.Int64    // CONNECTs accepted (for load/connections)
	msgsRecv     atomic.Int64    // every MQTT packet received
	msgsSent     atomic.Int64    // every MQTT packet sent
	pubRecv      [3]atomic.Int64 // PUBLISH received, by QoS
	pubSent      [3]atomic.Int64 // PUBLISH sent, by QoS
	pubDropped   atomic.Int64    // PUBLISH dropped by queue limits (dropQueue + dropBuffer)
	dropQueue    atomic.Int64    // QoS 1/2 (or queued QoS 0) over max_queued_messages/bytes
	dropBuffer   atomic.Int64    // QoS 0 over the limit of packets waiting for the socket
	dropTooLarge atomic.Int64    // over the receiver's Maximum Packet Size
	dropExpired  atomic.Int64    // expired while queued
	denied       atomic.Int64    // PUBLISH refused by the ACLs (or to $SYS)
	pubBytesRecv [3]atomic.Int64 // PUBLISH payload bytes received, by QoS
	pubBytesSent [3]atomic.Int64 // PUBLISH payload bytes sent, by QoS
	bytesRecv    atomic.Int64    // all bytes received
	bytesSent    atomic.Int64    // all bytes sent
	storedMsgs   atomic.Int64    // retained + queued messages
	storedBytes  atomic.Int64    // their payload bytes
	paced        atomic.Int64    // publisher waits for a congested subscriber (see pacing.go)
	stalled      atomic.Int64    // subscribers found stalled by such a wait

	// refused counts the CONNECTs refused, by v5 reason code.
	refused [256]atomic.Int64
	// deliverLatency samples, one PUBLISH in deliverSample, the time from
	// reading the PUBLISH to handing it to a subscriber's connection;
	// commitLatency times each group commit to the store.
	deliverLatency latencyHist
	commitLatency  latencyHist
}

// deliverSample: one received PUBLISH in deliverSample is timed to each
// delivery (a power of two; the clock is read twice per sampled delivery).
const deliverSample = 64

func sum3(a *[3]atomic.Int64) int64 { return a[0].Load() + a[1].Load() + a[2].Load() }

// Stats is a snapshot of the broker's counters.
type Stats struct {
	Connected, Expired                         int64
	MessagesReceived, MessagesSent             int64
	PublishReceived, PublishSent, Dropped      int64
	PublishBytesReceived, PublishBytesSent     int64
	BytesReceived, BytesSent                   int64
	Retained, Subscriptions, SharedSubscribers int
	// PublisherWaits counts the times a publisher was held back for a
	// subscriber whose queue was filling up; StalledSubscribers the
	// waits that ended without the queue draining (see pacing.go).
	PublisherWaits, StalledSubscribers int64

	// Sessions is the number of sessions, connected or not; Sockets the
	// connections accepted and Connections the CONNECTs accepted since
	// the start.
	Sessions             int
	Sockets, Connections int64
	// PublishReceivedQoS and PublishSentQoS split the PUBLISH counts by
	// QoS, PublishBytesReceivedQoS and PublishBytesSentQoS their payload
	// bytes.
	PublishReceivedQoS, PublishSentQoS           [3]int64
	PublishBytesReceivedQoS, PublishBytesSentQoS [3]int64
	// Drops by cause: queue limits (max_queued_messages/bytes), QoS 0
	// packets over the limit waiting for a socket, messages over the
	// receiver's Maximum Packet Size, messages expired while queued; and
	// PUBLISH packets refused by the ACLs.
	DroppedQueueFull, DroppedBufferFull, DroppedTooLarge, DroppedExpired, Denied int64
	// Refused counts the refused CONNECTs by v5 reason code (3.x refusals
	// are counted under the v5 code they were translated from).
	Refused map[byte]int64
	// DeliveryLatency is sampled: one PUBLISH in 64 of each QoS is timed from being
	// read to being handed to each subscriber's connection.
	// CommitLatency times the store's group commits.
	DeliveryLatency, CommitLatency Histogram
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	out := Stats{
		Connected:            st.connected.Load(),
		Expired:              st.expired.Load(),
		MessagesReceived:     st.msgsRecv.Load(),
		MessagesSent:         st.msgsSent.Load(),
		PublishReceived:      sum3(&st.pubRecv),
		PublishSent:          sum3(&st.pubSent),
		Dropped:              st.pubDropped.Load(),
		PublishBytesReceived: sum3(&st.pubBytesRecv),
		PublishBytesSent:     sum3(&st.pubBytesSent),
		BytesReceived:        st.bytesRecv.Load(),
		BytesSent:            st.bytesSent.Load(),
		Retained:             s.retained.Len(),
		Subscriptions:        s.subs.Count() + s.subs.SharedCount(),
		SharedSubscribers:    s.subs.SharedCount(),
		PublisherWaits:       st.paced.Load(),
		StalledSubscribers:   st.stalled.Load(),
		Sockets:              st.sockets.Load(),
		Connections:          st.connections.Load(),
		DroppedQueueFull:     st.dropQueue.Load(),
		DroppedBufferFull:    st.dropBuffer.Load(),
		DroppedTooLarge:      st.dropTooLarge.Load(),
		DroppedExpired:       st.dropExpired.Load(),
		Denied:               st.denied.Load(),
		Refused:              make(map[byte]int64),
		DeliveryLatency:      st.deliverLatency.snapshot(),
		CommitLatency:        st.commitLatency.snapshot(),
	}
	out.Sessions = s.SessionCount()
	for i := range out.PublishReceivedQoS {
		out.PublishReceivedQoS[i] = st.pubRecv[i].Load()
		out.PublishSentQoS[i] = st.pubSent[i].Load()
		out.PublishBytesReceivedQoS[i] = st.pubBytesRecv[i].Load()
		out.PublishBytesSentQoS[i] = st.pubBytesSent[i].Load()
	}
	for i := range st.refused {
		if n := st.refused[i].Load(); n != 0 {
			out.Refused[byte(i)] = n
		}
	}
	return out
}

// SessionInfo is a snapshot of one session.
type SessionInfo struct {
	// Connected reports whether a client is connected to the session.
	Connected bool
	// Queued is the number of messages waiting behind the in-flight
	// window, QueuedBytes their payload bytes; Inflight the QoS 1 and 2
	// messages sent and not yet acknowledged.
	Queued, QueuedBytes, Inflight int
	// Subscriptions is the number of the session's subscriptions.
	Subscriptions int
}

// Session returns a snapshot of the session of client id id, and false if
// there is none.
func (s *Server) Session(id string) (SessionInfo, bool) {
	ss := s.lookupSession(id)
	if ss == nil {
		return SessionInfo{}, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return SessionInfo{}, false
	}
	return SessionInfo{
		Connected:     ss.conn != nil,
		Queued:        len(ss.queue),
		QueuedBytes:   ss.queuedBytes,
		Inflight:      len(ss.inflight),
		Subscriptions: len(ss.subs),
	}, true
}
