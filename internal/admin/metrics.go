package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/bridge"
	"github.com/midge-mqtt/midge/internal/cluster"
	"github.com/midge-mqtt/midge/internal/packet"
)

// metricsHandler serves /metrics from a registry of this listener's own:
// the broker's figures, read from one Stats snapshot per scrape, and the
// Go runtime and process collectors.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&brokerCollector{s: s},
	)
	if s.cfg.Bridges != nil {
		reg.MustRegister(&bridgeCollector{figures: s.cfg.Bridges})
	}
	if s.cfg.Cluster != nil {
		reg.MustRegister(&clusterCollector{state: s.cfg.Cluster})
	}
	if s.cfg.Auth != nil {
		reg.MustRegister(&authCollector{figures: s.cfg.Auth})
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("midge_"+name, help, labels, nil)
}

var (
	descBuildInfo       = desc("build_info", "midge's version, always 1.", "version")
	descUptime          = desc("uptime_seconds", "Seconds since the broker started.")
	descClients         = desc("clients_connected", "Clients connected now.")
	descSessions        = desc("sessions", "Sessions, connected or not.")
	descSubscriptions   = desc("subscriptions", "Subscriptions, shared ones included.")
	descShared          = desc("shared_subscriptions", "Shared subscriptions.")
	descRetained        = desc("retained_messages", "Retained messages.")
	descQueued          = desc("queued_messages", "Messages queued behind the sessions' in-flight windows.")
	descQueuedBytes     = desc("queued_bytes", "Payload bytes of the queued messages.")
	descInflight        = desc("inflight_messages", "QoS 1 and 2 messages sent and not yet acknowledged.")
	descSockets         = desc("sockets_accepted_total", "Network connections accepted.")
	descConnections     = desc("connections_total", "CONNECTs accepted.")
	descRefused         = desc("connections_refused_total", "CONNECTs refused, by MQTT 5 reason.", "reason")
	descExpired         = desc("sessions_expired_total", "Sessions removed because their expiry interval passed.")
	descPacketsIn       = desc("packets_received_total", "MQTT packets received.")
	descPacketsOut      = desc("packets_sent_total", "MQTT packets sent.")
	descBytesIn         = desc("received_bytes_total", "Bytes received from clients.")
	descBytesOut        = desc("sent_bytes_total", "Bytes sent to clients.")
	descPublishIn       = desc("publish_received_total", "PUBLISH packets received, by QoS.", "qos")
	descPublishOut      = desc("publish_sent_total", "PUBLISH packets sent, by QoS.", "qos")
	descPayloadIn       = desc("publish_received_bytes_total", "Payload bytes of the PUBLISH packets received, by QoS.", "qos")
	descPayloadOut      = desc("publish_sent_bytes_total", "Payload bytes of the PUBLISH packets sent, by QoS.", "qos")
	descDropped         = desc("dropped_messages_total", "Messages not delivered to a subscriber, by cause.", "cause")
	descDenied          = desc("publish_denied_total", "PUBLISH packets refused by the access rules.")
	descWaits           = desc("publisher_waits_total", "Times a publisher was held back for a subscriber whose queue was filling up.")
	descStalled         = desc("stalled_subscribers_total", "Publisher waits that ended with the subscriber found stalled.")
	descDeliveryLatency = desc("delivery_latency_seconds", "Sampled time from reading a PUBLISH to handing it to a subscriber's connection (one PUBLISH in 64 of each QoS).")
	descCommitLatency   = desc("store_commit_duration_seconds", "Time of each group commit to the persistent store.")
	allDescs            = []*prometheus.Desc{descBuildInfo, descUptime, descClients, descSessions, descSubscriptions, descShared, descRetained, descQueued, descQueuedBytes, descInflight, descSockets, descConnections, descRefused, descExpired, descPacketsIn, descPacketsOut, descBytesIn, descBytesOut, descPublishIn, descPublishOut, descPayloadIn, descPayloadOut, descDropped, descDenied, descWaits, descStalled, descDeliveryLatency, descCommitLatency}
	qosLabels           = [3]string{"0", "1", "2"}
)

