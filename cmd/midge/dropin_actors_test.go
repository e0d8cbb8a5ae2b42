package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/midge-mqtt/midge/client"
)

// actor is one MQTT client identity of the matrix: how it connects and
// who it claims to be. The same actor is played against both brokers.
type actor struct {
	via  string // "tcp" (mosquitto_pub/sub), "tls" (the same with certificates) or "ws" (Go client)
	id   string // client identifier
	user string // sent when non-empty (or when emptyUser)
	pass string // sent when non-empty
	// emptyUser sends a zero-length username.
	emptyUser bool
	ver       string // "" for 3.1.1, "5", "31"
	cert      string // TLS client certificate name in dropinPKI.clients, "" for none
}

func (a actor) String() string {
	s := a.via + " " + a.id
	switch {
	case a.emptyUser:
		s += ` user ""`
	case a.user != "":
		s += " user " + a.user
	}
	if a.pass != "" {
		s += " pw " + a.pass
	}
	if a.cert != "" {
		s += " cert " + a.cert
	}
	if a.ver != "" {
		s += " v" + a.ver
	}
	return s
}

// opsCtl is the operator that publishes end markers and clears retained topics.
var opsCtl = actor{via: "tcp", id: "ops-ctl", user: "ops", pass: "ops-pw"}

// dropinEnv is what actors need to reach one broker.
type dropinEnv struct {
	tools  dropinTools
	files  *dropinFiles
	broker *dropinBroker
}

// cliArgs are the mosquitto_pub/mosquitto_sub options that make a connect.
func (e *dropinEnv) cliArgs(a actor) []string {
	port := e.broker.ports.plain
	if a.via == "tls" {
		port = e.broker.ports.tls
	}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-i", a.id}
	switch a.ver {
	case "5":
		args = append(args, "-V", "mqttv5")
	case "31":
		args = append(args, "-V", "mqttv31")
	}
	if a.user != "" || a.emptyUser {
		args = append(args, "-u", a.user)
	}
	if a.pass != "" {
		args = append(args, "-P", a.pass)
	}
	if a.via == "tls" {
		args = append(args, "--cafile", e.files.pki.caFile)
		if a.cert != "" {
			c := e.files.pki.clients[a.cert]
			args = append(args, "--cert", c[0], "--key", c[1])
		}
	}
	return args
}

// wsOptions are the Go client's options for a WebSocket actor.
func (e *dropinEnv) wsOptions(a actor) client.Options {
	o := client.Options{
		Address:  fmt.Sprintf("ws://127.0.0.1:%d/mqtt", e.broker.ports.ws),
		ClientID: a.id,
		Username: a.user,
	}
	if a.pass != "" {
		o.Password = []byte(a.pass)
	}
	switch a.ver {
	case "5":
		o.ProtocolVersion = client.MQTT5
	case "31":
		o.ProtocolVersion = client.MQTT31
	default:
		o.ProtocolVersion = client.MQTT311
	}
	return o
}

// pubStep is one publication by an actor.
type pubStep struct {
	by      actor
	topic   string
	payload string
	qos     int
	retain  bool
}

// publish performs p and describes what the publisher observed: exit status
// and diagnostics of mosquitto_pub, or the Go client's outcome.
func (e *dropinEnv) publish(ctx context.Context, p pubStep) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if p.by.via == "ws" {
		return e.wsPublish(ctx, p)
	}
	args := append(e.cliArgs(p.by), "-t", p.topic, "-q", strconv.Itoa(p.qos))
	if p.payload == "" {
		args = append(args, "-n")
	} else {
		args = append(args, "-m", p.payload)
	}
	if p.retain {
		args = append(args, "-r")
	}
	cmd := exec.CommandContext(ctx, e.tools.pub, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return tlsRefusal(p.by, joinObs(dropinExit(err), out.String()))
}

// tlsRefusal hides a race that is not midge's: a TLS 1.3 server refuses a
// missing client certificate after the client's handshake is done, and
// the client sees either the alert ("Protocol error") or, when the close
// overtakes it, a lost connection. Mosquitto itself gives both answers
// from one run to the next (mosquitto_sub exits 14 on the alert).
func tlsRefusal(a actor, obs string) string {
	if a.via != "tls" || a.cert != "" {
		return obs
	}
	switch obs {
	case "exit 1: Error: Protocol error", "exit 14: Error: Protocol error", "exit 7: Error: The connection was lost.":
		return "TLS handshake refused (alert or lost connection)"
	}
	return obs
}

func (e *dropinEnv) wsPublish(ctx context.Context, p pubStep) string {
	c, err := client.Connect(ctx, e.wsOptions(p.by))
	if err != nil {
		return "connect: " + err.Error()
	}
	defer c.Close()
	ack, err := c.Publish(ctx, &client.Message{Topic: p.topic, Payload: []byte(p.payload), QoS: byte(p.qos), Retain: p.retain})
	obs := "published"
	if err != nil {
		obs = "publish: " + err.Error()
	} else if p.qos > 0 {
		obs = "ack: " + client.ReasonString(ack.ReasonCode)
	}
	if err := c.Disconnect(ctx, client.Success, nil); err != nil {
		obs += "; disconnect: " + err.Error()
	}
	return obs
}

// subStep is a subscriber that runs while a case's publications happen.
type subStep struct {
	by      actor
	filters []string
}

// dropinSub is a running subscriber. Every subscriber also subscribes
// to sync/<its client id>, readable through the ACL's "sync/%c" pattern:
// the operator publishes an end marker there after the case's
// publications, and the marker's arrival proves that everything published
// before it has been delivered (or refused), without waiting for timeouts.
type dropinSub struct {
	marker string
	// ready is closed when the SUBACK has arrived or the subscriber ended.
	ready chan struct{}
	// lines receives the observations, in order; closed at the end.
	lines chan string
	// stop ends the subscriber; done is closed when it has ended.
	stop func()
	done chan struct{}
	// result is the exit status or final error, set before done closes.
	result string
}

