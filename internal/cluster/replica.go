package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/midge-mqtt/midge/internal/store"
	"github.com/midge-mqtt/midge/internal/topic"
)

// Replicated sessions. With Config.Replicas two or more, every change the
// broker makes durable about a persistent session (its record and
// subscriptions, the QoS 1/2 messages queued or in flight to it, the
// inbound QoS 2 messages held until their PUBREL, a delayed will) is also
// written to a JetStream stream that NATS replicates on that many nodes,
// before the broker counts it done: a PUBACK, PUBREC or SUBACK that
// depends on it waits for the replicas as it waits for the disk.
//
// The stream holds one subject per store key, under the node that keeps
// the session (midge.<cluster>.js.s.<node>.<client>.<record>), and the
// latest value per subject; a deleted key gets a tombstone that expires.
// When a node is lost (not restarted), the peer with the lowest name
// among those in reach, if it has the quorum, takes its sessions over: it
// writes a marker (midge.<cluster>.js.a.<node>), loads the lost node's
// records into its broker (AdoptStored: subscriptions live again, the
// messages wait for their clients) and under its own name, and purges the
// lost node's, and marks the take-over done. A client claiming its
// session meanwhile waits for that. A node that finds its marker when it
// (re)joins knows its sessions went elsewhere: once the take-over is
// done it ends those it still holds whose records are gone.

// tombstone marks a deleted key; it expires after tombstoneTTL (the value
// it replaced is gone at once: one message per subject).
const (
	tombstone    = "Midge-Deleted"
	tombstoneTTL = time.Minute
)

var b64 = base64.RawURLEncoding

// adoptTimeout bounds a take-over, which may wait for the replicas to
// elect a leader in place of the lost node.
const adoptTimeout = time.Minute

// attemptTimeout bounds one try of a JetStream request that is tried
// again: a request made while the stream elects a leader goes
// unanswered, and the next try after the election is answered at once.
const attemptTimeout = 2 * time.Second

type replica struct {
	n     *Node
	local store.Store // nil without persistence on this node
	js    jetstream.JetStream
	// ready is closed once the stream exists; stream is set then.
	ready  chan struct{}
	stream jetstream.Stream
	// writable is closed once ready is and every node in reach that
	// keeps replicas has said its stream is there too, or three
	// heartbeats after this node said its own was (a node in reach has
	// heard it by then; one that has not takes this node as lost):
	// nothing is written to the stream before. So a node lost before it
	// told this node that its stream was there, while this node's is not
	// there yet, wrote nothing (see takeOver): its sessions need no
	// take-over, whether or not JetStream can answer yet. writable and
	// readyAt are guarded by Node.mu.
	writable chan struct{}
	readyAt  time.Time
	subj     string // midge.<cluster>.js.
}

// Store returns the store the broker should use: local (nil without
// persistence) when sessions are not replicated, else one that also
// writes every session change to the cluster's replicas. Call it before
// Start, and give the result to the broker as Options.Store.
func (n *Node) Store(local store.Store) store.Store {
	if n.rep == nil {
		if local == nil {
			return nil // not a typed nil
		}
		return local
	}
	n.rep.local = local
	return n.rep
}

func (n *Node) newReplica() error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	n.rep = &replica{n: n, js: js, ready: make(chan struct{}), writable: make(chan struct{}), subj: n.prefix + "js."}
	return nil
}

func (r *replica) own(node string) string { return r.subj + "s." + node + "." }

