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
	connected    atomic.Int64 // clients connected now
	maxClients   atomic.Int64 // peak of total clients
	expired      atomic.Int64 // sessions removed by expiry
	sockets      atomic.Int64 // sockets accepted (for load/sockets)
	connections  atomic.Int64 // CONNECTs accepted (for load/connections)
	msgsRecv     atomic.Int64 // every MQTT packet received
	msgsSent     atomic.Int64 // every MQTT packet sent
	pubRecv      atomic.Int64 // PUBLISH received
	pubSent      atomic.Int64 // PUBLISH sent
	pubDropped   atomic.Int64 // PUBLISH dropped by queue limits
	pubBytesRecv atomic.Int64 // PUBLISH payload bytes received
	pubBytesSent atomic.Int64 // PUBLISH payload bytes sent
	bytesRecv    atomic.Int64 // all bytes received
	bytesSent    atomic.Int64 // all bytes sent
	storedMsgs   atomic.Int64 // retained + queued messages
	storedBytes  atomic.Int64 // their payload bytes
	paced        atomic.Int64 // publisher waits for a congested subscriber (see pacing.go)
	stalled      atomic.Int64 // subscribers found stalled by such a wait
}

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
}

// Stats returns a snapshot of the broker's counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	return Stats{
		Connected:            st.connected.Load(),
		Expired:              st.expired.Load(),
		MessagesReceived:     st.msgsRecv.Load(),
		MessagesSent:         st.msgsSent.Load(),
		PublishReceived:      st.pubRecv.Load(),
		PublishSent:          st.pubSent.Load(),
		Dropped:              st.pubDropped.Load(),
		PublishBytesReceived: st.pubBytesRecv.Load(),
		PublishBytesSent:     st.pubBytesSent.Load(),
		BytesReceived:        st.bytesRecv.Load(),
		BytesSent:            st.bytesSent.Load(),
		Retained:             s.retained.Len(),
		Subscriptions:        s.subs.Count() + s.subs.SharedCount(),
		SharedSubscribers:    s.subs.SharedCount(),
		PublisherWaits:       st.paced.Load(),
		StalledSubscribers:   st.stalled.Load(),
	}
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
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
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
