package bridge

import (
	"strconv"
	"time"

	"github.com/midge-mqtt/midge/broker"
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
	last := make(map[string]string)
	for {
		m.publishSys(last)
		select {
		case <-m.sysStop:
			return
		case <-t.C:
		}
	}
}

func (m *Manager) publishSys(last map[string]string) {
	now := make(map[string]string)
	m.mu.Lock()
	for name, b := range m.bridges {
		p := "$SYS/broker/bridge/" + name + "/"
		state := "0"
		if b.Connected() {
			state = "1"
		}
		now[p+"state"] = state
		now[p+"messages/sent"] = strconv.FormatInt(b.sent.Load(), 10)
		now[p+"messages/received"] = strconv.FormatInt(b.received.Load(), 10)
		now[p+"messages/dropped"] = strconv.FormatInt(b.dropped.Load(), 10)
		now[p+"messages/inflight"] = strconv.FormatInt(max(b.busy.Load()-b.waiting.Load(), 0), 10)
		now[p+"messages/queued"] = strconv.Itoa(b.queued())
		now[p+"bytes/sent"] = strconv.FormatInt(b.bytesSent.Load(), 10)
		now[p+"bytes/received"] = strconv.FormatInt(b.bytesReceived.Load(), 10)
		now[p+"reconnects"] = strconv.FormatInt(b.reconnects.Load(), 10)
	}
	m.mu.Unlock()
	for topic, v := range now {
		if last[topic] != v {
			last[topic] = v
			_, _ = m.srv.Publish(broker.Message{Topic: topic, Payload: []byte(v), QoS: 2, Retain: true})
		}
	}
	for topic := range last {
		if _, ok := now[topic]; !ok {
			delete(last, topic)
			// An empty retained message clears the topic.
			_, _ = m.srv.Publish(broker.Message{Topic: topic, QoS: 2, Retain: true})
		}
	}
}
