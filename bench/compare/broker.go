package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file has the brokers' config and what the kernel says about their
// listen queues; bench/internal/harness starts and stops them, and the
// bench package reads their memory and CPU use from /proc.

// brokerConfig is the config both brokers run with: one loopback listener,
// anonymous clients, Mosquitto's default queue limit written out, no $SYS
// traffic and no logging beyond errors.
func brokerConfig(port int) string {
	return fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
max_queued_messages 1000
sys_interval 0
log_dest stderr
log_type error
`, port)
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