// brokerCollector turns one broker.Stats snapshot into metrics per scrape.
type brokerCollector struct{ s *Server }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.s.b
	st := b.Stats()
	queued, queuedBytes, inflight := b.QueueTotals()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descBuildInfo, 1, c.s.cfg.Version)
	gauge(descUptime, b.Uptime().Seconds())
	gauge(descClients, float64(st.Connected))
	gauge(descSessions, float64(st.Sessions))
	gauge(descSubscriptions, float64(st.Subscriptions))
	gauge(descShared, float64(st.SharedSubscribers))
	gauge(descRetained, float64(st.Retained))
	gauge(descQueued, float64(queued))
	gauge(descQueuedBytes, float64(queuedBytes))
	gauge(descInflight, float64(inflight))
	counter(descSockets, st.Sockets)
	counter(descConnections, st.Connections)
	for code, n := range st.Refused {
		counter(descRefused, n, reasonLabel(code))
	}
	counter(descExpired, st.Expired)
	counter(descPacketsIn, st.MessagesReceived)
	counter(descPacketsOut, st.MessagesSent)
	counter(descBytesIn, st.BytesReceived)
	counter(descBytesOut, st.BytesSent)
	for q := range qosLabels {
		counter(descPublishIn, st.PublishReceivedQoS[q], qosLabels[q])
		counter(descPublishOut, st.PublishSentQoS[q], qosLabels[q])
		counter(descPayloadIn, st.PublishBytesReceivedQoS[q], qosLabels[q])
		counter(descPayloadOut, st.PublishBytesSentQoS[q], qosLabels[q])
	}
	counter(descDropped, st.DroppedQueueFull, "queue_full")
	counter(descDropped, st.DroppedBufferFull, "buffer_full")
	counter(descDropped, st.DroppedTooLarge, "too_large")
	counter(descDropped, st.DroppedExpired, "expired")
	counter(descDenied, st.Denied)
	counter(descWaits, st.PublisherWaits)
	counter(descStalled, st.StalledSubscribers)
	ch <- constHistogram(descDeliveryLatency, st.DeliveryLatency)
	ch <- constHistogram(descCommitLatency, st.CommitLatency)
}

// constHistogram converts the broker's bucket counts to Prometheus'
// cumulative ones.
func constHistogram(d *prometheus.Desc, h broker.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, le := range h.Bounds {
		cum += h.Counts[i]
		buckets[le] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}

// reasonLabel is a reason code as a label value: "not_authorized".
func reasonLabel(code byte) string {
	name := packet.ReasonCode(code).String()
	if name == "" || strings.HasPrefix(name, "0x") || strings.HasPrefix(name, "reason") {
		return "0x" + strconv.FormatUint(uint64(code), 16)
	}
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(name))
}

var (
	descBridgeConnected  = desc("bridge_connected", "1 while the bridge is connected to its remote, else 0.", "bridge")
	descBridgeSent       = desc("bridge_messages_sent_total", "Messages the bridge passed to its remote.", "bridge")
	descBridgeReceived   = desc("bridge_messages_received_total", "Messages the bridge received from its remote.", "bridge")
	descBridgeDropped    = desc("bridge_messages_dropped_total", "Messages the bridge could not pass on (refused or not kept).", "bridge")
	descBridgeInflight   = desc("bridge_inflight_messages", "Messages being passed on or awaiting the remote's acknowledgement.", "bridge")
	descBridgeQueued     = desc("bridge_queued_messages", "Messages for the remote not sent yet.", "bridge")
	descBridgeBytesOut   = desc("bridge_sent_bytes_total", "Payload bytes the bridge sent to its remote.", "bridge")
	descBridgeBytesIn    = desc("bridge_received_bytes_total", "Payload bytes the bridge received from its remote.", "bridge")
	descBridgeReconnects = desc("bridge_reconnects_total", "Connections to the remote that were lost.", "bridge")
	bridgeDescs          = []*prometheus.Desc{descBridgeConnected, descBridgeSent, descBridgeReceived, descBridgeDropped, descBridgeInflight, descBridgeQueued, descBridgeBytesOut, descBridgeBytesIn, descBridgeReconnects}
)

// bridgeCollector reports each running bridge's figures.
type bridgeCollector struct{ figures func() []bridge.Figures }

func (c *bridgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range bridgeDescs {
		ch <- d
	}
}

