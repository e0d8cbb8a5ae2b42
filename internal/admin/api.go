package admin

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/topic"
)

// The JSON API, under /api/v1. Lists are paged with offset and limit
// (default 100, at most 1000) and answer {"total", "offset", "limit",
// "items"}; errors answer {"error": "..."} with a 4xx or 5xx status.

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func (s *Server) routeAPI(mux *http.ServeMux) {
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authed(h)) }
	api("GET /api/v1/overview", s.apiOverview)
	api("GET /api/v1/listeners", s.apiListeners)
	api("GET /api/v1/clients", s.apiClients)
	api("GET /api/v1/clients/{id}", s.apiClient)
	api("DELETE /api/v1/clients/{id}", s.apiDisconnect)
	api("GET /api/v1/sessions", s.apiSessions)
	api("GET /api/v1/sessions/{id}", s.apiSession)
	api("GET /api/v1/subscriptions", s.apiSubscriptions)
	api("GET /api/v1/retained", s.apiRetained)
	api("DELETE /api/v1/retained", s.apiDeleteRetained)
	api("GET /api/v1/cluster", s.apiCluster)
	api("GET /api/v1/config", s.apiConfig)
	api("POST /api/v1/reload", s.apiReload)
	api("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API call: "+r.Method+" "+r.URL.Path)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// page reads offset and limit.
func page(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	offset, limit = 0, defaultLimit
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, errors.New("offset must be a whole number of 0 or more")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, errors.New("limit must be a whole number from 1 to 1000")
		}
	}
	return offset, limit, nil
}

type pageOf[T any] struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	Items  []T `json:"items"`
}

func paged[T any](w http.ResponseWriter, r *http.Request, all []T) {
	offset, limit, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := pageOf[T]{Total: len(all), Offset: offset, Limit: limit, Items: []T{}}
	if offset < len(all) {
		p.Items = all[offset:min(len(all), offset+limit)]
	}
	writeJSON(w, http.StatusOK, p)
}

// queryFilter reads a topic filter parameter ("#" when absent).
func queryFilter(r *http.Request) (string, error) {
	f := r.URL.Query().Get("filter")
	if f == "" {
		return "#", nil
	}
	if err := topic.ValidateFilter(f); err != nil {
		return "", errors.New("filter: " + err.Error())
	}
	return f, nil
}

