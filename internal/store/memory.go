package store

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store that keeps the encoded records in memory. It is not
// durable; it exists for tests and as a reference for backends, and it
// encodes and decodes exactly like the durable store, so tests written
// against it exercise the codec too.
type Memory struct {
	mu     sync.Mutex
	kv     map[string][]byte
	closed bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{kv: make(map[string][]byte)} }

// memBatch collects a batch's mutations so that a failing batch changes
// nothing.
type memBatch struct {
	muts []memMut
}

type memMut struct {
	key, end, value string
	del, rng        bool
}

func (b *memBatch) Set(k, v []byte) error {
	b.muts = append(b.muts, memMut{key: string(k), value: string(v)})
	return nil
}

func (b *memBatch) Delete(k []byte) error {
	b.muts = append(b.muts, memMut{key: string(k), del: true})
	return nil
}

func (b *memBatch) DeleteRange(start, end []byte) error {
	b.muts = append(b.muts, memMut{key: string(start), end: string(end), rng: true})
	return nil
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, ops ...Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var b memBatch
	if err := Encode(&b, ops); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, mu := range b.muts {
		switch {
		case mu.rng:
			for k := range m.kv {
				if k >= mu.key && k < mu.end {
					delete(m.kv, k)
				}
			}
		case mu.del:
			delete(m.kv, mu.key)
		default:
			m.kv[mu.key] = []byte(mu.value)
		}
	}
	return nil
}

// Load implements Store. It visits a snapshot taken under the lock, so the
// visitor may call Apply.
func (m *Memory) Load(v Visitor) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	keys := make([]string, 0, len(m.kv))
	vals := make(map[string][]byte, len(m.kv))
	for k, val := range m.kv {
		keys = append(keys, k)
		vals[k] = val
	}
	m.mu.Unlock()
	slices.SortFunc(keys, strings.Compare)
	for _, k := range keys {
		if err := Decode([]byte(k), vals[k], &v); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.kv = nil
	return nil
}
