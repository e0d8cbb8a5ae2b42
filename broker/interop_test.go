package broker_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/midge-mqtt/midge/internal/packet"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// syncBuffer is a strings.Builder safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPahoV3Clients runs the paho 3.x client over MQTT 3.1 and 3.1.1:
// QoS 0, 1 and 2 publish and subscribe, retained, and a will.
func TestPahoV3Clients(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	for _, pv := range []uint{3, 4} {
		t.Run(fmt.Sprintf("protocol-%d", pv), func(t *testing.T) {
			newClient := func(id string, will bool) mqtt3.Client {
				o := mqtt3.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID(id).
					SetProtocolVersion(pv).SetAutoReconnect(false).SetConnectRetry(false)
				if will {
					o.SetWill(fmt.Sprintf("paho%d/will", pv), "dead", 1, false)
				}
				c := mqtt3.NewClient(o)
				if tok := c.Connect(); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("connect: %v", tok.Error())
				}
				return c
			}
			sub := newClient(fmt.Sprintf("paho-sub-%d", pv), false)
			defer sub.Disconnect(100)
			got := make(chan mqtt3.Message, 16)
			if tok := sub.Subscribe(fmt.Sprintf("paho%d/#", pv), 2, func(_ mqtt3.Client, m mqtt3.Message) { got <- m }); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
				t.Fatalf("subscribe: %v", tok.Error())
			}
			pub := newClient(fmt.Sprintf("paho-pub-%d", pv), true)
			for qos := byte(0); qos <= 2; qos++ {
				topic := fmt.Sprintf("paho%d/q%d", pv, qos)
				if tok := pub.Publish(topic, qos, false, "hello"); !tok.WaitTimeout(waitTime) || tok.Error() != nil {
					t.Fatalf("publish: %v", tok.Error())
				}
				select {
				case m := <-got:
					if m.Topic() != topic || string(m.Payload()) != "hello" || m.Qos() != qos {
						t.Fatalf("got %s %q q%d", m.Topic(), m.Payload(), m.Qos())
					}
				case <-time.After(waitTime):
					t.Fatalf("QoS %d message not delivered", qos)
				}
			}
			// A takeover ends the publisher's connection without DISCONNECT:
			// its will goes out.
			taker := dialRaw(t, b.addr, packet.V311)
			taker.connect(&packet.Connect{ClientID: fmt.Sprintf("paho-pub-%d", pv), CleanStart: true, KeepAlive: 60})
			select {
			case m := <-got:
				if m.Topic() != fmt.Sprintf("paho%d/will", pv) {
					t.Fatalf("got %s, want the will", m.Topic())
				}
			case <-time.After(waitTime):
				t.Fatal("will not delivered")
			}
			pub.Disconnect(0)
		})
	}
}

// TestPahoV5Client runs the paho MQTT 5 client: QoS 0-2, user properties,
// request/response properties.
func TestPahoV5Client(t *testing.T) {
	b := startBroker(t, testOptions(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	got := make(chan *paho.Publish, 16)
	dial := func(id string) *paho.Client {
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: nc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil },
		}})
		ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		if err != nil || ack.ReasonCode != 0 {
			t.Fatalf("connect: %v %+v", err, ack)
		}
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c
	}
	sub := dial("paho5-sub")
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "p5/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	pub := dial("paho5-pub")
	for qos := byte(0); qos <= 2; qos++ {
		p := &paho.Publish{Topic: fmt.Sprintf("p5/q%d", qos), QoS: qos, Payload: []byte("v5"),
			Properties: &paho.PublishProperties{
				ResponseTopic:   "p5/reply",
				CorrelationData: []byte("corr"),
				User:            paho.UserProperties{{Key: "who", Value: "test"}},
			}}
		if _, err := pub.Publish(ctx, p); err != nil {
			t.Fatalf("publish QoS %d: %v", qos, err)
		}
		select {
		case m := <-got:
			if m.Topic != p.Topic || m.QoS != qos || m.Properties.ResponseTopic != "p5/reply" ||
				string(m.Properties.CorrelationData) != "corr" || m.Properties.User.Get("who") != "test" {
				t.Fatalf("got %+v %+v", m, m.Properties)
			}
		case <-ctx.Done():
			t.Fatalf("QoS %d not delivered", qos)
		}
	}
}

// TestMosquittoClients uses Debian's mosquitto_sub and mosquitto_pub
// against midge for each protocol version.
func TestMosquittoClients(t *testing.T) {
	subBin := testtool.Need(t, "mosquitto_sub")
	pubBin := testtool.Need(t, "mosquitto_pub")
	b := startBroker(t, testOptions(), nil)
	host, port, _ := net.SplitHostPort(b.addr)
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			// Retained first, then live: -C 2 exits after both.
			run := func(bin string, args ...string) {
				out, err := exec.Command(bin, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
				}
			}
			run(pubBin, "-h", host, "-p", port, "-V", v, "-t", "cli/"+v+"/ret", "-m", "kept", "-r", "-q", "1")
			ctx, cancel := context.WithTimeout(context.Background(), waitTime)
			defer cancel()
			sub := exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", v, "-t", "cli/"+v+"/#", "-v", "-C", "2", "-q", "2")
			var out syncBuffer
			sub.Stdout = &out
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			// The retained message arrives after SUBACK: once printed, the
			// subscription is in place.
			waitFor(t, "mosquitto_sub subscribed", func() bool { return strings.Contains(out.String(), "kept") })
			run(pubBin, "-h", host, "-p", port, "-V", v, "-t", "cli/"+v+"/live", "-m", "hello world", "-q", "2")
			if err := sub.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v (output %q)", err, out.String())
			}
			want := fmt.Sprintf("cli/%s/ret kept\ncli/%s/live hello world\n", v, v)
			if out.String() != want {
				t.Fatalf("mosquitto_sub printed %q, want %q", out.String(), want)
			}
			run(pubBin, "-h", host, "-p", port, "-V", v, "-t", "cli/"+v+"/ret", "-n", "-r")
		})
	}
}