func (c *bridgeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.figures() {
		m := func(d *prometheus.Desc, t prometheus.ValueType, v int64) {
			ch <- prometheus.MustNewConstMetric(d, t, float64(v), f.Name)
		}
		up := int64(0)
		if f.Connected {
			up = 1
		}
		m(descBridgeConnected, prometheus.GaugeValue, up)
		m(descBridgeSent, prometheus.CounterValue, f.Sent)
		m(descBridgeReceived, prometheus.CounterValue, f.Received)
		m(descBridgeDropped, prometheus.CounterValue, f.Dropped)
		m(descBridgeInflight, prometheus.GaugeValue, f.Inflight)
		m(descBridgeQueued, prometheus.GaugeValue, f.Queued)
		m(descBridgeBytesOut, prometheus.CounterValue, f.BytesSent)
		m(descBridgeBytesIn, prometheus.CounterValue, f.BytesReceived)
		m(descBridgeReconnects, prometheus.CounterValue, f.Reconnects)
	}
}

var (
	descClusterNodes     = desc("cluster_nodes", "Cluster nodes alive, this one included.")
	descClusterQuorate   = desc("cluster_quorate", "1 while this node has its cluster_quorum of nodes in reach, else 0.")
	descClusterForwarded = desc("cluster_forwarded_total", "Messages this node sent to other nodes, once per node.")
	descClusterRelayed   = desc("cluster_relayed_total", "Messages this node took from other nodes.")
	descClusterAwaiting  = desc("cluster_peer_awaiting_acks", "QoS 1/2 messages sent to the peer and not yet confirmed by it.", "peer")
	descClusterSilence   = desc("cluster_peer_silence_seconds", "Seconds since the peer's last heartbeat.", "peer")
	clusterDescs         = []*prometheus.Desc{descClusterNodes, descClusterQuorate, descClusterForwarded, descClusterRelayed, descClusterAwaiting, descClusterSilence}
)

// clusterCollector reports the cluster node's figures.
type clusterCollector struct{ state func() cluster.State }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range clusterDescs {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.state()
	quorate := 0.0
	if st.Quorate {
		quorate = 1
	}
	ch <- prometheus.MustNewConstMetric(descClusterNodes, prometheus.GaugeValue, float64(st.Nodes))
	ch <- prometheus.MustNewConstMetric(descClusterQuorate, prometheus.GaugeValue, quorate)
	ch <- prometheus.MustNewConstMetric(descClusterForwarded, prometheus.CounterValue, float64(st.Forwarded))
	ch <- prometheus.MustNewConstMetric(descClusterRelayed, prometheus.CounterValue, float64(st.Relayed))
	for _, p := range st.Peers {
		ch <- prometheus.MustNewConstMetric(descClusterAwaiting, prometheus.GaugeValue, float64(p.Awaiting), p.Name)
		ch <- prometheus.MustNewConstMetric(descClusterSilence, prometheus.GaugeValue, time.Since(p.LastSeen).Seconds(), p.Name)
	}
}

var (
	descAuthChecks    = desc("auth_checks_total", "Answers of the token (jwt) and HTTP service (http) checks, by result: allow, deny, defer (not theirs), error (no answer could be had: refused).", "backend", "result")
	descAuthCacheHits = desc("auth_cache_hits_total", "Checks answered from the backend's cache.", "backend")
	authDescs         = []*prometheus.Desc{descAuthChecks, descAuthCacheHits}
)

// AuthFigures are the counts of one authentication backend.
type AuthFigures struct {
	Backend                                   string
	Allowed, Denied, Deferred, Errors, Cached uint64
}

// authCollector reports the authentication backends' counts.
type authCollector struct{ figures func() []AuthFigures }

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range authDescs {
		ch <- d
	}
}

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.figures() {
		for _, r := range []struct {
			result string
			n      uint64
		}{{"allow", f.Allowed}, {"deny", f.Denied}, {"defer", f.Deferred}, {"error", f.Errors}} {
			ch <- prometheus.MustNewConstMetric(descAuthChecks, prometheus.CounterValue, float64(r.n), f.Backend, r.result)
		}
		ch <- prometheus.MustNewConstMetric(descAuthCacheHits, prometheus.CounterValue, float64(f.Cached), f.Backend)
	}
}