func (r *replica) isReady() bool {
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// checkWritableLocked closes writable if it is due. Called with n.mu
// held.
func (r *replica) checkWritableLocked() {
	select {
	case <-r.writable:
		return
	default:
	}
	if !r.isReady() {
		return
	}
	if time.Since(r.readyAt) < 3*r.n.cfg.Heartbeat {
		for _, p := range r.n.peers {
			if !p.heard || p.replicas == replicasWaiting {
				return
			}
		}
	}
	close(r.writable)
}

func (r *replica) streamName() string { return "midge_" + r.n.cfg.Name }

// testHookOpen, when set by a test, runs before node n makes its stream.
var testHookOpen func(n *Node)

// open creates (or finds) the stream, retrying until NATS has the
// replicas it asks for, then reconciles this node's sessions.
func (r *replica) open() {
	n := r.n
	storage := jetstream.MemoryStorage
	if n.cfg.StoreDir != "" {
		storage = jetstream.FileStorage
	}
	if testHookOpen != nil {
		testHookOpen(n)
	}
	if n.stopping() {
		return
	}
	cfg := jetstream.StreamConfig{
		Name:              r.streamName(),
		Description:       "midge cluster " + n.cfg.Name + ": persistent sessions",
		Subjects:          []string{r.subj + ">"},
		Storage:           storage,
		Replicas:          n.cfg.Replicas,
		MaxMsgsPerSubject: 1,
		AllowMsgTTL:       true,
		AllowDirect:       true,
	}
	// JetStream elects its leaders a few seconds after the nodes meet:
	// only a longer wait is worth a warning (too few nodes up, nodes
	// configured differently).
	warnAt, warned := time.Now().Add(30*time.Second), false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
		st, err := r.js.CreateOrUpdateStream(ctx, cfg)
		cancel()
		if err == nil && n.stopping() {
			// Not told to the others: this node writes nothing more.
			return
		}
		if err == nil {
			r.stream = st
			close(r.ready)
			// Told before anything is written: the write goes out
			// on the same connection after it.
			n.beat()
			n.mu.Lock()
			r.readyAt = time.Now()
			r.checkWritableLocked()
			n.mu.Unlock()
			break
		}
		if !warned && time.Now().After(warnAt) {
			n.log.Warn(fmt.Sprintf("Cluster %s: still waiting for JetStream to keep sessions on %d nodes (%v); persistent sessions wait meanwhile.", n.cfg.Name, n.cfg.Replicas, err))
			warned = true
		}
		select {
		case <-n.stop:
			return
		case <-time.After(time.Second):
		}
	}
	n.log.Info(fmt.Sprintf("Cluster %s: persistent sessions replicated on %d nodes.", n.cfg.Name, n.cfg.Replicas))
	r.reconcile(true)
}

// errNoStream: JetStream answers that no node made the stream.
var errNoStream = errors.New("no session replicas")

// awaitStream waits, at most for the request timeout, for this node's
// stream, as waitReady does, but fails with errNoStream as soon as
// JetStream answers that no node made it: as when a node is lost before
// the replicas were first made, which will not be until it is back
// (the stream wants every replica).
func (r *replica) awaitStream() error {
	n := r.n
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	for {
		select {
		case <-r.ready:
			return nil
		default:
		}
		try, stop := context.WithTimeout(ctx, min(attemptTimeout, n.cfg.Timeout))
		_, err := r.js.Stream(try, r.streamName())
		stop()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return errNoStream
		}
		if err == nil {
			// Made: this node finds it within a second.
			return r.waitReady(ctx)
		}
		select {
		case <-r.ready:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("cluster %s: the session replicas are not available yet", n.cfg.Name)
		case <-n.stop:
			return store.ErrClosed
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *replica) waitReady(ctx context.Context) error { return r.waitFor(ctx, r.ready) }

// waitWritable waits until this node may write to the stream.
func (r *replica) waitWritable(ctx context.Context) error { return r.waitFor(ctx, r.writable) }

func (r *replica) waitFor(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	default:
	}
	t := time.NewTimer(r.n.cfg.Timeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("cluster %s: the session replicas are not available yet", r.n.cfg.Name)
	case <-r.n.stop:
		return store.ErrClosed
	}
}

// Apply is part of store.Store: ops go to the local store and to the
// replicas at once, and Apply returns when both have them. An error from
// either fails it (the other may have applied them: a message the
// publisher is refused and sends again is then delivered at least once).
func (r *replica) Apply(ctx context.Context, ops ...store.Op) error {
	ctx, cancel := context.WithTimeout(ctx, r.n.cfg.Timeout)
	defer cancel()
	lerr := make(chan error, 1)
	if r.local != nil {
		go func() { lerr <- r.local.Apply(ctx, ops...) }()
	} else {
		lerr <- nil
	}
	w := &jsWriter{r: r, ctx: ctx, prefix: r.own(r.n.self)}
	err := store.Encode(w, ops)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		err = fmt.Errorf("cluster %s: replicating: %w", r.n.cfg.Name, err)
	}
	return errors.Join(err, <-lerr)
}

// Load is part of store.Store: what this node's own store holds (the
// replicas are read when the node joins, see reconcile).
func (r *replica) Load(v store.Visitor) error {
	if r.local == nil {
		return nil
	}
	return r.local.Load(v)
}

