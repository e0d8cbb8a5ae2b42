package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// WaitCrossed publishes a probe message to topic on the broker at from
// every 50 ms until one arrives at a subscriber of the broker at to, or
// timeout passes: whatever links the two brokers (a bridge, a cluster)
// then carries messages between them.
func WaitCrossed(ctx context.Context, from, to, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	arrived := make(chan struct{}, 1)
	sub, err := connectRetrying(ctx, client.Options{
		Address: to, ProtocolVersion: client.MQTT311,
		OnMessage: func(*client.Client, *client.Message) {
			select {
			case arrived <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("probe subscriber: %w", err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(ctx, nil, client.Subscription{Filter: topic}); err != nil {
		return fmt.Errorf("probe subscription: %w", err)
	}
	pub, err := connectRetrying(ctx, client.Options{Address: from, ProtocolVersion: client.MQTT311})
	if err != nil {
		return fmt.Errorf("probe publisher: %w", err)
	}
	defer pub.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := pub.Publish(ctx, &client.Message{Topic: topic, Payload: []byte("probe")}); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		select {
		case <-arrived:
			return nil
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("no message from %s reached %s within %v", from, to, timeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// connectRetrying connects until the broker takes the connection or ctx
// ends: a cluster node refuses clients (server unavailable) until it has
// met enough of the others.
func connectRetrying(ctx context.Context, opts client.Options) (*client.Client, error) {
	for {
		c, err := client.Connect(ctx, opts)
		if err == nil || ctx.Err() != nil {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