const markerPayload = "end-of-case"

// msgFormat is mosquitto_sub's output format, and the Go subscriber's, for
// a received message: retain flag, QoS, topic and payload.
const msgFormat = "MSG|%r|%q|%t|%p"

func formatMsg(retain bool, qos byte, topic string, payload []byte) string {
	r := 0
	if retain {
		r = 1
	}
	return fmt.Sprintf("MSG|%d|%d|%s|%s", r, qos, topic, payload)
}

func (e *dropinEnv) subscribe(ctx context.Context, s subStep) *dropinSub {
	sub := &dropinSub{
		stop:   func() {},
		marker: "sync/" + s.by.id,
		ready:  make(chan struct{}),
		lines:  make(chan string, 100),
		done:   make(chan struct{}),
	}
	filters := append(append([]string(nil), s.filters...), sub.marker)
	if s.by.via == "ws" {
		e.wsSubscribe(ctx, s.by, filters, sub)
	} else {
		e.cliSubscribe(ctx, s.by, filters, sub)
	}
	return sub
}

// cliSubscribe runs mosquitto_sub in debug mode: its "Subscribed (mid: 1):
// ..." line shows the SUBACK (and tells when to start publishing).
func (e *dropinEnv) cliSubscribe(ctx context.Context, a actor, filters []string, sub *dropinSub) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	// -W bounds the subscriber even if the end marker never comes.
	args := append(e.cliArgs(a), "-d", "-q", "1", "-W", "5", "-F", msgFormat)
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	// mosquitto_sub flushes stdout only after a message: line buffering
	// makes its "Subscribed" debug line arrive when the SUBACK does.
	cmd := exec.CommandContext(ctx, e.tools.stdbuf, append([]string{"-oL", e.tools.sub}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		sub.result = "start: " + err.Error()
		close(sub.ready)
		close(sub.lines)
		close(sub.done)
		return
	}
	sub.stop = cancel
	go func() {
		defer close(sub.done)
		defer cancel()
		var once sync.Once
		markReady := func() { once.Do(func() { close(sub.ready) }) }
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "Subscribed (mid"):
				sub.lines <- line
				markReady()
			case strings.HasPrefix(line, "MSG|"):
				sub.lines <- line
			case strings.Contains(line, "CONNACK"), strings.Contains(line, "received DISCONNECT"):
				sub.lines <- line
			}
		}
		err := cmd.Wait()
		if ctx.Err() != nil {
			// Stopped by us after the end marker: the status is ours, not its.
			sub.result = "stopped"
		} else {
			sub.result = tlsRefusal(a, joinObs(dropinExit(err), stderr.String()))
		}
		markReady()
		close(sub.lines)
	}()
}

// wsSubscribe subscribes with the Go client over WebSocket.
func (e *dropinEnv) wsSubscribe(ctx context.Context, a actor, filters []string, sub *dropinSub) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	sub.stop = cancel
	msgs := make(chan string, 100)
	opts := e.wsOptions(a)
	opts.OnMessage = func(_ *client.Client, m *client.Message) {
		select {
		case msgs <- formatMsg(m.Retain, m.QoS, m.Topic, m.Payload):
		case <-ctx.Done():
		}
	}
	go func() {
		defer close(sub.done)
		defer close(sub.lines)
		defer cancel()
		c, err := client.Connect(ctx, opts)
		if err != nil {
			sub.result = "connect: " + err.Error()
			close(sub.ready)
			return
		}
		defer c.Close()
		subs := make([]client.Subscription, len(filters))
		for i, f := range filters {
			subs[i] = client.Subscription{Filter: f, QoS: 1}
		}
		ack, err := c.Subscribe(ctx, nil, subs...)
		if err != nil {
			sub.result = "subscribe: " + err.Error()
			close(sub.ready)
			return
		}
		codes := make([]string, len(ack.ReasonCodes))
		for i, rc := range ack.ReasonCodes {
			codes[i] = strconv.Itoa(int(rc))
		}
		sub.lines <- "SUBACK " + strings.Join(codes, ", ")
		close(sub.ready)
		for {
			select {
			case m := <-msgs:
				sub.lines <- m
			case <-c.Done():
				sub.result = "ended: " + c.Err().Error()
				return
			case <-ctx.Done():
				sub.result = "stopped"
				return
			}
		}
	}()
}

// waitReady waits for the SUBACK or the subscriber's end.
func (s *dropinSub) waitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return errors.New("no SUBACK")
	}
}

// collect reads the subscriber's observations until the end marker (then
// stops it) or its end, and returns them with its final status.
func (s *dropinSub) collect(ctx context.Context) []string {
	var out []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				<-s.done
				return append(out, "subscriber: "+s.result)
			}
			if strings.HasPrefix(line, "MSG|") && strings.Contains(line, "|"+s.marker+"|") {
				s.stop()
				for range s.lines {
					// Drain: the subscriber goroutine must be able to finish.
				}
				<-s.done
				return out
			}
			out = append(out, line)
		case <-timeout:
			s.stop()
			for range s.lines {
			}
			<-s.done
			return append(out, "subscriber: no end marker within 10s")
		case <-ctx.Done():
			s.stop()
			for range s.lines {
			}
			<-s.done
			return append(out, "subscriber: cancelled")
		}
	}
}

// joinObs joins a status with a tool's output lines.
func joinObs(status, output string) string {
	output = strings.TrimSpace(output)
	if output == "" {
		return status
	}
	return status + ": " + strings.Join(strings.Split(output, "\n"), " / ")
}