// Close is part of store.Store. The local store is closed by whoever
// opened it.
func (r *replica) Close() error { return nil }

// jsWriter turns a batch's key/value mutations into stream messages.
// Retained messages are not written: every node keeps them all.
type jsWriter struct {
	r      *replica
	ctx    context.Context
	prefix string
	acks   []jetstream.PubAckFuture
}

// subject is the subject of a client record's key: the client prefix
// ('c', length, id) and the rest (tag, sequence or packet id), each
// base64url, so that a client's records share a subject prefix.
func subjectOf(prefix string, key []byte) (string, bool) {
	if len(key) < 4 || key[0] != 'c' {
		return "", false
	}
	end := 3 + int(binary.BigEndian.Uint16(key[1:3]))
	if end > len(key) {
		return "", false
	}
	s := prefix + b64.EncodeToString(key[:end])
	if end < len(key) {
		s += "." + b64.EncodeToString(key[end:])
	}
	return s, true
}

// keyOf reverses subjectOf.
func keyOf(prefix, subject string) ([]byte, error) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return nil, fmt.Errorf("subject %q", subject)
	}
	var key []byte
	for part := range strings.SplitSeq(rest, ".") {
		b, err := b64.DecodeString(part)
		if err != nil {
			return nil, fmt.Errorf("subject %q: %w", subject, err)
		}
		key = append(key, b...)
	}
	return key, nil
}

func (w *jsWriter) publish(m *nats.Msg, opts ...jetstream.PublishOpt) error {
	// Only a batch with session records waits for the stream: retained
	// messages, which are not written, never do.
	if err := w.r.waitWritable(w.ctx); err != nil {
		return err
	}
	f, err := w.r.js.PublishMsgAsync(m, opts...)
	if err != nil {
		return err
	}
	w.acks = append(w.acks, f)
	return nil
}

func (w *jsWriter) Set(key, value []byte) error {
	subject, ok := subjectOf(w.prefix, key)
	if !ok {
		return nil
	}
	return w.publish(&nats.Msg{Subject: subject, Data: bytes.Clone(value)})
}

func (w *jsWriter) Delete(key []byte) error {
	subject, ok := subjectOf(w.prefix, key)
	if !ok {
		return nil
	}
	m := &nats.Msg{Subject: subject, Header: nats.Header{tombstone: []string{"1"}}}
	return w.publish(m, jetstream.WithMsgTTL(tombstoneTTL))
}

// DeleteRange is only asked for a client's prefix (DeleteSession): its
// subjects are purged, after what was published before.
func (w *jsWriter) DeleteRange(start, _ []byte) error {
	subject, ok := subjectOf(w.prefix, append(bytes.Clone(start), 0))
	if !ok {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.r.waitWritable(w.ctx); err != nil {
		return err
	}
	subject = subject[:strings.LastIndexByte(subject, '.')] // the client part
	return w.r.stream.Purge(w.ctx, jetstream.WithPurgeSubject(subject+".>"))
}

func (w *jsWriter) flush() error {
	acks := w.acks
	w.acks = w.acks[:0]
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
	return nil
}

type record struct{ key, value []byte }

// records reads what the stream holds under node's name, in key order
// (a client's session, inbound ids, outgoing messages by sequence, will),
// as store.Load hands them. A stream whose leader was just lost answers
// once its replicas have elected another: it tries again until ctx ends.
func (r *replica) records(ctx context.Context, node string) ([]record, error) {
	var recs []record
	err := r.retry(ctx, func(ctx context.Context) error {
		var err error
		recs, err = r.recordsOnce(ctx, node)
		return err
	})
	return recs, err
}

// retry runs f, each time for at most attemptTimeout, until it
// succeeds or ctx ends: a request that reaches a stream while its
// replicas elect a new leader goes unanswered.
func (r *replica) retry(ctx context.Context, f func(context.Context) error) error {
	for {
		try, cancel := context.WithTimeout(ctx, min(attemptTimeout, r.n.cfg.Timeout))
		err := f(try)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, errNotDue) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-r.n.stop:
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *replica) recordsOnce(ctx context.Context, node string) ([]record, error) {
	prefix := r.own(node)
	info, err := r.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, err
	}
	if len(info.State.Subjects) == 0 {
		return nil, nil
	}
	cons, err := r.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		// By default a Fetch whose consumer must be made again (its
		// stream's servers going away) tries without end, deaf to ctx
		// and to the node stopping; retry, above, tries again instead.
		MaxResetAttempts: 1,
	})
	if err != nil {
		return nil, err
	}
	var recs []record
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got, last := 0, false
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err == nil && md.NumPending == 0 {
				last = true
			}
			if m.Headers().Get(tombstone) != "" {
				continue
			}
			key, err := keyOf(prefix, m.Subject())
			if err != nil {
				return nil, err
			}
			recs = append(recs, record{key, m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if last || got == 0 {
			break
		}
	}
	slices.SortFunc(recs, func(a, b record) int { return bytes.Compare(a.key, b.key) })
	return recs, nil
}

