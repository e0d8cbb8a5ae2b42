package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle opens cfg.Connections connections, cfg.Parallel at a time, keeps
// them open and silent (keep alive 0: no PINGREQ) for cfg.Duration and
// measures the connect rate, the time from dial to CONNACK of each, and, with a broker pid, what each connection
// costs the broker in resident memory.
func runIdle(ctx context.Context, d *dialer, cfg *Config, res *Result) error {
	conns := make([]net.Conn, cfg.Connections)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var connected atomic.Int64
	var mu sync.Mutex
	var took histogram // CONNECT to CONNACK, from the dial
	start := time.Now()
	meter := startCPUMeter(cfg.BrokerPID)
	stopProgress := startProgress(cfg, start, func() Progress {
		return Progress{Connected: int(connected.Load())}
	})
	defer stopProgress()
	err := forEach(ctx, cfg.Connections, cfg.Parallel, func(i int) error {
		t0 := time.Now()
		c, err := d.connect(ctx, fmt.Sprintf("%sidle-%d", cfg.ClientIDPrefix, i))
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		mu.Lock()
		took.record(time.Since(t0))
		mu.Unlock()
		conns[i] = c
		connected.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	res.Connections = cfg.Connections
	res.ConnectTime = time.Since(start)
	res.ConnectRate = float64(cfg.Connections) / res.ConnectTime.Seconds()
	res.ConnectLatency = took.summary()
	if err := sleepCtx(ctx, cfg.Duration); err != nil {
		return err
	}
	res.Elapsed = time.Since(start)
	stopProgress()
	if err := meter.stop(res); err != nil {
		return err
	}
	if cfg.BrokerPID > 0 {
		var err error
		if res.BrokerRSSAfter, err = ProcRSS(cfg.BrokerPID); err != nil {
			return err
		}
		res.MemoryPerConnection = float64(res.BrokerRSSAfter-res.BrokerRSSBefore) / float64(cfg.Connections)
	}
	return nil
}
