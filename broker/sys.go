package broker

import (
	"math"
	"runtime"
	"strconv"
	"time"
)

// sysLoop publishes the $SYS/broker topics every SysInterval, with
// Mosquitto's names and formats. Each topic is retained and published only
// when its value changed.
func (s *Server) sysLoop() {
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	st := newSysState(s.started)
	s.publishSys(st, time.Now())
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.publishSys(st, now)
		}
	}
}

// sysState remembers what was last published and the load averages.
type sysState struct {
	last     map[string]string
	lastTime time.Time
	prev     map[string]int64      // counter values at the last tick
	loads    map[string][3]float64 // 1, 5 and 15 minute averages
	heapMax  uint64
}

func newSysState(start time.Time) *sysState {
	return &sysState{
		last:     make(map[string]string),
		lastTime: start,
		prev:     make(map[string]int64),
		loads:    make(map[string][3]float64),
	}
}

func (s *Server) publishSys(st *sysState, now time.Time) {
	put := func(topic, value string) {
		if st.last[topic] == value {
			return
		}
		st.last[topic] = value
		// QoS 2 and retained, as Mosquitto publishes $SYS (SYS_TREE_QOS):
		// a subscriber receives them at the QoS it asked for.
		_, _ = s.publish(&message{topic: topic, payload: []byte(value), qos: 2, retain: true}, nil)
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	c := &s.stats

	put("$SYS/broker/version", s.opts.Version)
	put("$SYS/broker/uptime", itoa(int64(now.Sub(s.started)/time.Second))+" seconds")

	s.mu.Lock()
	total := int64(len(s.sessions))
	s.mu.Unlock()
	connected := c.connected.Load()
	if total > c.maxClients.Load() {
		c.maxClients.Store(total)
	}
	put("$SYS/broker/clients/total", itoa(total))
	put("$SYS/broker/clients/connected", itoa(connected))
	put("$SYS/broker/clients/active", itoa(connected))
	put("$SYS/broker/clients/disconnected", itoa(total-connected))
	put("$SYS/broker/clients/inactive", itoa(total-connected))
	put("$SYS/broker/clients/maximum", itoa(c.maxClients.Load()))
	put("$SYS/broker/clients/expired", itoa(c.expired.Load()))

	counters := []struct {
		topic string
		load  string // the $SYS/broker/load/... stem, "" for none
		v     int64
	}{
		{"$SYS/broker/messages/received", "messages/received", c.msgsRecv.Load()},
		{"$SYS/broker/messages/sent", "messages/sent", c.msgsSent.Load()},
		{"$SYS/broker/publish/messages/received", "publish/received", sum3(&c.pubRecv)},
		{"$SYS/broker/publish/messages/sent", "publish/sent", sum3(&c.pubSent)},
		{"$SYS/broker/publish/messages/dropped", "publish/dropped", c.pubDropped.Load()},
		{"$SYS/broker/publish/bytes/received", "", sum3(&c.pubBytesRecv)},
		{"$SYS/broker/publish/bytes/sent", "", sum3(&c.pubBytesSent)},
		{"$SYS/broker/bytes/received", "bytes/received", c.bytesRecv.Load()},
		{"$SYS/broker/bytes/sent", "bytes/sent", c.bytesSent.Load()},
		{"", "sockets", c.sockets.Load()},
		{"", "connections", c.connections.Load()},
	}
	interval := now.Sub(st.lastTime).Seconds()
	st.lastTime = now
	for _, ctr := range counters {
		if ctr.topic != "" {
			put(ctr.topic, itoa(ctr.v))
		}
		if ctr.load == "" || interval <= 0 {
			continue
		}
		// Exponentially weighted per-minute rates, as Mosquitto computes them.
		perMinute := float64(ctr.v-st.prev[ctr.load]) * 60 / interval
		st.prev[ctr.load] = ctr.v
		l := st.loads[ctr.load]
		for i, window := range [3]float64{60, 300, 900} {
			e := math.Exp(-interval / window)
			l[i] = l[i]*e + perMinute*(1-e)
		}
		st.loads[ctr.load] = l
		for i, name := range [3]string{"1min", "5min", "15min"} {
			put("$SYS/broker/load/"+ctr.load+"/"+name, strconv.FormatFloat(l[i], 'f', 2, 64))
		}
	}

	retained := int64(s.retained.Len())
	put("$SYS/broker/retained messages/count", itoa(retained))
	put("$SYS/broker/messages/stored", itoa(retained))
	put("$SYS/broker/store/messages/count", itoa(retained))
	put("$SYS/broker/subscriptions/count", itoa(int64(s.subs.Count()+s.subs.SharedCount())))
	put("$SYS/broker/shared_subscriptions/count", itoa(int64(s.subs.SharedCount())))

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.heapMax = max(st.heapMax, ms.HeapAlloc)
	put("$SYS/broker/heap/current", strconv.FormatUint(ms.HeapAlloc, 10))
	put("$SYS/broker/heap/maximum", strconv.FormatUint(st.heapMax, 10))
}