// load hands recs to a store visitor.
func load(recs []record) func(store.Visitor) error {
	return func(v store.Visitor) error {
		for _, rc := range recs {
			if err := store.Decode(rc.key, rc.value, &v); err != nil {
				return err
			}
		}
		return nil
	}
}

// marker is what the node that took over a lost node's sessions writes:
// once before it reads their records, and again with Done once it has
// loaded them and purged them from under the lost node's name.
type marker struct {
	By    string `json:"by"`
	Epoch uint64 `json:"epoch"`
	Done  bool   `json:"done,omitempty"`
}

// markerOf returns the marker of a take-over of node's sessions, nil if
// there is none.
func (r *replica) markerOf(ctx context.Context, node string) (*marker, error) {
	mk, err := r.stream.GetLastMsgForSubject(ctx, r.subj+"a."+node)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(mk.Data, &m); err != nil {
		return nil, fmt.Errorf("the take-over marker of node %s: %w", node, err)
	}
	return &m, nil
}

// testHookTakeOver, when set by a test, runs once node n has written the
// marker of its take-over of node lost, before it reads the records.
var testHookTakeOver func(n *Node, lost string)

// takeOver is what a node heard of the take-over of a lost node's
// sessions: when, the filters of the sessions taken, and whether it
// failed (unsure: the sessions may want any message).
type takeOver struct {
	at      time.Time
	filters []string
	unsure  bool
}

// wants reports whether the sessions taken over may want a message on
// topic name.
func (t *takeOver) wants(name string) bool {
	if t.unsure {
		return true
	}
	for _, f := range t.filters {
		if _, g, shared := topic.SplitShared(f); shared {
			f = g
		}
		if topic.Match(f, name) {
			return true
		}
	}
	return false
}

// errNotDue stops a take-over whose node is in reach again, or that
// this node may no longer do (it lost the quorum: it may be the node cut
// off).
var errNotDue = errors.New("the node is in reach again, or this node lost the quorum")

// stillLost reports whether node name is still lost and this node has
// the quorum.
func (n *Node) stillLost(name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.quorate() && n.peers[name] == nil
}

// adopt takes over the sessions of the lost node name, then tells the
// peers it is done.
func (r *replica) adopt(name string, epoch uint64) {
	n := r.n
	t, err := r.takeOver(name, epoch)
	if err != nil {
		// Not done: a node back keeps its sessions; one still lost is
		// due again once this node has the quorum back.
		n.log.Info(fmt.Sprintf("Cluster %s: not taking over the sessions of node %s: %v.", n.cfg.Name, name, err))
		n.mu.Lock()
		a := n.adopting[name]
		if a != nil {
			a.mine = false
			a.back = n.peers[name] != nil
		}
		n.mu.Unlock()
		if a != nil && a.back {
			r.backFilters(name, a)
		}
		return
	}
	n.adopted(name, t, true)
}