type overview struct {
	Version          string  `json:"version"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	ClientsConnected int64   `json:"clients_connected"`
	Sessions         int     `json:"sessions"`
	Subscriptions    int     `json:"subscriptions"`
	Retained         int     `json:"retained"`
	PacketsReceived  int64   `json:"packets_received"`
	PacketsSent      int64   `json:"packets_sent"`
	PublishReceived  int64   `json:"publish_received"`
	PublishSent      int64   `json:"publish_sent"`
	Dropped          int64   `json:"dropped"`
	BytesReceived    int64   `json:"bytes_received"`
	BytesSent        int64   `json:"bytes_sent"`
}

func (s *Server) apiOverview(w http.ResponseWriter, _ *http.Request) {
	st := s.b.Stats()
	writeJSON(w, http.StatusOK, overview{
		Version: s.cfg.Version, UptimeSeconds: s.b.Uptime().Seconds(),
		ClientsConnected: st.Connected, Sessions: st.Sessions, Subscriptions: st.Subscriptions, Retained: st.Retained,
		PacketsReceived: st.MessagesReceived, PacketsSent: st.MessagesSent,
		PublishReceived: st.PublishReceived, PublishSent: st.PublishSent,
		Dropped:       st.DroppedQueueFull + st.DroppedBufferFull + st.DroppedTooLarge + st.DroppedExpired,
		BytesReceived: st.BytesReceived, BytesSent: st.BytesSent,
	})
}

func (s *Server) apiListeners(w http.ResponseWriter, _ *http.Request) {
	ls := []Listener{}
	if s.cfg.Listeners != nil {
		ls = append(ls, s.cfg.Listeners()...)
	}
	writeJSON(w, http.StatusOK, ls)
}

type subscriptionJSON struct {
	ClientID          string `json:"client_id,omitempty"`
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	SubscriptionID    uint32 `json:"subscription_id,omitempty"`
}

type sessionJSON struct {
	ClientID        string             `json:"client_id"`
	Connected       bool               `json:"connected"`
	Username        string             `json:"username,omitempty"`
	RemoteAddr      string             `json:"remote_addr,omitempty"`
	Listener        string             `json:"listener,omitempty"`
	ProtocolVersion byte               `json:"protocol_version"`
	KeepAlive       int                `json:"keep_alive,omitempty"`
	ConnectedAt     *time.Time         `json:"connected_at,omitempty"`
	ExpirySeconds   int64              `json:"expiry_seconds"` // -1: never
	Queued          int                `json:"queued"`
	QueuedBytes     int                `json:"queued_bytes"`
	Inflight        int                `json:"inflight"`
	Subscriptions   []subscriptionJSON `json:"subscriptions"`
}

func toJSON(d broker.SessionDetail) sessionJSON {
	out := sessionJSON{
		ClientID: d.ClientID, Connected: d.Connected, Username: d.Username, RemoteAddr: d.RemoteAddr,
		Listener: d.Listener, ProtocolVersion: d.ProtocolVersion, Queued: d.Queued, QueuedBytes: d.QueuedBytes,
		Inflight: d.Inflight, ExpirySeconds: -1, Subscriptions: []subscriptionJSON{},
	}
	if d.Connected {
		out.KeepAlive = int(d.KeepAlive / time.Second)
	}
	if !d.ConnectedAt.IsZero() {
		t := d.ConnectedAt.UTC()
		out.ConnectedAt = &t
	}
	if d.Expiry >= 0 {
		out.ExpirySeconds = int64(d.Expiry / time.Second)
	}
	for _, sub := range d.Subscriptions {
		out.Subscriptions = append(out.Subscriptions, subJSON("", sub))
	}
	return out
}

func subJSON(id string, s broker.Subscription) subscriptionJSON {
	return subscriptionJSON{ClientID: id, Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
		RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubscriptionID: s.SubscriptionID}
}

// sessions lists the sessions (only the connected ones if connected),
// optionally those whose client id starts with ?prefix=.
func (s *Server) sessions(r *http.Request, connected bool) []sessionJSON {
	prefix := r.URL.Query().Get("prefix")
	out := []sessionJSON{}
	for _, d := range s.b.Sessions() {
		if (connected && !d.Connected) || !strings.HasPrefix(d.ClientID, prefix) {
			continue
		}
		out = append(out, toJSON(d))
	}
	return out
}

func (s *Server) apiClients(w http.ResponseWriter, r *http.Request) {
	paged(w, r, s.sessions(r, true))
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	paged(w, r, s.sessions(r, false))
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request, connected bool) {
	id := r.PathValue("id")
	d, ok := s.b.SessionDetail(id)
	if !ok || connected && !d.Connected {
		what := "session"
		if connected {
			what = "connected client"
		}
		writeError(w, http.StatusNotFound, "no "+what+" with client id "+strconv.Quote(id))
		return
	}
	writeJSON(w, http.StatusOK, toJSON(d))
}

func (s *Server) apiClient(w http.ResponseWriter, r *http.Request)  { s.lookup(w, r, true) }
func (s *Server) apiSession(w http.ResponseWriter, r *http.Request) { s.lookup(w, r, false) }

func (s *Server) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.b.Disconnect(id) {
		writeError(w, http.StatusNotFound, "no connected client with client id "+strconv.Quote(id))
		return
	}
	s.cfg.Log.Info("admin: disconnected client " + strconv.Quote(id))
	writeJSON(w, http.StatusOK, map[string]any{"disconnected": id})
}

// apiSubscriptions lists the subscriptions whose filter the ?filter=
// covers, with their filters' wildcards taken literally: "a/#" lists
// "a/+/b"; a shared subscription is compared without "$share/group/".
func (s *Server) apiSubscriptions(w http.ResponseWriter, r *http.Request) {
	q, err := queryFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []subscriptionJSON{}
	for _, d := range s.b.Sessions() {
		for _, sub := range d.Subscriptions {
			f := sub.Filter
			if _, inner, ok := topic.SplitShared(f); ok {
				f = inner
			}
			if topic.Match(q, f) {
				out = append(out, subJSON(d.ClientID, sub))
			}
		}
	}
	paged(w, r, out)
}

type retainedJSON struct {
	Topic string `json:"topic"`
	// Payload is the payload as text when it is valid UTF-8, else null;
	// PayloadBase64 always has it.
	Payload       *string    `json:"payload"`
	PayloadBase64 string     `json:"payload_base64"`
	Size          int        `json:"size"`
	QoS           byte       `json:"qos"`
	Expires       *time.Time `json:"expires,omitempty"`
	Publisher     string     `json:"publisher,omitempty"`
}

// maxListedPayload caps the payload bytes one listed retained message
// shows; Size has the full size.
const maxListedPayload = 64 << 10

func (s *Server) apiRetained(w http.ResponseWriter, r *http.Request) {
	f, err := queryFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, limit, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p := pageOf[retainedJSON]{Offset: offset, Limit: limit, Items: []retainedJSON{}}
	err = s.b.Retained(f, func(m broker.RetainedMessage) bool {
		p.Total++
		if p.Total <= offset || len(p.Items) >= limit {
			return true // counted, not listed
		}
		body := m.Payload[:min(len(m.Payload), maxListedPayload)]
		item := retainedJSON{Topic: m.Topic, PayloadBase64: base64.StdEncoding.EncodeToString(body),
			Size: len(m.Payload), QoS: m.QoS, Publisher: m.Publisher}
		if utf8.Valid(body) {
			t := string(body)
			item.Payload = &t
		}
		if !m.Expires.IsZero() {
			e := m.Expires.UTC()
			item.Expires = &e
		}
		p.Items = append(p.Items, item)
		return true
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiDeleteRetained(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("topic")
	if t == "" {
		writeError(w, http.StatusBadRequest, "topic is required")
		return
	}
	switch err := s.b.DeleteRetained(t); {
	case errors.Is(err, broker.ErrNoRetained):
		writeError(w, http.StatusNotFound, "no retained message on "+strconv.Quote(t))
	case err != nil && strings.HasPrefix(err.Error(), "topic "):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		s.cfg.Log.Info("admin: deleted the retained message of " + strconv.Quote(t))
		writeJSON(w, http.StatusOK, map[string]string{"deleted": t})
	}
}

func (s *Server) apiConfig(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Settings == nil {
		writeError(w, http.StatusNotFound, "no configuration to show")
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Settings())
}

func (s *Server) apiReload(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not available")
		return
	}
	if err := s.cfg.Reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "reload failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"reloaded": true})
}

func (s *Server) apiCluster(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Cluster == nil {
		writeError(w, http.StatusNotFound, "this broker is not in a cluster (no cluster_name)")
		return
	}
	writeJSON(w, http.StatusOK, s.cfg.Cluster())
}
