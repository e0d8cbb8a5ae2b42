package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/midge-mqtt/midge/internal/store"
)

// journal is the broker's one path to the store. Changes are added in the
// order the broker makes them in memory (callers add under the lock that
// orders them, usually the session's), and one goroutine applies them in
// that order, everything queued at once as one batch: one fsync for every
// publisher waiting, which is the group commit that keeps durable QoS 1
// throughput up. With a store.Pipeliner the goroutine does not wait for
// the fsync: it starts the next batch while the one before is being made
// durable, and a second goroutine completes the commits in order.
//
// Ordering is what makes it safe to not wait: an acknowledged message's
// DeleteOutgoing is never applied before the PutOutgoing that stored it,
// a session's record is never rewritten after its DeleteSession. A
// caller that must not answer before its changes are durable (PUBACK,
// PUBREC, SUBACK, PUBREL, PUBCOMP) waits on the commit add returned.
type journal struct {
	st  store.Store
	log logger

	mu     sync.Mutex
	ops    []store.Op
	cur    *commit // the batch ops will be applied in; nil when ops is empty
	closed bool
	wake   chan struct{}
	done   chan struct{}
	// latency, if set, times each commit.
	latency *latencyHist
}

// commit is one applied batch: done is closed once it is durable (or
// failed, err set).
type commit struct {
	done chan struct{}
	err  error
}

func (c *commit) wait() error {
	<-c.done
	return c.err
}

var closedCommit = func() *commit {
	c := &commit{done: make(chan struct{}), err: store.ErrClosed}
	close(c.done)
	return c
}()

func newJournal(st store.Store, log logger, latency *latencyHist) *journal {
	j := &journal{st: st, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), latency: latency}
	go j.run()
	return j
}

// add queues ops after everything added before and returns the commit
// that will carry them. It never blocks on the disk, so it may be called
// with locks held.
func (j *journal) add(ops ...store.Op) *commit {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return closedCommit
	}
	if j.cur == nil {
		j.cur = &commit{done: make(chan struct{})}
	}
	j.ops = append(j.ops, ops...)
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return j.cur
}

func (j *journal) run() {
	defer close(j.done)
	var inflight chan started
	p, pipelined := j.st.(store.Pipeliner)
	if pipelined {
		// The next batch is written while the one before waits for its
		// fsync; a second goroutine waits for the fsyncs, in order.
		inflight = make(chan started, journalDepth)
		synced := make(chan struct{})
		go j.finishInOrder(inflight, synced)
		defer func() {
			close(inflight)
			<-synced
		}()
	}
	var spare []store.Op
	for range j.wake {
		for {
			j.mu.Lock()
			c := j.cur
			if c == nil {
				j.mu.Unlock()
				break
			}
			// ops and spare are two distinct arrays: adds go into one
			// while the other is being applied.
			ops := j.ops
			j.ops, j.cur = spare[:0], nil
			j.mu.Unlock()
			// Not cancelled at shutdown: Close flushes what is queued.
			st := started{c: c, n: len(ops), t0: monotime()}
			if pipelined {
				st.wait, st.err = p.StartApply(ops...)
				inflight <- st
			} else {
				st.err = j.st.Apply(context.Background(), ops...)
				j.finish(st)
			}
			clear(ops) // drop the references to the records
			spare = ops
		}
	}
}

// journalDepth bounds the batches written and waiting for their fsync.
// Pebble syncs everything written so far at once, so a few suffice: one
// syncing, one or two written behind it.
const journalDepth = 4

// started is a batch handed to the store: wait, if not nil, waits for it
// to be durable; err is the error of starting it.
type started struct {
	c    *commit
	wait func() error
	err  error
	n    int   // changes in the batch
	t0   int64 // monotime when it was handed over
}

// finishInOrder completes the started batches in the order they were
// started, and closes synced when inflight is closed and drained.
func (j *journal) finishInOrder(inflight <-chan started, synced chan<- struct{}) {
	defer close(synced)
	for st := range inflight {
		if st.wait != nil {
			st.err = st.wait()
		}
		j.finish(st)
	}
}

// finish reports a batch's outcome to those waiting on its commit.
func (j *journal) finish(st started) {
	j.latency.observe(monotime() - st.t0)
	st.c.err = st.err
	if st.err != nil {
		j.log.Error(fmt.Sprintf("Error: persistence: writing %d changes failed: %v.", st.n, st.err))
	}
	close(st.c.done)
}

// close applies what is queued and stops the journal; later adds fail
// with store.ErrClosed.
func (j *journal) close() {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.done
		return
	}
	j.closed = true
	close(j.wake)
	j.mu.Unlock()
	<-j.done
}

// pending is what a publish must wait for before it is acknowledged: the
// distinct commits its changes went into, in order.
type pending struct {
	commits []*commit
}

func (p *pending) add(c *commit) {
	if n := len(p.commits); n == 0 || p.commits[n-1] != c {
		p.commits = append(p.commits, c)
	}
}

// wait returns the first error of the commits.
func (p *pending) wait() error {
	var first error
	for _, c := range p.commits {
		if err := c.wait(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