// takeOver does adopt's work: it fails only with errNotDue, and
// reports a take-over that went wrong as unsure.
func (r *replica) takeOver(name string, epoch uint64) (takeOver, error) {
	n := r.n
	failed := takeOver{unsure: true}
	n.mu.Lock()
	a := n.adopting[name]
	wrote := a == nil || a.hadReplicas
	n.mu.Unlock()
	if !wrote && !r.isReady() {
		// It wrote nothing (see writable), and JetStream, which may
		// have no leader without it yet, need not be asked.
		n.log.Info(fmt.Sprintf("Cluster %s: node %s had no replicated sessions (it was lost before its replicas were there).", n.cfg.Name, name))
		return takeOver{}, nil
	}
	switch r.awaitStream() {
	case errNoStream:
		// No node made it, so none kept a persistent session: the lost
		// node's sessions died with it, as clean ones do.
		n.log.Info(fmt.Sprintf("Cluster %s: node %s had no replicated sessions (the replicas were not made yet).", n.cfg.Name, name))
		return takeOver{}, nil
	case nil:
	default:
		return failed, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), adoptTimeout)
	defer cancel()
	mark := func(done bool) error {
		b, _ := json.Marshal(marker{By: n.self, Epoch: epoch, Done: done})
		return r.retry(ctx, func(ctx context.Context) error {
			if !done && !n.stillLost(name) {
				return errNotDue
			}
			_, err := r.js.Publish(ctx, r.subj+"a."+name, b)
			return err
		})
	}
	if err := mark(false); errors.Is(err, errNotDue) {
		return failed, err
	} else if err != nil {
		n.log.Error(fmt.Sprintf("Cluster %s: cannot take over the sessions of node %s: %v.", n.cfg.Name, name, err))
		return failed, nil
	}
	if testHookTakeOver != nil {
		testHookTakeOver(n, name)
	}
	recs, err := r.records(ctx, name)
	if err != nil {
		n.log.Error(fmt.Sprintf("Cluster %s: reading the sessions of node %s: %v.", n.cfg.Name, name, err))
		return failed, nil
	}
	t := takeOver{filters: sessionFilters(recs)}
	taken := 0
	if len(recs) > 0 {
		if taken, err = n.srv.AdoptStored(load(recs)); err != nil {
			n.log.Error(fmt.Sprintf("Cluster %s: taking over the sessions of node %s: %v.", n.cfg.Name, name, err))
			return failed, nil // its records stay: a node taking over later finds them
		}
		if err := r.retry(ctx, func(ctx context.Context) error {
			return r.stream.Purge(ctx, jetstream.WithPurgeSubject(r.own(name)+">"))
		}); err != nil {
			// The node, back, would keep the sessions whose records
			// are left: no Done for it to wait for (it waits a while).
			n.log.Warn(fmt.Sprintf("Cluster %s: removing the sessions of node %s taken over: %v.", n.cfg.Name, name, err))
			return t, nil
		}
	}
	// The node, back, reads its records once this is written: those
	// left are its own again.
	if err := mark(true); err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: marking the take-over of node %s done: %v.", n.cfg.Name, name, err))
	}
	if taken > 0 {
		n.log.Info(fmt.Sprintf("Cluster %s: took over %d persistent sessions of node %s.", n.cfg.Name, taken, name))
	}
	return t, nil
}

// sessionFilters returns the distinct filters of the sessions in recs.
func sessionFilters(recs []record) []string {
	var fs []string
	_ = load(recs)(store.Visitor{Session: func(s store.Session) error {
		for _, sub := range s.Subscriptions {
			fs = append(fs, sub.Filter)
		}
		return nil
	}})
	slices.Sort(fs)
	return slices.Compact(fs)
}

