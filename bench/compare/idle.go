package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The idle scenario measures what an idle client costs the broker: resident
// memory per connected client, and how fast clients can connect.

// idleSettle is how long the broker is left alone before each memory
// reading, so that connection set-up work has finished.
const (
	idleSettleBefore = 1 * time.Second
	idleSettleAfter  = 2 * time.Second
	connectTimeout   = 15 * time.Second
)

func runIdle(ctx context.Context, b *brokerProc, s settings) ([]metric, error) {
	if err := sleepCtx(ctx, idleSettleBefore); err != nil {
		return nil, err
	}
	before, err := b.rssBytes()
	if err != nil {
		return nil, err
	}

	overflows0 := listenOverflows()
	start := time.Now()
	conns, err := connectMany(ctx, b.addr, s.conns, s.parallel)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)
	overflows := listenOverflows() - overflows0

	if err := sleepCtx(ctx, idleSettleAfter); err != nil {
		return nil, err
	}
	if err := b.alive(); err != nil {
		return nil, err
	}
	after, err := b.rssBytes()
	if err != nil {
		return nil, err
	}
	perConn := float64(after-before) / float64(s.conns)
	rate := float64(s.conns) / elapsed.Seconds()
	fmt.Printf("  %s idle: RSS %.1f MB -> %.1f MB with %d connections: %.0f B/conn; connected in %v (%.0f conn/s, %d listen queue overflows)\n",
		b.name, mb(before), mb(after), s.conns, perConn, elapsed.Round(time.Millisecond), rate, overflows)
	return []metric{
		{name: "idle: RSS with no clients (MB)", value: mb(before), format: "%.1f", lowerIsBetter: true},
		{name: fmt.Sprintf("idle: RSS with %d clients (MB)", s.conns), value: mb(after), format: "%.1f", lowerIsBetter: true},
		{name: "idle: memory per connection (bytes)", value: perConn, format: "%.0f", lowerIsBetter: true},
		{name: "idle: connect rate (conn/s)", value: rate, format: "%.0f"},
		{name: "idle: listen queue overflows", value: float64(overflows), format: "%.0f", info: true},
	}, nil
}

// connectMany opens n MQTT connections with unique client ids, at most
// parallel at a time. On error it returns the connections opened so far
// for the caller to close.
func connectMany(ctx context.Context, addr string, n, parallel int) ([]net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]net.Conn, n)
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(parallel, n) {
		wg.Go(func() {
			for i := range next {
				c, err := dialConnect(ctx, addr, fmt.Sprintf("bench-idle-%d", i), connectTimeout)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
						cancel()
					})
					continue
				}
				conns[i] = c
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return conns, firstErr
}

// listenOverflows returns the kernel's count of connections dropped
// because a listen queue was full (TcpExt ListenOverflows, system-wide).
// Each one costs the client a SYN retransmission, a second or more, so a
// low connect rate with overflows measures the listen backlog rather than
// the broker's speed.
func listenOverflows() int64 {
	data, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	// The file holds pairs of lines: "TcpExt: names..." then "TcpExt: values...".
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				return v
			}
		}
	}
	return 0
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