// backFilters runs when node name is in reach again before its
// sessions were taken over: its sessions stayed there, and the messages
// it did not answer while away may have missed those that want them.
// Their filters are read from the replicas and stand for the take-over
// that did not happen (unsure if they cannot be read).
func (r *replica) backFilters(name string, a *adoption) {
	n := r.n
	t := takeOver{unsure: true}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	if r.waitReady(ctx) == nil {
		recs, err := r.records(ctx, name)
		if err == nil {
			// Read after the records: a take-over writes its marker
			// before it moves them.
			_, err = r.stream.GetLastMsgForSubject(ctx, r.subj+"a."+name)
			if err == nil {
				// Another node is taking them over (its announcement
				// will say what they want): unknown here.
				err = errors.New("a take-over is under way")
			} else if errors.Is(err, jetstream.ErrMsgNotFound) {
				t, err = takeOver{filters: sessionFilters(recs)}, nil
			}
		}
		if err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: reading the sessions of node %s, back: %v.", n.cfg.Name, name, err))
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adopting[name] != a || !a.back {
		return // lost again meanwhile: a take-over is due
	}
	n.settleLocked(name, t)
}

// reconcile runs when this node starts and when a peer joins it: if
// another node took its sessions over while it was away, those it still
// holds without records in the replicas end here (their clients find
// them on the node that took them). At the start, the sessions the
// replicas keep under its name and it lacks (it restarted without its
// own store) are continued here.
func (r *replica) reconcile(starting bool) {
	n := r.n
	if r.waitReady(context.Background()) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), adoptTimeout)
	defer cancel()
	m, err := r.markerOf(ctx, n.self)
	if err != nil {
		n.log.Warn(fmt.Sprintf("Cluster %s: %v.", n.cfg.Name, err))
		return
	}
	if m != nil && !m.Done {
		// The records are moving: those read now may be gone from
		// here and live on the other node a moment later.
		if m, err = r.takeOverDone(ctx, m); errors.Is(err, store.ErrClosed) {
			return
		} else if err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: node %s is taking over this node's sessions and has not finished (%v); the sessions whose records are left stay here.", n.cfg.Name, m.By, err))
		}
	}
	var recs []record
	if m != nil || starting {
		if recs, err = r.records(ctx, n.self); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: reading this node's replicated sessions: %v.", n.cfg.Name, err))
			return
		}
	}
	if m != nil {
		kept := map[string]bool{}
		_ = load(recs)(store.Visitor{Session: func(s store.Session) error { kept[s.ClientID] = true; return nil }})
		ended := 0
		for _, s := range n.srv.Sessions() {
			if s.Expiry != 0 && !kept[s.ClientID] {
				n.srv.Handover(s.ClientID, false)
				ended++
			}
		}
		if err := r.stream.Purge(ctx, jetstream.WithPurgeSubject(r.subj+"a."+n.self)); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: %v.", n.cfg.Name, err))
		}
		n.log.Info(fmt.Sprintf("Cluster %s: node %s took over this node's sessions while it was away; %d ended here.", n.cfg.Name, m.By, ended))
	}
	if starting && len(recs) > 0 {
		if k, err := n.srv.AdoptStored(load(recs)); err != nil {
			n.log.Warn(fmt.Sprintf("Cluster %s: restoring this node's replicated sessions: %v.", n.cfg.Name, err))
		} else if k > 0 {
			n.log.Info(fmt.Sprintf("Cluster %s: restored %d persistent sessions from the replicas.", n.cfg.Name, k))
		}
	}
}

// takeOverDone waits until the take-over marked by m is done, or ctx
// ends; it returns the last marker read.
func (r *replica) takeOverDone(ctx context.Context, m *marker) (*marker, error) {
	for !m.Done {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-r.n.stop:
			return m, store.ErrClosed
		case <-time.After(200 * time.Millisecond):
		}
		next, err := r.markerOf(ctx, r.n.self)
		if err != nil {
			continue // asked again: the stream may be electing a leader
		}
		if next == nil {
			return m, errors.New("the marker is gone")
		}
		m = next
	}
	return m, nil
}

// adoption is the take-over of a lost node's sessions, as seen by a
// node waiting for it: done is closed once it was announced.
type adoption struct {
	done  chan struct{}
	since time.Time
	mine  bool // this node is doing it
	back  bool // the node is in reach again: its sessions' filters are read
	// hadReplicas: the node said its stream was there; until it did, it
	// wrote nothing to it.
	hadReplicas bool
}

// lostLocked runs when peer p is lost (not restarted): the node in reach
// with the lowest name takes its sessions over, if it has the quorum;
// every node notes that a take-over is due, for claims and QoS 1 and 2
// messages to wait for it. Called with n.mu held.
func (n *Node) lostLocked(p *peer) {
	if n.rep == nil || !n.started {
		return
	}
	if t, ok := n.takenOver[p.name]; ok && t.at.After(p.lastSeen) {
		// Taken over already: the node that did it saw the loss first.
		return
	}
	a, ok := n.adopting[p.name]
	if ok {
		a.back = false
	} else {
		a = &adoption{done: make(chan struct{}), since: time.Now()}
		n.adopting[p.name] = a
		n.takingOver.Add(1)
	}
	a.hadReplicas = a.hadReplicas || p.replicas == replicasReady || !p.heard
	n.adoptDueLocked(p)
}

// adoptDueLocked starts the take-overs due that are this node's to do:
// all of them when it is the node in reach with the lowest name and has
// the quorum. It runs when a peer is lost (lost: the peer's epoch goes
// in the marker) and a moment after the quorum is reached again. Those of nodes
// lost before whose take-over has not been announced are done too: the
// node doing them may be the one lost, or the take-over may have been
// due while no node had the quorum. Called with n.mu held.
func (n *Node) adoptDueLocked(lost *peer) {
	if n.rep == nil || !n.started || !n.quorate() {
		return
	}
	for name := range n.peers {
		if name < n.self {
			return // that one takes them
		}
	}
	for name, a := range n.adopting {
		if a.mine || a.back {
			continue
		}
		var epoch uint64
		if lost != nil && name == lost.name {
			epoch = lost.epoch
		}
		a.mine = true
		n.wg.Go(func() { n.rep.adopt(name, epoch) })
	}
}

// adopted ends the wait for the take-over t of node name's sessions,
// and tells the peers when this node did it.
func (n *Node) adopted(name string, t takeOver, tell bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settleLocked(name, t)
	if tell {
		c := n.controlMsg("adopted")
		c.Lost, c.Taken, c.Unsure = name, t.filters, t.unsure
		b, _ := json.Marshal(c)
		for _, p := range n.peers {
			_ = n.nc.Publish(p.subject+"ctl", b)
		}
	}
}

// settleLocked records what became of the sessions of node name, lost
// (t), and ends the wait for it. Called with n.mu held.
func (n *Node) settleLocked(name string, t takeOver) {
	t.at = time.Now()
	n.takenOver[name] = t
	n.endAdoptionLocked(name)
}

// backLocked runs when node name is in reach again: a take-over of its
// sessions that another node was to do is waited for only until what
// its sessions want is read from the replicas (backFilters; adopt does
// it if this node was taking them over). If one is under way, the node
// back ends the sessions it loses (reconcile); if none is, as when this
// node was the one cut off, none will be announced. Called with n.mu
// held.
func (n *Node) backLocked(name string) {
	if a, ok := n.adopting[name]; ok && !a.mine && !a.back {
		a.back = true
		n.wg.Go(func() { n.rep.backFilters(name, a) })
	}
}

// endAdoptionLocked stops waiting for the take-over of node name's
// sessions. Called with n.mu held.
func (n *Node) endAdoptionLocked(name string) {
	if a, ok := n.adopting[name]; ok {
		close(a.done)
		delete(n.adopting, name)
		n.takingOver.Add(-1)
	}
}

// waitAdoptions waits, at most for the request timeout, for the
// take-overs of lost nodes' sessions under way, so that a client
// claiming its session finds it where it went, and a message for a
// session being taken over goes where the session goes; it fails if one
// is not done by then (the claim or message is refused, not misplaced).
// A take-over not announced within adoptTimeout (its announcement was
// missed, or the node doing it was cut off) is no longer waited for.
func (n *Node) waitAdoptions() error {
	if n.rep == nil || n.takingOver.Load() == 0 {
		return nil
	}
	type due struct {
		name string
		done chan struct{}
	}
	n.mu.Lock()
	var dues []due
	for name, a := range n.adopting {
		if time.Since(a.since) > adoptTimeout {
			n.log.Warn(fmt.Sprintf("Cluster %s: no node announced it took over the sessions of node %s; no longer waiting for it.", n.cfg.Name, name))
			n.takenOver[name] = takeOver{at: time.Now(), unsure: true}
			n.endAdoptionLocked(name)
			continue
		}
		dues = append(dues, due{name, a.done})
	}
	n.mu.Unlock()
	if len(dues) == 0 {
		return nil
	}
	t := time.NewTimer(n.cfg.Timeout)
	defer t.Stop()
	for _, d := range dues {
		select {
		case <-d.done:
		case <-t.C:
			return fmt.Errorf("the sessions of node %s, lost, are not taken over yet", d.name)
		case <-n.stop:
			return errors.New("leaving the cluster")
		}
	}
	return nil
}

// lostMayHaveWanted reports, once the take-over of its sessions is done,
// whether the sessions of node name, lost before it answered a message
// on topic name, may have wanted it: the message may have missed them.
func (n *Node) lostMayHaveWanted(node, name string) bool {
	n.mu.Lock()
	a := n.adopting[node]
	n.mu.Unlock()
	if a != nil {
		t := time.NewTimer(n.cfg.Timeout)
		defer t.Stop()
		select {
		case <-a.done:
		case <-t.C:
			return true
		case <-n.stop:
			return true
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.takenOver[node]
	return !ok || t.wants(name)
}
